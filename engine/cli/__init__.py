"""The ``aigov`` command line: thin click commands over the Python API.

Exit codes (one contract for every command): 0 pass, 1 findings at or above the threshold,
2 usage, input or engine error, 3 indeterminate at or above the threshold. Any unexpected
exception is reported and exits 2, never 0.

The root group and the error mapping are in :mod:`aigov.cli.app` (the exit codes in
:mod:`aigov.exit_codes`); the shared
options in :mod:`aigov.cli.options`; each command group in a module of its own, registered on
:data:`main` here. ``aigov.cli:main`` is the console-script entry point.
"""

from __future__ import annotations

from aigov.cli import audit, coverage, decisions, demo, explain, gate, policy, registry, runs
from aigov.cli.app import main

__all__ = ["main"]

for _command in (
    registry.init,
    registry.registry,
    policy.policy,
    audit.audit,
    gate.gate,
    decisions.decisions,
    explain.explain,
    runs.runs,
    audit.report,
    coverage.coverage,
    demo.demo,
):
    main.add_command(_command)
del _command
