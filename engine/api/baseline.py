"""Baselines for ``aigov audit --baseline``: read from a recorded run or from a baseline file,
and written by ``aigov runs baseline`` (:mod:`aigov.results.baseline` says what they cover)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from aigov.api.runs import load_run
from aigov.documents import SUFFIXES, load_file, validation_problems
from aigov.errors import InputError, Problem
from aigov.registry.store import Registry
from aigov.results.baseline import Baseline, baseline_of
from aigov.results.spool import as_view
from aigov.shipped import display_path

BASELINE_FORMATS = ("yaml", "json")


def names_a_file(ref: str) -> bool:
    """Whether ``--baseline REF`` names a baseline file (a YAML/JSON name, or an existing
    file) rather than a recorded run (an id, a prefix of one, ``latest``, ``latest~N``)."""
    path = Path(ref)
    return path.suffix.lower() in SUFFIXES or path.is_file()


def read_baseline_file(path: Path) -> Baseline:
    """A baseline file, validated; every problem names the file, line and field."""
    label = display_path(path)
    documents = load_file(path, label)
    if len(documents) != 1:
        raise InputError(
            [
                Problem(
                    label,
                    documents[1].start_line,
                    f"a baseline file is one YAML document (found {len(documents)})",
                )
            ],
            "invalid baseline file",
        )
    document = documents[0]
    try:
        baseline = Baseline.model_validate(document.data)
    except ValidationError as exc:
        problems = validation_problems(exc, document, (), "baseline")
        raise InputError(problems, "invalid baseline file") from None
    repeated = [
        Problem(
            label,
            document.line_of(("entries", index, "id")),
            f"finding {baseline.entries[index].id} is listed twice",
            record="baseline",
            field=f"entries[{index}].id",
        )
        for index in baseline.repeated()
    ]
    if repeated:
        raise InputError(repeated, "invalid baseline file")
    return baseline


def load_baseline(registry: Registry, ref: str) -> tuple[Baseline, str]:
    """The baseline ``ref`` names (a file, or a recorded run: every finding of that run, as
    it was) and how to name it in reports."""
    if names_a_file(ref):
        path = Path(ref)
        return read_baseline_file(path), f"file {display_path(path)}"
    result = load_run(registry, ref)
    assert result.run is not None  # a recorded run knows its id
    return baseline_of(as_view(result)), f"run {result.run.id}"


def run_baseline(
    registry: Registry,
    ref: str,
    *,
    expires_at: dt.date | None = None,
    reason: str | None = None,
) -> Baseline:
    """The baseline file's content for recorded run ``ref`` (``aigov runs baseline``)."""
    return baseline_of(as_view(load_run(registry, ref)), expires_at=expires_at, reason=reason)


def dump_baseline(baseline: Baseline, fmt: str) -> str:
    """The baseline as a file (YAML or JSON), deterministic for the same run and options."""
    data = baseline.model_dump(mode="json", exclude_none=True)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    header = (
        "# aigov baseline: findings accepted as they are (aigov audit --baseline FILE).\n"
        "# An entry stops covering its finding when the finding gets worse or the entry\n"
        "# expires (expires_at); remove entries as their findings are fixed.\n"
    )
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return header + text
