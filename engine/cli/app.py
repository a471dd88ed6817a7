"""The root ``aigov`` group, the exit-code contract and the error mapping every command shares.

The command modules import from here, never from :mod:`aigov.cli` (which imports them), so the
package has no import cycle.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import struct
import sys
import traceback
from typing import Any, NoReturn

import click

from aigov import __version__
from aigov.console import printable
from aigov.errors import AigovError, InputError
from aigov.exit_codes import EXIT_BROKEN_PIPE, EXIT_ERROR
from aigov.interrupts import stop_signals


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"aigov: error: {printable(message)}", err=True)
    sys.exit(code)


def _descriptor(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):  # an in-memory stream (click's CliRunner)
        return None


def _reader_gone(fd: int) -> bool:
    """Whether ``fd`` is a pipe whose read end is closed (it polls as an error)."""
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def _unread(fd: int) -> int:
    """Bytes written to the pipe ``fd`` and never read (1 when that cannot be asked)."""
    try:
        import fcntl
        import termios

        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    except (ImportError, OSError):
        return 1


def output_lost() -> bool:
    """Whether stdout is a pipe whose reader went away before reading everything aigov wrote.

    Checked after every command, because a write into a pipe whose reader closes during the
    write does not always raise: CPython's buffered writer returns the partial count of the
    interrupted write(2), and the text layer drops the rest silently."""
    fd = _descriptor(sys.stdout)
    if fd is None or not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return False
    return _reader_gone(fd) and _unread(fd) > 0


def _closed_streams() -> list[Any]:
    """The standard streams whose reader has gone away. A stream without a descriptor
    cannot be asked and counts as closed."""
    closed = []
    for stream in (sys.stdout, sys.stderr):
        fd = _descriptor(stream)
        if fd is None or _reader_gone(fd):
            closed.append(stream)
    return closed


def output_closed() -> NoReturn:
    """Exit quietly, with :data:`EXIT_BROKEN_PIPE`, because the reader of the output went
    away (Python's documented recipe, the ``signal`` module's "Note on SIGPIPE": point the
    closed stream at devnull, so that the final flush at exit cannot fail again)."""
    for stream in _closed_streams():
        fd = _descriptor(stream)
        if fd is None:
            continue
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    sys.exit(EXIT_BROKEN_PIPE)


class AigovGroup(click.Group):
    """Maps aigov errors and unexpected exceptions to exit code 2 with a one-line message,
    and output that its reader did not take (a closed pipe) to a quiet exit 141
    (:data:`EXIT_BROKEN_PIPE`), for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return self._invoke_mapped(ctx)
            finally:
                # Output still buffered is written now, while a closed pipe can be handled
                # (at interpreter exit it would only be "Exception ignored", exit 120); and
                # output written but never read replaces any verdict with 141.
                sys.stdout.flush()
                if output_lost():
                    output_closed()
        except BrokenPipeError as exc:
            if _closed_streams():
                output_closed()
            # some other pipe broke (our output is still read): an internal error
            if os.environ.get("AIGOV_DEBUG"):
                traceback.print_exc()
            fail(f"internal error: BrokenPipeError: {exc}")

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # `aigov --help | head -1`: the root's help is written while its arguments are parsed
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except BrokenPipeError:
            output_closed()

    def _invoke_mapped(self, ctx: click.Context) -> Any:
        try:
            with stop_signals():  # Ctrl-C and SIGTERM exit 130 and 143, clean-ups run
                return super().invoke(ctx)
        except BrokenPipeError:
            raise
        except InputError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(EXIT_ERROR)
        except AigovError as exc:
            fail(str(exc))
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # fail closed: an internal error is never exit 0
            if os.environ.get("AIGOV_DEBUG"):
                traceback.print_exc()
            fail(f"internal error: {type(exc).__name__}: {exc}")


@click.group(cls=AigovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aigov")
@click.option(
    "--db",
    "db",
    metavar="URL",
    help="Registry database URL for every command (also $AIGOV_DB; default sqlite:///aigov.db).",
)
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """aigov: check AI models against governance policies before they are hosted or deployed.

    Policies (YAML) are evaluated by a Rete rules engine (durable-rules) against a model
    registry (SQLite by default, PostgreSQL by URL).

    \b
    Exit codes: 0 pass, 1 findings at/above --fail-on, 2 usage/input/engine error,
                3 indeterminate at/above the threshold, 130/143 interrupted (SIGINT/SIGTERM),
                141 output not read (closed pipe).
    """
    ctx.obj = {"db": db}
