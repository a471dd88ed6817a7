"""SIGINT and SIGTERM as exceptions, so that every ``finally`` runs on the way out (worker
processes killed, the result spool removed) and the exit code says what happened:
130 for SIGINT (Ctrl-C), 143 for SIGTERM (:mod:`aigov.exit_codes`)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupted(SystemExit):
    """SIGINT or SIGTERM stopped an audit: exits with 128 + the signal's number (130, 143),
    after every ``finally`` on the way out has run (workers killed, spool removed)."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` instead of killing the
    process outright (SIGTERM) or raising KeyboardInterrupt (SIGINT, which the CLI would
    report as exit 1). Installed only in the main thread and only over the default
    handlers: an embedding program's own handlers are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults: dict[signal.Signals, Any] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }
    previous: dict[signal.Signals, Any] = {}

    def stop(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    for stopping, default in defaults.items():
        current = signal.getsignal(stopping)
        if current == default:
            previous[stopping] = current
            signal.signal(stopping, stop)
    try:
        yield
    finally:
        for stopping, handler in previous.items():
            signal.signal(stopping, handler)
