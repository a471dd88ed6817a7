"""The registry interchange format: files of records, validated into typed records.

A registry file is a mapping from section names (``providers``, ``models``, ``lineage``, …)
to lists of records; a file may hold several YAML documents and any mix of kinds. Validation
collects every problem of every file before anything is reported.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from aigov.documents import (
    SUFFIXES,
    Document,
    iter_input_files,
    parse_file,
    read_text,
    validation_problems,
)
from aigov.errors import InputError, Problem, RegistryError, clip, shown
from aigov.registry.records import KINDS, RELATION_KINDS, SECTIONS, LineageBase, RecordBase

FORMAT_VERSION = 2
# The file format versions this aigov reads: a v1 file is a valid v2 file (v2 only adds
# optional fields and values), so both are read alike; exports are written as v2.
READABLE_VERSIONS = (1, 2)
_HEADER_KEYS = {"schema_version"}


@dataclass(frozen=True)
class SourceFile:
    """A registry file on disk, for the origins of the records it holds (``record_origin``):
    its resolved path and, for JSON, the line of each record's ``id`` (YAML documents keep
    their nodes, so their lines cost nothing to look up)."""

    path: Path
    json_lines: Mapping[tuple[Any, ...], int] | None = None


@dataclass(frozen=True)
class LoadedRecord:
    """A validated record and where it came from."""

    kind: str
    record: RecordBase
    file: str
    document: Document = field(repr=False, compare=False)
    path: tuple[Any, ...] = ()
    source: SourceFile | None = field(default=None, repr=False, compare=False)

    def origin(self) -> dict[str, Any] | None:
        """The ``record_origin`` row of this record: the file as named, its resolved path and
        the line of the record's ``id`` (of the record itself when it has no such line)."""
        if self.source is None:
            return None
        if self.source.json_lines is not None:
            line = self.source.json_lines.get(self.path, self.document.start_line)
        else:
            line = self.document.line_of((*self.path, "id"))
        return {
            "kind": self.kind,
            "id": self.record.id,
            "file": self.file,
            "path": str(self.source.path),
            "line": line,
        }

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.record.id}'"

    @property
    def line(self) -> int:
        """The record's line, computed only when an error needs it (a JSON file is parsed
        for positions lazily, so large valid imports never pay for it)."""
        return self.document.line_of(self.path)

    def line_of(self, *steps: Any) -> int:
        """The line of one of this record's fields (or list items); else the record's line."""
        return self.document.line_of(self.path + steps)


