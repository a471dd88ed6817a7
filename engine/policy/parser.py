"""Policy conditions and message templates: raw policy documents into the AST.

Conditions are parsed into :mod:`aigov.policy.ast` and checked against the fact schema
(:mod:`aigov.policy.schema`) and the operator registry (:mod:`aigov.policy.operators`):
unknown record kinds, misspelt fields, values outside an enum, wrong operand types, invalid
regexes and template errors are reported as problems with ``file:line``, the entry's label
and field, all together. The loader (:mod:`aigov.policy.loader`) drives it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from aigov.documents import Document
from aigov.errors import Problem
from aigov.policy.ast import TRUE, All, AnyOf, AsOf, Bind, Condition, Not, Operand, Ref, Test
from aigov.policy.operators import OPERATORS
from aigov.policy.schema import FACT_SCHEMA, FieldType, lookup
from aigov.registry.records import Relation

# ----------------------------------------------------------------------------- templates

TEMPLATE_GLOBALS = ("as_of", "policy", "subject", "path")


def template_environment() -> SandboxedEnvironment:
    """Messages render in Jinja's sandbox: no attribute starting with '_', no unsafe calls."""
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.Undefined)
    env.filters["join_path"] = lambda steps: " -> ".join(str(s) for s in steps or [])
    return env


_ENV = template_environment()

# ----------------------------------------------------------------------------- parsing


_AS_OF = re.compile(r"^as_of\s*(?:([+-])\s*(\d{1,5})\s*([dw]))?$")
_REF_KEYS = {"ref"}


class Context:
    """Parsing state for one policy or derivation: where we are and what is bound."""

    def __init__(
        self,
        document: Document,
        base: tuple[Any, ...],
        label: str,
        types: dict[str, dict[str, FieldType]],
    ):
        self.document = document
        self.base = base
        self.label = label
        self.types = types  # fact type -> fields (base schema + derivations)
        self.problems: list[Problem] = []
        self.aliases: dict[str, str] = {}  # every alias bound anywhere -> fact type

    def line(self, path: tuple[Any, ...]) -> int:
        return self.document.line_of(self.base + path)

    def error(self, path: tuple[Any, ...], message: str, fieldname: str | None = None) -> None:
        shown = fieldname if fieldname is not None else ".".join(str(p) for p in path) or None
        self.problems.append(
            Problem(self.document.file, self.line(path), message, record=self.label, field=shown)
        )


def _literal(ctx: Context, path: tuple[Any, ...], ftype: FieldType, value: Any, op: str) -> Any:
    """Check a literal against the field type (the item type for an operator on list items);
    return it in compiled form (dates as date), or None after reporting the problem."""
    if OPERATORS[op].item and ftype.item:
        ftype = ftype.item
    kind, enum = ftype.kind, ftype.enum
    if kind == "date":
        if isinstance(value, str) and (as_of := _AS_OF.match(value.strip())):
            sign, amount, unit = as_of.groups()
            days = int(amount or 0) * (7 if unit == "w" else 1) * (-1 if sign == "-" else 1)
            return AsOf(days)
        if isinstance(value, dt.datetime):
            ctx.error(path, "expected a date, got a date and time")
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        ctx.error(path, f"expected a date (YYYY-MM-DD) or 'as_of [+|- N d|w]', got {value!r}")
        return None
    if kind == "number":
        if isinstance(value, str):  # YAML 1.1 reads 1.0e25 (no exponent sign) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            ctx.error(path, f"expected a finite number, got {value!r}")
            return None
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            ctx.error(path, f"expected true or false, got {value!r}")
            return None
        return value
    if kind == "str":
        if not isinstance(value, str):
            ctx.error(path, f"expected a string, got {value!r}")
            return None
        if enum and value not in enum:
            ctx.error(path, f"{value!r} is not one of: {', '.join(enum)}")
            return None
        return value
    if value is None or isinstance(value, dict | list):
        ctx.error(path, f"expected a scalar value, got {value!r}")
        return None
    return value


def _ref(
    ctx: Context, path: tuple[Any, ...], raw: Any, scope: dict[str, str], want: FieldType, op: str
) -> Ref | None:
    if not isinstance(raw, str) or "." not in raw:
        ctx.error(path, f"a reference is written 'alias.field', got {raw!r}")
        return None
    alias, _, fieldname = raw.partition(".")
    if alias not in scope:
        ctx.error(
            path, f"'{alias}' is not bound here (bound: {', '.join(sorted(scope)) or 'none'})"
        )
        return None
    ftype = lookup(ctx.types[scope[alias]], fieldname)
    if ftype is None:
        ctx.error(path, f"{scope[alias]} has no field '{fieldname}'")
        return None
    item = OPERATORS[op].item
    if item and ftype.kind in ("list", "any"):
        ctx.error(
            path,
            f"'{op}' compares a list with one value, but {alias}.{fieldname} is "
            f"{'a list' if ftype.kind == 'list' else 'free-form (it may hold a list)'}; "
            "write the values as literals, or compare with a single-valued field",
        )
        return None
    expect = want.item if item and want.item else want
    compatible = ftype.kind == expect.kind or "any" in (ftype.kind, expect.kind)
    if not compatible:
        ctx.error(
            path,
            f"cannot compare {expect.describe()} with {alias}.{fieldname} ({ftype.describe()})",
        )
        return None
    return Ref(alias, fieldname)


