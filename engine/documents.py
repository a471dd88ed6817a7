"""Reading YAML and JSON input files into plain data that still knows its line numbers.

Registry files and policy files both come through here, so both get the same guarantees:
safe loading only, no YAML aliases or merge keys, no duplicate keys, a size cap, and every
later validation error can be mapped back to ``file:line``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aigov.errors import InputError, Problem, clip, shown
from aigov.shipped import display_path

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
# How deeply lists and mappings may nest. Registry records nest a few levels and policy
# conditions a few dozen; a deeper input is refused with its line rather than exhausting the
# interpreter's stack (which would surface as an internal error with no location).
MAX_NESTING = 100


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

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node)
            except ValueError as exc:
                # YAML resolves 2025-13-01 as a timestamp and then fails to build it: keep the
                # text, so that schema validation reports it with its record and field.
                if node.tag == "tag:yaml.org,2002:timestamp":
                    return node.value
                if node.tag == "tag:yaml.org,2002:int" and "digits" in str(exc):
                    self._problem(node, _too_long_number(node.value))
                else:
                    self._problem(node, f"invalid value {shown(node.value)}: {exc}")
                return None
        if depth >= MAX_NESTING:
            self._problem(node, _too_deep())
            return None
        if id(node) in self.seen:
            self._problem(node, "YAML aliases are not supported; write the value out")
            return None
        self.seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._problem(key_node, "YAML merge keys ('<<') are not supported")
                continue
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float | bool) or key is None else key
            if key in result:
                self._problem(key_node, _duplicate_key(key))
                continue
            result[key] = self.build(value_node, depth + 1)
        return result

    def _problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, message))


def _duplicate_key(key: Any) -> str:
    return f"duplicate key '{clip(str(key))}'"


def _too_deep() -> str:
    return f"lists and mappings nested more than {MAX_NESTING} levels deep"


def _too_long_number(text: str) -> str:
    return f"number too long ({len(text.strip()):,} characters)"


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _not_regular(label: str, mode: int | None) -> InputError:
    what = "a broken symbolic link" if mode is None else _file_kind(mode)
    return InputError(
        [Problem(label, None, f"{what}, not a regular file: only regular files are read")]
    )


def _over_limit(label: str, size: int | None, limit: int) -> InputError:
    amount = f"file is {size:,} bytes, over" if size is not None else "file is over"
    return InputError(
        [
            Problem(
                label,
                None,
                f"{amount} the {limit:,}-byte limit per file; split it into several files "
                "(a directory is read recursively) or raise AIGOV_MAX_FILE_BYTES",
            )
        ]
    )


def read_text(path: Path, label: str) -> str:
    """The text of one input file, within the size cap and checked to be UTF-8.

    Only regular files are read: a FIFO would block forever and a device (``/dev/zero``)
    reports no size, so both are refused before they are opened. The read itself stops one
    byte past the cap, whatever size the file claims."""
    try:
        info = path.stat()
    except OSError as exc:
        raise InputError([Problem(label, None, f"cannot read: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(label, info.st_mode)
    limit = max_file_bytes()
    if info.st_size > limit:
        raise _over_limit(label, info.st_size, limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        # O_NONBLOCK: should the path have been swapped for a FIFO since the stat, opening it
        # does not wait for a writer; fstat of the opened file then refuses it.
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_regular(label, mode)
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise InputError([Problem(label, None, f"cannot read: {exc.strerror}")]) from None
    if len(raw) > limit:
        raise _over_limit(label, None, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(label, None, f"not UTF-8 text ({exc.reason})")]) from None


# JSON tokens that matter for locating keys and nesting: strings and structural characters
# (numbers, literals, commas and whitespace are skipped).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]')
# A string, or an integer longer than Python converts from text (4,300 digits).
_STRING_OR_LONG_INT = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]{4301,}(?![.eE0-9])')


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _json_positions(text: str, label: str, *, duplicates: bool) -> list[Problem]:
    """Rescan JSON that parsed (or at least tokenises) for the lines of its duplicate keys,
    or of the first place it nests more than :data:`MAX_NESTING` levels. Runs only once a
    problem is known to exist, so a valid file never pays for it."""
    problems: list[Problem] = []
    stack: list[set[str] | None] = []  # one entry per open container: its keys, or None
    line, last = 1, 0
    tokens = _JSON_TOKEN.finditer(text)
    previous: re.Match[str] | None = None
    for match in tokens:
        token = match.group()
        if token in "{[":
            stack.append(set() if token == "{" else None)
            if len(stack) > MAX_NESTING and not duplicates:
                return [Problem(label, _line_at(text, match.start()), _too_deep())]
        elif token in "}]":
            if stack:
                stack.pop()
        elif token == ":" and previous is not None and previous.group().startswith('"'):
            keys = stack[-1] if stack else None
            if duplicates and keys is not None:
                key = json.loads(previous.group())
                if key in keys:
                    line += text.count("\n", last, previous.start())
                    last = previous.start()
                    problems.append(Problem(label, line, _duplicate_key(key)))
                keys.add(key)
        previous = match
    return problems


def _nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` holds lists or mappings nested more than ``limit`` levels deep
    (walked level by level, never recursively)."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            values = item.values() if isinstance(item, dict) else item
            deeper.extend(v for v in values if isinstance(v, dict | list))
        level = deeper
    return False


def _parse_json(text: str, label: str) -> Any:
    """JSON with the checks YAML input gets: no duplicate keys, bounded nesting, numbers that
    Python can hold; each problem with its line."""
    duplicated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        result = dict(items)
        if len(result) != len(items):
            duplicated = True
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(label, exc.lineno, f"invalid JSON: {exc.msg}")]) from None
    except RecursionError:
        raise InputError(
            _json_positions(text, label, duplicates=False) or [Problem(label, None, _too_deep())]
        ) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        for match in _STRING_OR_LONG_INT.finditer(text):
            if not match.group().startswith('"'):
                line = _line_at(text, match.start())
                raise InputError([Problem(label, line, _too_long_number(match.group()))]) from None
        raise InputError([Problem(label, None, f"invalid JSON: {clip(str(exc))}")]) from None
    if duplicated:
        raise InputError(
            _json_positions(text, label, duplicates=True)
            or [Problem(label, None, "duplicate key in a JSON object")]
        )
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting_exceeds(data, MAX_NESTING):
        raise InputError(
            _json_positions(text, label, duplicates=False) or [Problem(label, None, _too_deep())]
        )
    return data


def parse_text(text: str, label: str, *, json_first: bool = False) -> list[Document]:
    """Parse YAML (or JSON, which is tried with the fast JSON parser first) into documents."""
    if json_first:
        return [Document(label, _parse_json(text, label), _text=text)]
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


def _file_mode(path: Path) -> int | None:
    """The mode of what ``path`` names (symbolic links followed); None for a broken link."""
    try:
        return path.stat().st_mode
    except OSError:
        return None


def iter_input_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """Every YAML/JSON file named or found (recursively, sorted) under the given paths.

    A directory entry with a YAML/JSON name that is not a regular file (a FIFO, a device, a
    socket, a broken symbolic link) is an error, not skipped: the records it was meant to
    hold would otherwise be silently missing. A path named directly is handed on as it is;
    :func:`read_text` refuses it if it is not a regular file."""
    for root in paths:
        if root.is_dir():
            found: list[Path] = []
            problems: list[Problem] = []
            for path in root.rglob("*"):
                if path.suffix.lower() not in SUFFIXES:
                    continue
                mode = _file_mode(path)
                if mode is not None and stat.S_ISREG(mode):
                    found.append(path)
                elif mode is None or not stat.S_ISDIR(mode):
                    problems.append(_not_regular(display_path(path), mode).problems[0])
            if problems:
                raise InputError(problems)
            for path in sorted(found):
                yield path, display_path(path)
        elif root.exists():
            yield root, display_path(root)
        else:
            raise InputError([Problem(str(root), None, "no such file or directory")])


# ----------------------------------------------------------------------------- validation


def pydantic_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in the words of an input problem ("unknown field", "required field
    is missing", the message with the value given for a type error)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.startswith(
        ("string_", "int_", "float_", "bool_", "list_", "dict_", "enum", "finite_number")
    ):
        message = f"{message} (got {shown(error.get('input'))})"
    return message


def field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def validation_problems(
    error: ValidationError, document: Document, base_path: tuple[Any, ...], label: str
) -> list[Problem]:
    """Turn a pydantic error into located problems, one per failing field."""
    problems = []
    for item in error.errors():
        loc = tuple(step for step in item["loc"] if not isinstance(step, str) or "[" not in step)
        problems.append(
            Problem(
                document.file,
                document.line_of(base_path + loc),
                pydantic_message(item),
                record=label,
                field=field_path(loc) or None,
            )
        )
    return problems
