"""A real MLflow tracking server for the MLflow importer's tests: started on a free local port
with a SQLite store in a scratch folder, and stopped (its whole process group) afterwards.

The importer talks REST to a server, so only a server proves it reads what MLflow really
answers (pagination tokens, tag and alias shapes), not what its authors believed MLflow sends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 90.0  # a loaded CI machine takes three times an idle one's 15 s
# No background job runner (its worker processes double the start time and nothing here
# needs them) and no usage telemetry (the tests make no network requests).
QUIET_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


class ServerError(RuntimeError):
    """The server could not be started: the message holds its output."""


@dataclass(frozen=True)
class MlflowServer:
    url: str
    start_seconds: float  # how long it took to answer /health


def free_port() -> int:
    """A TCP port nothing listens on at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def mlflow_server(folder: Path) -> Iterator[MlflowServer]:
    """Run ``mlflow server`` (one worker, SQLite store under ``folder``) until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, **QUIET_ENV, "MLFLOW_TRACKING_URI": url}
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                raise ServerError(
                    f"mlflow server did not answer {url}/health within {START_TIMEOUT:.0f} s "
                    f"(exit code {process.poll()}):\n{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.2)
        yield MlflowServer(url, time.monotonic() - started)
    finally:
        _stop(process)