def _field_test(
    ctx: Context,
    path: tuple[Any, ...],
    alias: str,
    fieldname: str,
    spec: Any,
    scope: dict[str, str],
) -> Condition | None:
    fact_type = scope[alias]
    ftype = lookup(ctx.types[fact_type], fieldname)
    if ftype is None:
        known = sorted(k for k in ctx.types[fact_type] if not k.endswith("*"))
        hint = _suggest(fieldname, known)
        ctx.error(path, f"{fact_type} has no field '{fieldname}'{hint}")
        return None
    if not isinstance(spec, dict) or (set(spec) & _REF_KEYS and len(spec) == 1):
        spec = {"eq": spec}
    tests: list[Condition] = []
    for op, raw in spec.items():
        here = (*path, op)
        operator = OPERATORS.get(op)
        if operator is None:
            ctx.error(here, f"unknown operator '{op}' (known: {', '.join(OPERATORS)})")
            continue
        if ftype.kind not in operator.field_kinds:
            ctx.error(here, f"operator '{op}' does not apply to {fieldname} ({ftype.describe()})")
            continue
        value: Operand | None
        if operator.operand == "flag":
            if raw is not True and raw is not False:
                ctx.error(here, f"'{op}' takes true or false")
                continue
            if raw is False:
                op = operator.opposite
            value = True
        elif isinstance(raw, dict) and set(raw) == {"ref"}:
            if not operator.refs:
                ctx.error(here, f"operator '{op}' takes literal values, not a reference")
                continue
            value = _ref(ctx, (*here, "ref"), raw["ref"], scope, ftype, op)
            if value is None:
                continue
        elif operator.operand == "values":
            if not isinstance(raw, list) or not raw or len(raw) > 100:
                ctx.error(here, f"'{op}' takes a list of 1 to 100 values")
                continue
            values = [_literal(ctx, (*here, i), ftype, v, op) for i, v in enumerate(raw)]
            if any(v is None or isinstance(v, AsOf) for v in values):
                continue
            value = tuple(dict.fromkeys(values))
        elif operator.operand == "pattern":
            if not isinstance(raw, str):
                ctx.error(here, f"'{op}' takes a string pattern")
                continue
            try:
                re.compile(raw)
            except re.error as exc:
                ctx.error(here, f"invalid regex {raw!r}: {exc}")
                continue
            value = raw
        else:
            value = _literal(ctx, here, ftype, raw, op)
            if value is None:
                continue
        if operator.computed_field is not None and scope[alias] not in FACT_SCHEMA:
            # the facts builder computes the result, and it builds only the registry's facts
            ctx.error(here, f"'{op}' applies to registry records, not to derived facts")
            continue
        tests.append(Test(alias, fieldname, op, value, ftype, ctx.line(here)))
    return tests[0] if len(tests) == 1 else All(tuple(tests))


def _suggest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_where(
    ctx: Context, path: tuple[Any, ...], node: Any, scope: dict[str, str], alias: str | None
) -> Condition:
    """A field-test tree. With ``alias`` keys are that binding's fields, else ``alias.field``."""
    if node is None:
        return TRUE
    if isinstance(node, list):
        return All(tuple(parse_where(ctx, (*path, i), n, scope, alias) for i, n in enumerate(node)))
    if not isinstance(node, dict):
        ctx.error(path, "expected a mapping of field tests")
        return TRUE
    items: list[Condition] = []
    for key, spec in node.items():
        here = (*path, key)
        if key == "all" or key == "any":
            if not isinstance(spec, list) or not spec:
                ctx.error(here, f"'{key}' takes a non-empty list")
                continue
            parts = tuple(parse_where(ctx, (*here, i), n, scope, alias) for i, n in enumerate(spec))
            items.append(All(parts) if key == "all" else AnyOf(parts))
        elif key == "not":
            items.append(Not(parse_where(ctx, here, spec, scope, alias)))
        elif not isinstance(key, str):
            ctx.error(here, f"field names are strings, got {key!r}")
        elif alias is None:
            owner, _, fieldname = key.partition(".")
            if not fieldname:
                ctx.error(here, f"write tests as 'alias.field', got '{key}'")
                continue
            if owner not in scope:
                ctx.error(
                    here,
                    f"'{owner}' is not bound here (bound: {', '.join(sorted(scope)) or 'none'})",
                )
                continue
            test = _field_test(ctx, here, owner, fieldname, spec, scope)
            if test is not None:
                items.append(test)
        else:
            test = _field_test(ctx, here, alias, key, spec, scope)
            if test is not None:
                items.append(test)
    return items[0] if len(items) == 1 else All(tuple(items))


_CONDITION_KEYS = ("all", "any", "not", "exists", "absent", "lineage", "test")


