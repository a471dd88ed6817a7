"""Helpers shared by the test modules and tests/conftest.py (which keeps only fixtures and
hooks). Test modules import them directly (``from aigov_testing.cli import invoke_cli``): pytest
puts tests/ on ``sys.path`` because tests/ has a conftest.py and no ``__init__.py``.

``aigov_testing.env``
    ``AIGOV_ENV`` / ``CLEAN_ENV`` (the settings a developer's environment must not leak into
    the tests), ``in_ci`` and ``require_in_ci(reason, cases=...)``: skip, or fail under
    ``CI=true`` (PostgreSQL and browser tests).
``aigov_testing.databases``
    The database backends the ``db_url`` fixture runs on, and ``reset_postgres``.
``aigov_testing.cli``
    ``invoke_cli`` (``aigov`` in-process through click's CliRunner), ``Cli`` (what the ``cli``
    fixture is) and ``AigovProcess`` (the installed script as a real process).
``aigov_testing.registry_data``
    ``SAMPLE_REGISTRY`` (a small valid registry holding every kind of record), the registry
    file writer behind ``write_registry``, and the benchmarks' registry generator.
``aigov_testing.markup``
    Script-injection strings (``XSS_SCRIPT``, ``XSS_IMG``, ``XSS_FLAG``, ``HOSTILE``).
``aigov_testing.results``
    ``synthetic_result``: audit results of any size (optionally full of markup), with the
    policy catalogue they use (``POLICIES``, ``POLICY``), ``AS_OF`` and ``ARTIFACTS``.
``aigov_testing.reports``
    ``audit_to_files``: a real audit of a small registry (``cli_registry``, ``CLI_POLICIES``)
    written to report files.
"""

import pkgutil

import pytest

# The helpers assert (audit_to_files checks the CLI's exit codes): have pytest rewrite those
# asserts as it does in conftest.py and the test modules, before any helper module is imported
# (this package itself is being imported, so its modules are registered by name).
pytest.register_assert_rewrite(*(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)))