def _yaml_shown(value: Any) -> str:
    """A scalar as it would be written in a registry file (``true``, ``1.0``, ``'1'``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return shown(value)


def validate_documents(
    documents: Iterable[Document], sources: Mapping[str, SourceFile] | None = None
) -> tuple[list[LoadedRecord], list[Problem]]:
    """Validate registry documents into records; ``sources`` maps a file (as the documents
    name it) to the file on disk its records were read from."""
    sources = sources or {}
    records: list[LoadedRecord] = []
    problems: list[Problem] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict):
            problems.append(
                Problem(
                    document.file,
                    document.start_line,
                    "a registry document must be a mapping of sections "
                    f"({', '.join(SECTIONS)}) to lists of records",
                )
            )
            continue
        version = data.get("schema_version", FORMAT_VERSION)
        # exactly the integer: true (a bool is an int in Python) and 1.0 are not versions
        if type(version) is not int or version not in READABLE_VERSIONS:
            problems.append(
                Problem(
                    document.file,
                    document.line_of(("schema_version",)),
                    f"unsupported schema_version {_yaml_shown(version)} "
                    f"(this aigov reads {' and '.join(map(str, READABLE_VERSIONS))})",
                )
            )
            continue
        for section, items in data.items():
            if section in _HEADER_KEYS:
                continue
            spec = SECTIONS.get(section) if isinstance(section, str) else None
            if spec is None:
                problems.append(
                    Problem(
                        document.file,
                        document.line_of((section,)),
                        f"unknown section '{clip(str(section))}' "
                        f"(expected one of: {', '.join(SECTIONS)})",
                    )
                )
                continue
            if items is None:
                continue
            if not isinstance(items, list):
                problems.append(
                    Problem(
                        document.file,
                        document.line_of((section,)),
                        f"section '{section}' must be a list of records",
                    )
                )
                continue
            for index, item in enumerate(items):
                path = (section, index)
                raw_id = item.get("id") if isinstance(item, dict) else None
                label = (
                    f"{spec.name} '{clip(raw_id)}'"
                    if isinstance(raw_id, str) and raw_id
                    else f"{spec.name} #{index + 1}"
                )
                if not isinstance(item, dict):
                    problems.append(
                        Problem(
                            document.file,
                            document.line_of(path),
                            "a record must be a mapping",
                            record=label,
                        )
                    )
                    continue
                try:
                    record = spec.record.model_validate(item)
                except ValidationError as exc:
                    problems.extend(validation_problems(exc, document, path, label))
                    continue
                records.append(
                    LoadedRecord(
                        spec.name, record, document.file, document, path, sources.get(document.file)
                    )
                )
    return records, problems


def check_references(records: list[LoadedRecord], existing: Mapping[str, str]) -> list[Problem]:
    """Duplicate ids, dangling references, references to the wrong kind, bad lineage kinds.

    ``existing`` maps ids already in the registry to their kinds.
    """
    problems: list[Problem] = []
    batch: dict[str, LoadedRecord] = {}
    for loaded in records:
        rid = loaded.record.id
        first = batch.get(rid)
        if first is not None:
            problems.append(
                Problem(
                    loaded.file,
                    loaded.line_of("id"),
                    f"duplicate id: already defined as {first.kind} at {first.file}:{first.line}",
                    record=loaded.label,
                    field="id",
                )
            )
            continue
        if rid in existing and existing[rid] != loaded.kind:
            problems.append(
                Problem(
                    loaded.file,
                    loaded.line_of("id"),
                    f"id already names a {existing[rid]} in the registry",
                    record=loaded.label,
                    field="id",
                )
            )
            continue
        batch[rid] = loaded

    def kind_of(rid: str) -> str | None:
        if rid in batch:
            return batch[rid].kind
        return existing.get(rid)

    for loaded in batch.values():
        spec = KINDS[loaded.kind]
        for ref in spec.references:
            value = getattr(loaded.record, ref.field)
            targets = value if ref.many else ([value] if value is not None else [])
            for index, target in enumerate(targets):
                found = kind_of(target)
                if found in ref.kinds:
                    continue
                line = loaded.line_of(ref.field, index) if ref.many else loaded.line_of(ref.field)
                if found is None:
                    problems.append(
                        Problem(
                            loaded.file,
                            line,
                            f"dangling reference: no {' or '.join(ref.kinds)} '{target}'",
                            record=loaded.label,
                            field=ref.field,
                        )
                    )
                else:
                    problems.append(
                        Problem(
                            loaded.file,
                            line,
                            f"'{target}' is a {found}, expected a {' or '.join(ref.kinds)}",
                            record=loaded.label,
                            field=ref.field,
                        )
                    )
        if loaded.kind == "lineage":
            # kind "lineage" records are validated as LineageBase (KINDS["lineage"].record)
            record = cast(LineageBase, loaded.record)
            child, parent = kind_of(record.child), kind_of(record.parent)
            allowed = RELATION_KINDS[record.relation]
            if child and parent and (child, parent) not in allowed:
                pairs = ", ".join(f"{c} <- {p}" for c, p in allowed)
                problems.append(
                    Problem(
                        loaded.file,
                        loaded.line_of("relation"),
                        f"relation '{record.relation}' cannot link {child} <- {parent} "
                        f"(allowed: {pairs})",
                        record=loaded.label,
                        field="relation",
                    )
                )
            if record.child == record.parent:
                problems.append(
                    Problem(
                        loaded.file,
                        loaded.line_of("parent"),
                        "a record cannot be its own parent",
                        record=loaded.label,
                        field="parent",
                    )
                )
    return problems


def read_registry_files(paths: list[Path]) -> tuple[list[LoadedRecord], list[Problem]]:
    """Parse and validate every registry file under ``paths``: the valid records, and every
    problem found (the caller adds reference problems and reports them all together)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    sources: dict[str, SourceFile] = {}
    for root in paths:
        try:
            files = list(iter_input_files([root]))
        except InputError as exc:  # a missing path: report it with every other problem
            problems.extend(exc.problems)
            continue
        if not files:
            problems.append(
                Problem(str(root), None, f"no {', '.join(SUFFIXES)} files in this directory")
            )
        for path, label in files:
            try:
                text = read_text(path, label)
                loaded = parse_file(text, path, label)
            except InputError as exc:
                problems.extend(exc.problems)
                continue
            lines = json_record_lines(text) if path.suffix.lower() == ".json" else None
            sources[label] = SourceFile(path.resolve(), lines)
            if not any(_holds_records(document.data) for document in loaded):
                # `{}`, `providers:` or `providers: []` alone: as empty as an empty file (a
                # file truncated or generated wrongly must not pass for "no records")
                problems.append(Problem(label, None, "empty file: it holds no records"))
            documents.extend(loaded)
    records, invalid = validate_documents(documents, sources)
    return records, problems + invalid


