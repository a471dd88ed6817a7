"""Running ``aigov``: in-process through click's CliRunner, or as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from aigov.cli import main as aigov_main
from aigov_testing.env import AIGOV_ENV


def find_aigov_script() -> str:
    beside = Path(sys.executable).parent / "aigov"
    if beside.is_file():
        return str(beside)
    found = shutil.which("aigov")
    if found is None:
        raise RuntimeError("the 'aigov' console script is not installed (pip install -e .)")
    return found


def invoke_cli(
    cwd: Path,
    *args: str | Path,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Run ``aigov ARGS...`` in-process (click's CliRunner) with ``cwd`` as working directory,
    so that nothing a command writes by default (``./aigov.db``) lands in the repository.

    Returns click's :class:`~click.testing.Result`: ``exit_code``, ``stdout`` and ``stderr``
    (kept apart). An exception that escapes the CLI (instead of becoming an exit code) is
    re-raised, so that a test shows its traceback rather than a bare exit code 1. ``env``
    sets variables for the run; a value of None unsets one.
    """
    runner = CliRunner()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(aigov_main, [str(a) for a in args], input=input, env=dict(env or {}))
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


class Cli:
    """Runs ``aigov ARGS...`` in-process with ``cwd`` as working directory: see
    :func:`invoke_cli`."""

    def __init__(self, cwd: Path):
        self.cwd = cwd

    def __call__(
        self,
        *args: str | Path,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        return invoke_cli(self.cwd, *args, input=input, env=env)


class AigovProcess:
    """Runs the installed ``aigov`` script as a real process in ``cwd``."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.script = find_aigov_script()

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in AIGOV_ENV}
        return {**base, **(env or {})}

    def start(self, *args: str | Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [self.script, *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.script, *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