def _binding(
    ctx: Context, path: tuple[Any, ...], node: Any, scope: dict[str, str], lineage: bool
) -> Bind | None:
    if not isinstance(node, dict):
        ctx.error(path, "expected a mapping with 'kind' (and optionally 'as', 'where')")
        return None
    allowed = {"as", "kind", "where"} | ({"via", "from", "min_depth"} if lineage else set())
    for key in node:
        if key not in allowed:
            ctx.error((*path, key), f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
    kind = node.get("kind")
    if lineage and kind not in ("model", "dataset"):
        ctx.error((*path, "kind"), "a lineage ancestor is a 'model' or a 'dataset'")
        return None
    if kind not in ctx.types or str(kind).startswith("$"):
        known = ", ".join(k for k in ctx.types if not k.startswith("$"))
        ctx.error((*path, "kind"), f"unknown record kind {kind!r} (known: {known})")
        return None
    alias = node.get("as", kind)
    if not isinstance(alias, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", alias):
        ctx.error((*path, "as"), f"invalid alias {alias!r} (lower-case letters, digits, _)")
        return None
    if alias in scope or alias in TEMPLATE_GLOBALS:
        ctx.error((*path, "as"), f"alias '{alias}' is already bound; choose another with 'as'")
        return None
    via: tuple[str, ...] | None = None
    origin: str | None = None
    min_depth = 1
    if lineage:
        raw_via = node.get("via")
        relations = {r.value for r in Relation}
        if not isinstance(raw_via, list) or not raw_via:
            ctx.error((*path, "via"), "'via' takes a non-empty list of lineage relations")
            return None
        bad = [r for r in raw_via if r not in relations]
        if bad:
            ctx.error(
                (*path, "via"),
                f"unknown relation {bad[0]!r} (known: {', '.join(sorted(relations))})",
            )
            return None
        via = tuple(sorted(set(raw_via)))
        origin = node.get("from", "model")
        if origin not in scope or scope[origin] not in ("model", "dataset"):
            ctx.error((*path, "from"), f"'from' must name a bound model or dataset, got {origin!r}")
            return None
        min_depth = node.get("min_depth", 1)
        if min_depth not in (0, 1):
            ctx.error((*path, "min_depth"), "'min_depth' is 0 (include the start) or 1")
            return None
    inner = {**scope, alias: kind}
    where = parse_where(ctx, (*path, "where"), node.get("where"), inner, alias)
    ctx.aliases[alias] = kind
    return Bind(alias, kind, where, ctx.line(path), via, origin, min_depth)


def parse_condition(
    ctx: Context, path: tuple[Any, ...], node: Any, scope: dict[str, str]
) -> tuple[Condition, dict[str, str]]:
    """Parse a condition; return it and the scope after it (bindings escape ``all`` only)."""
    if node is None:
        return TRUE, scope
    if isinstance(node, list):
        node = {"all": node}
    if not isinstance(node, dict) or len(node) != 1:
        ctx.error(
            path, f"a condition is a mapping with exactly one of: {', '.join(_CONDITION_KEYS)}"
        )
        return TRUE, scope
    ((key, value),) = node.items()
    here = (*path, key)
    if key == "all":
        if not isinstance(value, list) or not value:
            ctx.error(here, "'all' takes a non-empty list")
            return TRUE, scope
        items: list[Condition] = []
        for index, item in enumerate(value):
            parsed, scope = parse_condition(ctx, (*here, index), item, scope)
            items.append(parsed)
        return All(tuple(items)), scope
    if key == "any":
        if not isinstance(value, list) or not value:
            ctx.error(here, "'any' takes a non-empty list")
            return TRUE, scope
        return AnyOf(
            tuple(parse_condition(ctx, (*here, i), n, scope)[0] for i, n in enumerate(value))
        ), scope
    if key == "not":
        return Not(parse_condition(ctx, here, value, scope)[0]), scope
    if key in ("exists", "absent", "lineage"):
        bind = _binding(ctx, here, value, scope, lineage=key == "lineage")
        if bind is None:
            return TRUE, scope
        if key == "absent":
            return Not(bind), scope
        return bind, {**scope, bind.alias: bind.kind}
    if key == "test":
        return parse_where(ctx, here, value, scope, None), scope
    ctx.error(path, f"unknown condition '{key}' (known: {', '.join(_CONDITION_KEYS)})")
    return TRUE, scope


def parse_template(ctx: Context, text: str, allowed: set[str]) -> jinja2.Template | None:
    """Compile a message template; every name it uses must be in ``allowed``."""
    try:
        tree = _ENV.parse(text)
        template = _ENV.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        ctx.error(
            ("message",),
            f"template syntax error: {exc.message} (template line {exc.lineno})",
            "message",
        )
        return None
    unknown = meta.find_undeclared_variables(tree) - allowed
    if unknown:
        ctx.error(
            ("message",),
            f"template uses unknown name(s) {', '.join(sorted(unknown))} "
            f"(available: {', '.join(sorted(allowed))})",
            "message",
        )
        return None
    return template
