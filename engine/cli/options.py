"""Options and helpers the command modules share.

Choice lists come from the vocabularies they offer (:class:`~aigov.results.severity.Severity`,
the registry's record kinds and enums, the report renderers), never from copies kept here.
Those in :mod:`aigov.registry.records` are read on first use only: that module pulls in
SQLModel, which ``aigov --help`` or ``aigov report schema`` should not pay for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from aigov.results.severity import Severity

SEVERITIES = [severity.value for severity in Severity]


def report_formats() -> list[str]:
    from aigov.reports import RENDERERS

    return list(RENDERERS)


def record_kinds() -> list[str]:
    from aigov.registry.records import KINDS

    return list(KINDS)


def environments() -> list[str]:
    from aigov.registry.records import Environment

    return [environment.value for environment in Environment]


def exposures() -> list[str]:
    from aigov.registry.records import Exposure

    return [exposure.value for exposure in Exposure]


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices are read on first use (help, parsing, defaults)."""

    def __init__(self, choices: Callable[[], Iterable[str]], case_sensitive: bool = True) -> None:
        self._load_choices = choices
        self.case_sensitive = case_sensitive

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # lazy: click's is a plain attribute
        return tuple(self._load_choices())


class LazyHelpOption(click.Option):
    """A :class:`click.Option` whose help text is built when help is first shown."""

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._help_text = help_text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        if self.help is None:
            self.help = self._help_text()
        return super().get_help_record(ctx)


def _db_from_group(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A subcommand's --db wins; else the one given before the subcommand; else AIGOV_DB and
    the default, resolved by open_registry."""
    if value:
        return value
    root = ctx.find_root()
    return (root.obj or {}).get("db")


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        metavar="URL",
        callback=_db_from_group,
        help="Registry database URL (SQLAlchemy form). Default: $AIGOV_DB or sqlite:///aigov.db",
    )(func)


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` with these choices; the first is the default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def write_output(text: str, output: str | None) -> None:
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))


class IsoDateType(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import datetime as dt

        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):  # well formed: not a real day
                self.fail(f"{value!r}: no such date", param, ctx)
            self.fail(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)", param, ctx)


def _remember_added(ctx: click.Context, _param: click.Parameter, value: tuple[Path, ...]) -> None:
    ctx.meta["aigov.add_policies"] = value


def policies_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--policies PATH`` (replaces the library) and ``--add-policies PATH`` (on top of it);
    the command passes its ``policy_paths`` to :func:`_policy_paths`, which adds the rest."""
    func = click.option(
        "--add-policies",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="PATH",
        expose_value=False,
        callback=_remember_added,
        help="Policy file or directory to load on top of the library (repeatable).",
    )(func)
    return click.option(
        "--policies",
        "policy_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="PATH",
        help="Policy file or directory that replaces the library (repeatable). Default: the "
        "shipped library, plus ./.aigov/policies when that folder exists.",
    )(func)


def as_of_option(func: Callable[..., Any] | None = None, *, default: str = "today") -> Any:
    """``--as-of DATE``; ``default`` says what the command takes without it."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "--as-of",
            "as_of",
            type=IsoDateType(),
            help=f"Evaluate as of this date (default: {default}). Approvals, waivers and "
            "relative dates are judged against it.",
        )(f)

    return decorate(func) if func is not None else decorate


def policy_paths_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """Policy files or directories, given as arguments or as --policies (repeatable), the
    same on every ``aigov policy`` command; the command gets both in ``paths``."""
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(policies_option(func))


def fail_on_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--fail-on",
        type=click.Choice(SEVERITIES),
        default="high",
        show_default=True,
        help="Lowest severity whose fail/review findings make the exit code 1.",
    )(func)


def _policy_paths(paths: tuple[Path, ...]) -> list[Path]:
    """The policies a command loads: ``paths`` (``--policies``) or the library, plus
    ``--add-policies``."""
    from aigov.shipped import policy_roots

    added = click.get_current_context().meta.get("aigov.add_policies", ())
    return policy_roots(paths, added)


def _chosen_policy_paths(paths: tuple[Path, ...]) -> list[Path] | None:
    """As :func:`_policy_paths`, but None when the user chose no policies (neither option,
    no project folder): the command may then use the policies recorded with a run."""
    from aigov.shipped import policy_roots

    roots = _policy_paths(paths)
    return None if roots == policy_roots() else roots


def _format_choice() -> click.Choice:
    return click.Choice(report_formats())


def report_options(format_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format FORMAT`` (repeatable) and ``-o PATH``, paired with it by position."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "-o",
            "--output",
            "outputs",
            multiple=True,
            metavar="PATH",
            help="Write the format given in the same position to PATH (repeatable).",
        )(func)
        return click.option(
            "--format",
            "formats",
            multiple=True,
            type=_format_choice(),
            metavar="FORMAT",
            help=format_help,
        )(func)

    return decorate


def _print_diff(diff: Any, fmt: str) -> None:
    from aigov.reports.diff import render_diff_text

    click.echo(
        diff.model_dump_json(indent=2) if fmt == "json" else render_diff_text(diff),
        nl=fmt == "json",
    )
