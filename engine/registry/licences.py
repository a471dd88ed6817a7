"""Licences as SPDX licence expressions, and their use classes: how permissive a licence is,
as a plain fact the engine can compare.

A licence is parsed as an SPDX licence expression (``MIT OR Apache-2.0``,
``Apache-2.0 WITH LLVM-exception``) by the license-expression library. Its symbols are SPDX
ids, ScanCode ids (``LicenseRef-scancode-...``), Hugging Face licence ids (``llama3.1``),
aigov terms record ids (case-sensitive) or anything else, which keeps its spelling and is
``unknown``. Which class each licence has is data, not code: ``licences.yaml`` beside this
module (read it for the classes and the reasons). A higher rank is more permissive, so "a
declared licence more permissive than its upstream" is
``child.licence_rank > parent.licence_rank``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from license_expression import (
    AND,
    OR,
    PARSE_INVALID_EXPRESSION,
    PARSE_INVALID_NESTING,
    PARSE_INVALID_OPERATOR_SEQUENCE,
    PARSE_INVALID_SYMBOL_SEQUENCE,
    PARSE_UNBALANCED_CLOSING_PARENS,
    ExpressionError,
    ExpressionParseError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    build_spdx_licensing,
    get_license_index,
)
from pydantic import BaseModel, ConfigDict, ValidationError

from aigov.errors import InputError, Problem, shown


class LicenceClass(StrEnum):
    permissive = "permissive"
    copyleft = "copyleft"
    proprietary_terms = "proprietary_terms"
    non_commercial = "non_commercial"
    research_only = "research_only"
    unknown = "unknown"


RANK: dict[LicenceClass, int] = {
    LicenceClass.permissive: 5,
    LicenceClass.copyleft: 4,
    LicenceClass.proprietary_terms: 3,
    LicenceClass.non_commercial: 2,
    LicenceClass.research_only: 1,
    LicenceClass.unknown: 0,
}

LICENCES_FILE = Path(__file__).resolve().parent / "licences.yaml"
_NO_TERMS: Mapping[str, LicenceClass] = MappingProxyType({})

# A licence symbol: an SPDX idstring (letters, digits, '-', '.'), a LicenseRef-/DocumentRef-
# id (':') or a terms record id (records.py allows '. _ : / @ + # ~ -').
_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+#~-]*")
_WORD = re.compile(r"\(|\)|[^\s()]+")
_KEYWORDS = {"and": "AND", "or": "OR", "with": "WITH"}
# license-expression parses the grammar with every symbol replaced by a placeholder s<n>,
# and knowing no licences (it refuses '/', '@', '#' and '~' in keys, and would respell a
# terms id that happens to match an SPDX id); the SPDX licensing only spells and classes.
_PLACEHOLDER = re.compile(r"s(\d+)")
_GRAMMAR = Licensing()
# Real expressions nest a level or two; a deeper one is refused rather than recursed into.
MAX_DEPTH = 50


@dataclass(frozen=True)
class Licence:
    """A parsed licence expression."""

    expression: str  # canonical: known ids in their spelling, others as written
    ids: tuple[str, ...]  # every symbol's canonical id, sorted, unique
    cls: LicenceClass


# The shape of a parsed expression: a symbol's index in the written tokens, or an operator
# (AND, OR, WITH) over its arguments.
_Shape = int | tuple[str, tuple["_Shape", ...]]


@dataclass(frozen=True)
class _Parsed:
    template: str  # the rendered expression, symbols as s<n>
    tokens: tuple[str, ...]  # the symbols as written, by n
    shape: _Shape


# -- the data -------------------------------------------------------------------------------


class _LicenceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    huggingface: dict[str, LicenceClass]
    licences: dict[str, LicenceClass]
    scancode_categories: dict[str, LicenceClass]


@dataclass(frozen=True)
class LicenceData:
    """What ``licences.yaml`` and the license-expression index say, ready for look-ups."""

    spelling: Mapping[str, str]  # lower-cased id or alias -> canonical id
    classes: Mapping[str, LicenceClass]  # canonical id -> class
    huggingface: tuple[str, ...]  # the Hub's licence ids, as the file lists them


def load_licence_data(path: Path = LICENCES_FILE, label: str | None = None) -> LicenceData:
    """The licence table in ``path``. Raises :class:`InputError` naming file, line and field
    of every problem: an unknown field or class, an unknown ScanCode category, an SPDX id not
    in its SPDX spelling, an id classed twice."""
    from aigov.documents import load_file, validation_problems  # YAML: when the file is read

    label = label or str(path)
    documents = load_file(path, label)
    if len(documents) != 1:
        problem = Problem(label, None, "expected one YAML document")
        raise InputError([problem], "invalid licence table")
    document = documents[0]
    try:
        data = _LicenceFile.model_validate(document.data)
    except ValidationError as exc:
        raise InputError(
            validation_problems(exc, document, (), "licence table"), "invalid licence table"
        ) from None

    spelling = {
        name.lower(): symbol.key
        for symbol in _licensing().known_symbols.values()
        for name in (symbol.key, *symbol.aliases)
    }
    categories = {entry.get("spdx_license_key"): entry["category"] for entry in _scancode_index()}
    problems: list[Problem] = []

    def add(section: str, key: str, message: str) -> None:
        line = document.line_of((section, key))
        problems.append(Problem(label, line, message, "licence table", f"{section}.{key}"))

    for category in data.scancode_categories:
        if category not in categories.values():
            known = ", ".join(sorted(set(categories.values())))
            add("scancode_categories", category, f"unknown ScanCode category (known: {known})")
    classes = {
        key: data.scancode_categories.get(category, LicenceClass.unknown)
        for key, category in categories.items()
        if key
    }
    explicit: dict[str, str] = {}
    for section, entries in (("huggingface", data.huggingface), ("licences", data.licences)):
        for key, cls in entries.items():
            canonical = spelling.get(key.lower())
            if not _SYMBOL.fullmatch(key) or key.lower() in _KEYWORDS:
                add(section, key, "not a licence id")
            elif section == "huggingface" and key != key.lower():
                add(section, key, "Hugging Face licence ids are lower-case")
            elif section == "licences" and canonical not in (None, key):
                add(section, key, f"write the SPDX spelling '{canonical}'")
            canonical = canonical or key
            if canonical.lower() in explicit:
                first = explicit[canonical.lower()]
                add(section, key, f"'{canonical}' is already classed by {first}")
                continue
            explicit[canonical.lower()] = f"{section}.{key}"
            spelling.setdefault(key.lower(), canonical)
            classes[canonical] = cls
    if problems:
        raise InputError(problems, "invalid licence table")
    return LicenceData(spelling, classes, tuple(data.huggingface))


@cache
def shipped_licence_data() -> LicenceData:
    """The licence table shipped with aigov (read once)."""
    return load_licence_data(LICENCES_FILE, "<builtin>/registry/licences.yaml")


@cache
def _scancode_index() -> list[dict[str, Any]]:
    """license-expression's copy of the ScanCode LicenseDB index (read once)."""
    return get_license_index()