# Strings and the structural characters that locate records in a JSON registry file.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def json_record_lines(text: str) -> dict[tuple[Any, ...], int]:
    """(section, index) -> the line of that record's ``id`` key (of its opening brace when
    it has none), for a JSON registry file that parsed. One pass over its strings and
    brackets; a file on a single line (as generated ones often are) needs none."""
    if "\n" not in text.strip():
        return {}
    lines: dict[tuple[Any, ...], int] = {}
    stack: list[list[Any]] = []  # one [bracket, key or index] per open container
    line, last = 1, 0
    pending: re.Match[str] | None = None  # the last string, until we know if it is a key

    def line_at(index: int) -> int:
        nonlocal line, last
        line += text.count("\n", last, index)
        last = index
        return line

    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            pending = match
            continue
        in_record = len(stack) == 3 and stack[0][0] == "{" and stack[1][0] == "["
        if token == ":":
            if pending is not None and stack and stack[-1][0] == "{":
                key = json.loads(pending.group())
                stack[-1][1] = key
                if in_record and key == "id":
                    lines[(stack[0][1], stack[1][1])] = line_at(pending.start())
        elif token in "{[":
            if token == "{" and len(stack) == 2 and stack[0][0] == "{" and stack[1][0] == "[":
                lines[(stack[0][1], stack[1][1])] = line_at(match.start())
            stack.append([token, 0 if token == "[" else None])
        elif token in "}]":
            if stack:
                stack.pop()
        elif stack and stack[-1][0] == "[":  # a comma between list items
            stack[-1][1] += 1
        pending = None
    return lines


def _holds_records(data: Any) -> bool:
    """Whether a registry document holds anything but its header and empty sections (any
    other content, valid or not, counts: validation reports what is wrong with it)."""
    if not isinstance(data, dict):
        return True
    return any(
        not (isinstance(key, str) and key in _HEADER_KEYS) and value is not None and value != []
        for key, value in data.items()
    )


def record_to_data(record: RecordBase) -> dict[str, Any]:
    """The interchange form of a record: JSON types, no empty or null fields."""
    data = record.model_dump(mode="json", exclude_none=True)
    data = {k: v for k, v in data.items() if v != [] and v != {}}
    for trailing in ("source", "confidence"):  # provenance after the record's own fields
        if trailing in data:
            data[trailing] = data.pop(trailing)
    return data


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump``, except that text holding a YAML 1.1 line break other than ``\\n``
    (NEL, LS, PS) is written double-quoted, where it is escaped: in the other styles PyYAML
    writes it raw and reads it back as a space, so the round trip would change the text."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_registry(sections: Mapping[str, list[RecordBase]], fmt: str) -> str:
    """Serialise records (grouped by kind) as one registry file, deterministically."""
    document: dict[str, Any] = {"schema_version": FORMAT_VERSION}
    bad: list[str] = []
    for kind, spec in KINDS.items():
        items = sorted(sections.get(kind, []), key=lambda r: r.id)
        if items:
            document[spec.section] = data = [record_to_data(r) for r in items]
            for record, fields in zip(items, data, strict=True):
                bad += [
                    f"{kind} '{record.id}': field '{where}' holds {value}"
                    for where, value in _non_finite(fields, "")
                ]
    if bad:
        # written, `inf` would be bare `Infinity` in JSON (not JSON) or `.inf` in YAML, and
        # neither would import again: refuse rather than write a file that cannot be read
        raise RegistryError(
            "cannot export: the registry holds numbers that are not finite, which a registry "
            "file cannot hold (import corrected records first):\n  " + "\n  ".join(bad)
        )
    if fmt == "json":
        return (
            json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False, allow_nan=False)
            + "\n"
        )
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def _non_finite(value: Any, where: str) -> Iterable[tuple[str, float]]:
    """Every non-finite float in ``value`` (interchange data), with its field path."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{where}[{index}]")


def registry_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a registry file."""
    fields: dict[str, Any] = {"schema_version": (Literal[READABLE_VERSIONS], FORMAT_VERSION)}
    for spec in KINDS.values():
        fields[spec.section] = (list[spec.record], [])  # type: ignore[name-defined]  # a runtime-built type
    model: type[BaseModel] = create_model(
        "RegistryFile", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://aigov.dev/schemas/registry-v{FORMAT_VERSION}.json"
    schema["title"] = f"aigov registry file (v{FORMAT_VERSION})"
    return schema
