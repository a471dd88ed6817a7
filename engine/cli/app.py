"""The root ``aigov`` group, the exit-code contract and the error mapping every command shares.

The command modules import from here, never from :mod:`aigov.cli` (which imports them), so the
package has no import cycle.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from aigov import __version__
from aigov.errors import AigovError, InputError
from aigov.exit_codes import EXIT_ERROR


def fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"aigov: error: {message}", err=True)
    sys.exit(code)


class AigovGroup(click.Group):
    """Maps aigov errors and unexpected exceptions to exit code 2 with a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
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
                3 indeterminate at/above the threshold.
    """
    ctx.obj = {"db": db}
