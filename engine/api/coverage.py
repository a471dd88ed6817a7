"""``aigov coverage``: which framework controls the policies implement, and how an audit run
stands against them.

The mapping (policy -> controls) comes from the policy catalogue recorded with the run when
it names controls (what was evaluated is what is reported), else from the policy set loaded
now; ``policy_paths`` always means the loaded set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aigov.api.runs import list_runs, load_run
from aigov.errors import AigovError
from aigov.evaluate.outcomes import policy_catalogue
from aigov.policy.loader import load_policies
from aigov.registry.store import Registry
from aigov.results.coverage import CoverageReport, build_coverage, load_frameworks
from aigov.results.findings import AuditResult


@dataclass
class Coverage:
    report: CoverageReport
    result: AuditResult | None  # the audit run it describes, if any


def framework_ids() -> list[str]:
    """The ids of the shipped framework catalogues."""
    return list(load_frameworks())


def coverage_run(registry: Registry, run: str | None) -> AuditResult | None:
    """The run ``run`` names (id, prefix, latest, latest~N); None: the latest run, or None
    when the registry has recorded none."""
    if run is None:
        if not list_runs(registry):
            return None
        run = "latest"
    return load_run(registry, run)


def coverage(
    result: AuditResult | None = None,
    *,
    policy_paths: list[Path] | None = None,
    frameworks: list[str] | None = None,
) -> Coverage:
    """The coverage of ``frameworks`` (default: all) by the policies, for ``result`` if given.

    Raises :class:`~aigov.errors.InputError` for invalid policies, and
    :class:`~aigov.errors.AigovError` for a framework id without a catalogue."""
    catalogues = load_frameworks()
    unknown = sorted(set(frameworks or []) - set(catalogues))
    if unknown:
        raise AigovError(
            f"no framework {', '.join(map(repr, unknown))} (known: {', '.join(catalogues)})"
        )
    shown = list(dict.fromkeys(frameworks)) if frameworks else None
    from_run = result is not None and not policy_paths and any(p.controls for p in result.policies)
    if from_run:
        assert result is not None
        report = build_coverage(catalogues, result.policies, result, shown=shown, mapping="run")
    else:
        policy_set = load_policies(policy_paths)
        report = build_coverage(
            catalogues,
            policy_catalogue(policy_set),
            result,
            shown=shown,
            mapping="policy set",
            policy_digest=policy_set.digest,
        )
    return Coverage(report, result)
