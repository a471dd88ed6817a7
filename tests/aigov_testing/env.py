"""The environment the tests run in: aigov's own settings, and what CI requires."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# Environment variables that change what aigov does: a developer's own settings must not leak
# into the tests (AIGOV_TEST_DB is the test suite's own setting and is kept).
AIGOV_ENV = (
    "AIGOV_DB",
    "AIGOV_MAX_FILE_BYTES",
    "AIGOV_DEBUG",
    "AIGOV_WORKER_TIMEOUT",
    "AIGOV_DECISION_LOG",
)

# For runs outside a test's own environment clean-up (module-scoped fixtures, scripts): unsets
# the variables that change what aigov does.
CLEAN_ENV: dict[str, str | None] = dict.fromkeys(AIGOV_ENV)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_in_ci(reason: str, *, cases: str) -> NoReturn:
    """Skip the test because ``reason``; under ``CI=true`` fail instead, since CI must run
    ``cases`` (a CI run that skipped them would pass without testing them)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}: {cases} must run in CI", pytrace=False)
    pytest.skip(reason)