@cache
def _licensing() -> Licensing:
    """license-expression's SPDX licensing (built once: it indexes some 2,500 licences)."""
    return build_spdx_licensing(_scancode_index())


# -- parsing --------------------------------------------------------------------------------

_PARSE_ERRORS = {
    PARSE_UNBALANCED_CLOSING_PARENS: "unbalanced parenthesis",
    PARSE_INVALID_EXPRESSION: "misplaced operator or parenthesis",
    PARSE_INVALID_NESTING: "misplaced parenthesis",
    PARSE_INVALID_SYMBOL_SEQUENCE: "two licences without an operator between them",
    PARSE_INVALID_OPERATOR_SEQUENCE: "an operator without a licence",
}
_NEAR_ERRORS = {"WITH": "WITH must join one licence and one exception"}


def parse_licence(text: str, terms_class: Mapping[str, LicenceClass] = _NO_TERMS) -> Licence:
    """``text`` as a licence expression; a symbol that is a key of ``terms_class`` (a terms
    record id) takes that class. Raises ValueError naming the problem when ``text`` is not a
    licence expression."""
    parsed = _parse(text)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    spelled, classes = _resolve(parsed.tokens, terms_class)
    expression = _PLACEHOLDER.sub(lambda m: spelled[int(m[1])], parsed.template)
    return Licence(expression, tuple(sorted(set(spelled))), _class_of(parsed.shape, classes))


def normalise_licence(text: str) -> str:
    """The canonical spelling of a licence expression, so that ``cc-by-nc-4.0`` equals
    ``CC-BY-NC-4.0``. Raises ValueError as :func:`parse_licence` does."""
    return parse_licence(text).expression


def classify(licence: str | None, terms_class: Mapping[str, LicenceClass]) -> LicenceClass:
    """The use class of a licence expression; ``unknown`` for none and for one that does not
    parse (never raises)."""
    parsed = _parse(licence) if licence else None
    if not isinstance(parsed, _Parsed):
        return LicenceClass.unknown
    return _class_of(parsed.shape, _resolve(parsed.tokens, terms_class)[1])


