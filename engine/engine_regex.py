"""Translate Python regular expressions into durable-rules' own regex dialect.

Policies are written with Python ``re`` syntax and ``re.search`` semantics (unanchored unless
``^``/``$`` are used; character classes are ASCII, as with ``re.ASCII``), but the match itself
runs inside the Rete engine (``$mt``/``$imt``), whose dialect differs: it always matches the
whole string, escapes with ``%``, and has no anchors, ``\\d`` or lazy quantifiers. The
translation goes through Python's own parser, so a pattern means the same thing to both;
constructs the engine cannot express (look-arounds, back-references, word boundaries, anchors
in the middle, negated classes) are refused at policy-load time.
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser moved to re._parser (sre_parse is a deprecated alias)
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

_SPECIAL = set(".|?*+()[]{}%")
_CLASS_SPECIAL = set("[]%")
_MAX_EXPANSION = 64

_CATEGORIES = {
    C.CATEGORY_DIGIT: "0-9",
    C.CATEGORY_WORD: "A-Za-z0-9_",
    C.CATEGORY_SPACE: "%s",
}
_NEGATED_CATEGORIES = {C.CATEGORY_NOT_DIGIT, C.CATEGORY_NOT_WORD, C.CATEGORY_NOT_SPACE}
# durable-rules builds wrong automata for negated classes after '.' (".*[^a-c]" rejects "ad"),
# so they are refused rather than silently mis-evaluated; negate with the 'not' operator.
_NEGATED = "negated character classes ([^...], \\D, \\W, \\S) are not supported; use 'not'"


class UnsupportedRegex(ValueError):
    """The pattern is valid Python but cannot be evaluated by the rules engine."""


def _char(code: int, *, in_class: bool = False) -> str:
    ch = chr(code)
    special = _CLASS_SPECIAL if in_class else _SPECIAL
    return f"%{ch}" if ch in special else ch


def _class(items: list[tuple[object, object]]) -> str:
    parts: list[str] = []
    # The engine cannot escape '-' or '^' inside a class: '-' is literal only last, '^' only
    # when not first.
    dash = caret = False
    for op, av in items:
        if op is C.NEGATE:
            raise UnsupportedRegex(_NEGATED)
        elif op is C.LITERAL and av == ord("-"):
            dash = True
        elif op is C.LITERAL and av == ord("^"):
            caret = True
        elif op is C.LITERAL:
            parts.append(_char(av, in_class=True))  # type: ignore[arg-type]
        elif op is C.RANGE:
            low, high = av  # type: ignore[misc]
            if ord("-") in (low, high) or ord("^") in (low, high):
                raise UnsupportedRegex("ranges that start or end at '-' or '^' are not supported")
            parts.append(f"{_char(low, in_class=True)}-{_char(high, in_class=True)}")
        elif op is C.CATEGORY and av in _CATEGORIES:
            parts.append(_CATEGORIES[av])  # type: ignore[index]
        else:
            raise UnsupportedRegex(f"character class element {op} is not supported by the engine")
    if not parts:
        return "(" + "|".join(c for c, used in (("^", caret), ("-", dash)) if used) + ")"
    return "[" + "".join(parts) + ("^" if caret else "") + ("-" if dash else "") + "]"


def _sequence(items: P.SubPattern, *, top: bool) -> str:
    nodes = list(items)
    out: list[str] = []
    for index, (op, av) in enumerate(nodes):
        if op is C.AT:
            at_start = top and index == 0 and av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING)
            at_end = top and index == len(nodes) - 1 and av in (C.AT_END, C.AT_END_STRING)
            if not (at_start or at_end):
                raise UnsupportedRegex("anchors and \\b are only supported at the pattern's ends")
            continue
        out.append(_node(op, av))
    return "".join(out)


def _node(op: object, av: object) -> str:
    if op is C.LITERAL:
        return _char(av)  # type: ignore[arg-type]
    if op is C.NOT_LITERAL:
        raise UnsupportedRegex(_NEGATED)
    if op is C.ANY:
        return "."
    if op is C.IN:
        return _class(av)  # type: ignore[arg-type]
    if op is C.SUBPATTERN:
        _group, add_flags, del_flags, body = av  # type: ignore[misc]
        if add_flags or del_flags:
            raise UnsupportedRegex("inline flags inside a group are not supported")
        return f"({_sequence(body, top=False)})"
    if op is C.BRANCH:
        _, branches = av  # type: ignore[misc]
        return "(" + "|".join(_sequence(b, top=False) for b in branches) + ")"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        low, high, body = av  # type: ignore[misc]
        inner = _sequence(body, top=False)
        unit = (
            inner
            if len(list(body)) == 1 and body[0][0] in (C.LITERAL, C.ANY, C.IN)
            else f"({inner})"
        )
        if (low, high) == (0, C.MAXREPEAT):
            return f"{unit}*"
        if (low, high) == (1, C.MAXREPEAT):
            return f"{unit}+"
        if (low, high) == (0, 1):
            return f"{unit}?"
        if low > _MAX_EXPANSION or (high is not C.MAXREPEAT and high > _MAX_EXPANSION):
            raise UnsupportedRegex(f"repetition counts above {_MAX_EXPANSION} are not supported")
        if high is C.MAXREPEAT:
            return unit * low + f"{unit}*"
        return unit * low + f"{unit}?" * (high - low)
    if op is C.CATEGORY and av in _CATEGORIES:
        return f"[{_CATEGORIES[av]}]"  # type: ignore[index]
    if op is C.CATEGORY and av in _NEGATED_CATEGORIES:
        raise UnsupportedRegex(_NEGATED)
    name = {
        C.GROUPREF: "back-references",
        C.ASSERT: "look-ahead/look-behind",
        C.ASSERT_NOT: "negative look-ahead/look-behind",
    }.get(op, str(op))  # type: ignore[call-overload]
    raise UnsupportedRegex(f"{name} are not supported by the engine")


def to_engine_regex(pattern: str) -> tuple[str, bool]:
    """Return ``(engine_pattern, case_insensitive)`` for a Python regex with search semantics.

    Raises ``re.error`` for an invalid pattern and :class:`UnsupportedRegex` for a valid one
    the engine cannot evaluate.
    """
    re.compile(pattern)
    parsed = P.parse(pattern)
    flags = parsed.state.flags
    allowed = re.IGNORECASE | re.UNICODE
    if flags & ~allowed:
        raise UnsupportedRegex("only the (?i) flag is supported")
    nodes = list(parsed)
    anchored_start = (
        bool(nodes)
        and nodes[0][0] is C.AT
        and nodes[0][1]
        in (
            C.AT_BEGINNING,
            C.AT_BEGINNING_STRING,
        )
    )
    anchored_end = (
        bool(nodes)
        and nodes[-1][0] is C.AT
        and nodes[-1][1]
        in (
            C.AT_END,
            C.AT_END_STRING,
        )
    )
    body = _sequence(parsed, top=True)
    if not body:
        raise UnsupportedRegex("an empty pattern matches everything; use 'exists' instead")
    engine = ("" if anchored_start else ".*") + f"({body})" + ("" if anchored_end else ".*")
    return engine, bool(flags & re.IGNORECASE)
