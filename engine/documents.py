"""Reading YAML and JSON input files into plain data that still knows its line numbers.

Registry files and policy files both come through here, so both get the same guarantees:
safe loading only, no YAML aliases or merge keys, no duplicate keys, a size cap, and every
later validation error can be mapped back to ``file:line``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aigov.errors import InputError, Problem
from aigov.shipped import display_path

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


def max_file_bytes() -> int:
    """The per-file size cap; ``AIGOV_MAX_FILE_BYTES`` overrides the 16 MiB default."""
    raw = os.environ.get("AIGOV_MAX_FILE_BYTES")
    return int(raw) if raw and raw.isdigit() else DEFAULT_MAX_FILE_BYTES


@dataclass
class Document:
    """One YAML/JSON document: its data and a way back from a data path to a line."""

    file: str
    data: Any
    start_line: int = 1
    _node: yaml.Node | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    def line_of(self, path: tuple[Any, ...]) -> int:
        """The line of the deepest element of ``path`` that exists (1-based)."""
        node = self._node
        if node is None and self._text is not None:
            node = self._node = _compose_quietly(self._text)
        if node is None:
            return self.start_line
        line = node.start_mark.line + 1
        for step in path:
            child = _child(node, step)
            if child is None:
                break
            node, line = child
        return line


def _child(node: yaml.Node, step: Any) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                return value, key.start_mark.line + 1
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        item = node.value[step]
        return item, item.start_mark.line + 1
    return None


def _compose_quietly(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


class _Builder:
    """Turns composed YAML nodes into Python data, refusing aliases and duplicate keys."""

    def __init__(self, loader: Any, file: str):
        self.loader = loader
        self.file = file
        self.seen: set[int] = set()
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node)
            except ValueError as exc:
                # YAML resolves 2025-13-01 as a timestamp and then fails to build it: keep the
                # text, so that schema validation reports it with its record and field.
                if node.tag == "tag:yaml.org,2002:timestamp":
                    return node.value
                self._problem(node, f"invalid value {node.value!r}: {exc}")
                return None
        if id(node) in self.seen:
            self._problem(node, "YAML aliases are not supported; write the value out")
            return None
        self.seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item) for item in node.value]
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._problem(key_node, "YAML merge keys ('<<') are not supported")
                continue
            key = self.build(key_node)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float | bool) or key is None else key
            if key in result:
                self._problem(key_node, f"duplicate key '{key}'")
                continue
            result[key] = self.build(value_node)
        return result

    def _problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, message))


def read_text(path: Path, label: str) -> str:
    """The text of one input file, within the size cap and checked to be UTF-8."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError([Problem(label, None, f"cannot read: {exc.strerror}")]) from None
    limit = max_file_bytes()
    if size > limit:
        raise InputError(
            [
                Problem(
                    label,
                    None,
                    f"file is {size:,} bytes, over the {limit:,}-byte limit per file; split it "
                    "into several files (a directory is read recursively) or raise "
                    "AIGOV_MAX_FILE_BYTES",
                )
            ]
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(label, None, f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise InputError([Problem(label, None, f"cannot read: {exc.strerror}")]) from None


def parse_text(text: str, label: str, *, json_first: bool = False) -> list[Document]:
    """Parse YAML (or JSON, which is tried with the fast JSON parser first) into documents."""
    if json_first:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError([Problem(label, exc.lineno, f"invalid JSON: {exc.msg}")]) from None
        return [Document(label, data, _text=text)]
    loader = _Loader(text)
    builder = _Builder(loader, label)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append(
                Document(label, builder.build(node), node.start_mark.line + 1, _node=node)
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise InputError([Problem(label, line, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(label, None, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise InputError(builder.problems)
    return [d for d in documents if d.data is not None]


def load_file(path: Path, label: str | None = None) -> list[Document]:
    """Read one YAML or JSON file; raise :class:`InputError` with file:line on any problem."""
    label = label or str(path)
    return parse_file(read_text(path, label), path, label)


def parse_file(text: str, path: Path, label: str) -> list[Document]:
    """Parse the text :func:`read_text` returned for ``path`` (JSON if its name says so).
    A file with no documents is an error."""
    documents = (
        parse_text(text, label, json_first=path.suffix.lower() == ".json") if text.strip() else []
    )
    if not documents:
        raise InputError([Problem(label, None, "empty file: it holds no records")])
    return documents


def iter_input_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """Every YAML/JSON file named or found (recursively, sorted) under the given paths."""
    for root in paths:
        if root.is_dir():
            found = sorted(
                p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
            for path in found:
                yield path, display_path(path)
        elif root.exists():
            yield root, display_path(root)
        else:
            raise InputError([Problem(str(root), None, "no such file or directory")])