def licence_symbols(licence: str | None) -> tuple[str, ...]:
    """The symbols of a licence expression as written, in order (the ids to look up as terms
    records, which are case-sensitive); none for no licence or one that does not parse."""
    parsed = _parse(licence) if licence else None
    return parsed.tokens if isinstance(parsed, _Parsed) else ()


def most_restrictive(classes: Iterable[LicenceClass]) -> LicenceClass:
    return min(classes, key=RANK.__getitem__, default=LicenceClass.unknown)


def _most_permissive(classes: Iterable[LicenceClass]) -> LicenceClass:
    return max(classes, key=RANK.__getitem__)


def _first(classes: Iterable[LicenceClass]) -> LicenceClass:
    return next(iter(classes))


# The licensee may choose either side of an OR, must honour both sides of an AND, and an
# exception (WITH) only adds permissions to its licence.
_COMBINE: dict[str, Callable[[Iterable[LicenceClass]], LicenceClass]] = {
    "OR": _most_permissive,
    "AND": most_restrictive,
    "WITH": _first,
}
_OPERATORS = {AND: "AND", OR: "OR"}


def _resolve(
    tokens: tuple[str, ...], terms_class: Mapping[str, LicenceClass]
) -> tuple[list[str], list[LicenceClass]]:
    """The canonical spelling and the class of each written symbol: a terms record id as
    written with its record's class, a known id in its spelling, anything else as written."""
    data = shipped_licence_data()
    spelled: list[str] = []
    classes: list[LicenceClass] = []
    for token in tokens:
        if token in terms_class:
            spelled.append(token)
            classes.append(terms_class[token])
            continue
        canonical = data.spelling.get(token.lower(), token)
        spelled.append(canonical)
        classes.append(data.classes.get(canonical, LicenceClass.unknown))
    return spelled, classes


def _class_of(shape: _Shape, classes: list[LicenceClass]) -> LicenceClass:
    if isinstance(shape, int):
        return classes[shape]
    operator, args = shape
    return _COMBINE[operator](_class_of(arg, classes) for arg in args)


@lru_cache(maxsize=1 << 16)
def _parse(text: str) -> _Parsed | str:
    """The structure of ``text``, or the message saying why it is not an expression (cached
    too: registries repeat the same few licences)."""
    tokens: dict[str, int] = {}
    words: list[str] = []
    depth = 0
    for word in _WORD.findall(text):
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth < 0:
            return _invalid(text, "unbalanced parenthesis")
        if depth > MAX_DEPTH:
            return _invalid(text, f"parentheses nested more than {MAX_DEPTH} deep")
        if word in ("(", ")") or word.lower() in _KEYWORDS:
            words.append(_KEYWORDS.get(word.lower(), word))
        elif _SYMBOL.fullmatch(word):
            words.append(f"s{tokens.setdefault(word, len(tokens))}")
        else:
            bad = next(c for c in word if not _SYMBOL.fullmatch(f"a{c}"))
            return _invalid(text, f"character {bad!r} in {shown(word)}")
    if depth:
        return _invalid(text, "unbalanced parenthesis")
    if not tokens:
        return _invalid(text, "no licence in it")
    written = tuple(tokens)
    placeholders = " ".join(words)
    if "( )" in placeholders:
        return _invalid(text, "empty parentheses")
    try:
        tree = _GRAMMAR.parse(placeholders, simple=True)
    except ExpressionParseError as exc:
        near = _PLACEHOLDER.sub(lambda m: written[int(m[1])], exc.token_string or "")
        reason = _PARSE_ERRORS.get(exc.error_code, "not a licence expression")
        reason = _NEAR_ERRORS.get(near, f"{reason} near {shown(near)}" if near else reason)
        return _invalid(text, reason)
    except ExpressionError:  # e.g. "MIT OR": an operator with one side
        return _invalid(text, "an operator without a licence")
    return _Parsed(tree.render("{symbol.key}"), written, _shape(tree))


def _invalid(text: str, reason: str) -> str:
    return f"invalid licence expression {shown(text)}: {reason}"


def _shape(node: Any) -> _Shape:
    if isinstance(node, LicenseWithExceptionSymbol):
        pair = (node.license_symbol, node.exception_symbol)
        return ("WITH", tuple(_symbol_number(symbol) for symbol in pair))
    if isinstance(node, LicenseSymbol):
        return _symbol_number(node)
    operator = next(name for cls, name in _OPERATORS.items() if isinstance(node, cls))
    return (operator, tuple(_shape(arg) for arg in node.args))


def _symbol_number(symbol: Any) -> int:
    match = _PLACEHOLDER.fullmatch(symbol.key)
    assert match, symbol.key
    return int(match[1])
