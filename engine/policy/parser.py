"""Policy conditions and message templates: raw policy documents into the AST.

Conditions are parsed into :mod:`aigov.policy.ast` and checked against the fact schema
(:mod:`aigov.policy.schema`) and the operator registry (:mod:`aigov.policy.operators`):
unknown record kinds, misspelt fields, values outside an enum, wrong operand types, invalid
regexes and template errors are reported as problems with ``file:line``, the entry's label
and field, all together. The loader (:mod:`aigov.policy.loader`) drives it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import inspect
import math
import re
import string
import time
from collections.abc import Iterator
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

from aigov.documents import Document
from aigov.errors import Problem, shown
from aigov.policy.ast import TRUE, All, AnyOf, AsOf, Bind, Condition, Not, Operand, Ref, Test
from aigov.policy.operators import OPERATORS, compile_regex, literal_pattern
from aigov.policy.schema import ANY, CHILD_FACTS, FACT_SCHEMA, FieldType, lookup
from aigov.registry.licences import normalise_licence
from aigov.registry.records import Relation

# ----------------------------------------------------------------------------- templates

# ``matched``: alias -> every distinct record the finding's matches bound to it, so that a
# message can name all the records it is about, not only the first match's
TEMPLATE_GLOBALS = ("as_of", "policy", "subject", "path", "matched")

# What one message template may build while it renders (checked before each operation that
# could exceed it, so that nothing too big is ever allocated): the length of any string or
# list (and of the message), the loop iterations of one rendering, the size of integers,
# and a wall-clock backstop for work no single check sees.
MAX_TEMPLATE_SIZE = 100_000
MAX_TEMPLATE_ITERATIONS = 10_000
MAX_TEMPLATE_INT_BITS = 10_000
MAX_TEMPLATE_SECONDS = 5.0
# Statements a message may use; the others (set, macro, call, include, ...) could build
# state or recurse, and a message needs neither.
_ALLOWED_STATEMENTS = (nodes.Output, nodes.If, nodes.For)
_STATEMENT_TAGS = {
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.FilterBlock: "filter",
    nodes.With: "with",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from",
    nodes.Extends: "extends",
    nodes.Block: "block",
    nodes.ScopedEvalContextModifier: "autoescape",
}
_LOOP_GUARD = "aigov_loop_guard"


class TemplateBudgetError(Exception):
    """A message template tried to build more than its budget allows."""


class _Budget:
    """The budget of one rendering: loop iterations used and the deadline."""

    def __init__(self, seconds: float | None) -> None:
        self.iterations = 0
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"rendering took longer than {MAX_TEMPLATE_SECONDS:g} s")

    def tick(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_TEMPLATE_ITERATIONS:
            raise TemplateBudgetError(
                f"loops ran more than {MAX_TEMPLATE_ITERATIONS} iterations in one message"
            )
        if self.iterations % 64 == 0:
            self.check_time()


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "aigov_template_budget", default=None
)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # outside render_message (checking constants at load): sizes only
        budget = _Budget(None)
    return budget


def _check_size(size: int, what: str) -> None:
    if size > MAX_TEMPLATE_SIZE:
        raise TemplateBudgetError(
            f"{what} would be {size:,} long (at most {MAX_TEMPLATE_SIZE:,} characters or items)"
        )


def _check_result(value: Any, what: str) -> Any:
    if isinstance(value, str | bytes | list | tuple):
        _check_size(len(value), what)
    elif isinstance(value, int) and value.bit_length() > MAX_TEMPLATE_INT_BITS:
        raise TemplateBudgetError(f"{what} is a number of more than {MAX_TEMPLATE_INT_BITS} bits")
    return value


def _check_count(value: Any, what: str) -> None:
    """A width, count or repeat argument: an integer at most MAX_TEMPLATE_SIZE."""
    if isinstance(value, int) and value > MAX_TEMPLATE_SIZE:
        raise TemplateBudgetError(f"{what} {value:,} is larger than {MAX_TEMPLATE_SIZE:,}")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(fmt: str) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise TemplateBudgetError("'%' formats with a '*' width are not allowed")
            if part is not None:
                _check_count(int(part), "the '%' format width")


def _check_brace_format(fmt: str) -> None:
    for _literal_text, _name, spec, _conversion in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise TemplateBudgetError("format specs with nested '{...}' fields are not allowed")
        for digits in re.findall(r"\d+", spec):
            _check_count(int(digits), "the format width")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else len(str(value))


def _replaced_size(text: str, old: str, new: str, count: int | None) -> int:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _check_string_method(obj: str | bytes, name: str, args: tuple[Any, ...], kwargs: Any) -> Any:
    """Check a str (or bytes) method call before it runs; return the items of a ``join``."""
    params = {**dict(enumerate(args)), **kwargs}
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_count(params.get(0, params.get("width")), f"the width of {name}()")
    elif name == "expandtabs":
        size = params.get(0, params.get("tabsize", 8))
        if isinstance(size, int):
            tabs = obj.count("\t") if isinstance(obj, str) else obj.count(b"\t")
            _check_size(len(obj) + tabs * size, name)
    elif name == "replace" and isinstance(obj, str):
        old, new = params.get(0, params.get("old")), params.get(1, params.get("new"))
        count = params.get(2, params.get("count"))
        if isinstance(old, str) and isinstance(new, str):
            _check_size(_replaced_size(obj, old, new, count), "the result of replace()")
    elif name == "join" and args:
        items = list(args[0])
        _check_size(sum(_sized(i) for i in items) + len(obj) * max(len(items) - 1, 0), "join()")
        return items
    elif name in ("format", "format_map") and isinstance(obj, str):
        _check_brace_format(obj)
    return None


def _bounded_filter(name: str, func: Any) -> Any:
    """``func`` (a Jinja filter), checked before it runs and on what it returns."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0
    signature = inspect.signature(func)
    positional = list(signature.parameters)[skip:]

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _budget().check_time()
        head, rest = list(args[:skip]), list(args[skip:])
        params = {**dict(zip(positional, rest, strict=False)), **kwargs}
        value = rest[0] if rest else None
        if name == "center":
            _check_count(params.get("width", 80), "the width of center")
        elif name == "indent":
            width = params.get("width", 4)
            pad = len(width) if isinstance(width, str) else width
            if isinstance(value, str) and isinstance(pad, int):
                _check_size(len(value) + (value.count("\n") + 1) * pad, "the result of indent")
        elif name == "format" and isinstance(value, str):
            _check_percent_format(value)
        elif name == "replace" and isinstance(value, str):
            old, new = params.get("old"), params.get("new")
            if isinstance(old, str) and isinstance(new, str):
                size = _replaced_size(value, old, new, params.get("count"))
                _check_size(size, "the result of replace")
        elif name == "join" and value is not None and "attribute" not in params:
            items = list(value)
            sep = params.get("d", "")
            size = sum(_sized(i) for i in items) + _sized(sep) * max(len(items) - 1, 0)
            _check_size(size, "the result of join")
            rest[0] = items
        elif name == "batch" and params.get("fill_with") is not None:
            _check_count(params.get("linecount"), "the batch size")
        elif name == "slice":
            _check_count(params.get("slices"), "the number of slices")
        elif name == "tojson":
            indent = params.get("indent")
            if isinstance(indent, int) and indent > 16:
                raise TemplateBudgetError(f"tojson indent {indent} is larger than 16")
        elif name == "wordwrap" and isinstance(value, str):
            wrap = params.get("wrapstring") or "\n"
            width = params.get("width", 79)
            if isinstance(width, int) and isinstance(wrap, str):
                lines = len(value) // max(width, 1) + value.count(" ") + 1
                _check_size(len(value) + lines * len(wrap), "the result of wordwrap")
        elif name == "sum" and value is not None and "attribute" not in params:
            items = list(value)
            _check_size(sum(_sized(i) for i in items if isinstance(i, list | tuple)), "sum")
            rest[0] = items
        elif name == "round":
            precision = params.get("precision", 0)
            if isinstance(precision, int) and abs(precision) > 400:
                raise TemplateBudgetError(f"round precision {precision} is out of range")
        result = func(*head, *rest, **kwargs)
        if isinstance(result, Iterator):  # batch, slice, ...: materialised, so it is bounded
            result = list(result)
        return _check_result(result, f"the result of the {name} filter")

    return bounded


def _bounded_range(*args: Any) -> range:
    values = range(*args)
    if len(values) > MAX_TEMPLATE_ITERATIONS:
        raise TemplateBudgetError(
            f"range of {len(values):,} numbers (at most {MAX_TEMPLATE_ITERATIONS:,})"
        )
    return values


def _loop_guard(iterable: Any) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.tick()
        yield item


class _NoFoldingCodeGenerator(CodeGenerator):
    """Evaluates nothing at compile time but plain template text: Jinja folds constant
    expressions (``'x' * 1000000000``) while compiling, outside every runtime check."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> str:
        if isinstance(node, nodes.TemplateData):
            return super()._output_child_to_const(node, frame, finalize)
        raise nodes.Impossible()


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with a budget: no operator, method or filter builds a value
    larger than MAX_TEMPLATE_SIZE, loops are counted, and nothing is folded at compile time.
    Over-budget work raises :class:`TemplateBudgetError`."""

    code_generator_class = _NoFoldingCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().check_time()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                    _check_size(len(seq) * max(times, 0), "a repeated string or list")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_TEMPLATE_INT_BITS
            ):
                raise TemplateBudgetError("a product is too large a number")
        elif operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and left.bit_length() * right > MAX_TEMPLATE_INT_BITS
            ):
                raise TemplateBudgetError(f"{left} ** {right} is too large a number")
        elif operator == "+":
            if isinstance(left, str | bytes | list | tuple) and isinstance(
                right, str | bytes | list | tuple
            ):
                _check_size(len(left) + len(right), "a concatenation")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        result = super().call_binop(context, operator, left, right)
        return _check_result(result, f"the result of '{operator}'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().check_time()
        # the sandbox hands out str.format wrapped (it formats through a safe formatter)
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str | bytes) and callable(method):
            items = _check_string_method(owner, method.__name__, args, kwargs)
            if items is not None:
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, Iterator) and not isinstance(result, str):
            result = list(result)
        return _check_result(result, "the result of a call")


def template_environment() -> BoundedSandbox:
    """Messages render in a bounded sandbox: no attribute starting with '_', no unsafe calls,
    no mutation, and a budget on what a template may build (:class:`BoundedSandbox`)."""
    env = BoundedSandbox(autoescape=False, undefined=jinja2.Undefined, optimized=False)
    env.filters["join_path"] = lambda steps: " -> ".join(str(s) for s in steps or [])
    env.filters = {name: _bounded_filter(name, func) for name, func in env.filters.items()}
    # no lipsum (amplifies), namespace (mutable state), cycler or joiner
    env.globals = {"range": _bounded_range, "dict": dict, _LOOP_GUARD: _loop_guard}
    return env


_ENV = template_environment()


def render_message(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render a message template within its budget (raises :class:`TemplateBudgetError`)."""
    token = _BUDGET.set(_Budget(MAX_TEMPLATE_SECONDS))
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            _check_size(size, "the message")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _BUDGET.reset(token)


# ----------------------------------------------------------------------------- parsing


# operators whose reference operand is a list field (membership of the tested value, or a
# shared item)
_LIST_OPERAND = ("in", "not_in", "intersects", "contains_all")
# operators that match a literal as part of the field: never checked against its enum
_PARTIAL = ("prefix", "suffix", "contains", "regex")
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
        # an alias bound in several branches of 'any' may name a different type in each
        self.alias_kinds: dict[str, set[str]] = {}

    def line(self, path: tuple[Any, ...]) -> int:
        return self.document.line_of(self.base + path)

    def error(self, path: tuple[Any, ...], message: str, fieldname: str | None = None) -> None:
        shown = fieldname if fieldname is not None else ".".join(str(p) for p in path) or None
        self.problems.append(
            Problem(self.document.file, self.line(path), message, record=self.label, field=shown)
        )


def _literal(
    ctx: Context, path: tuple[Any, ...], ftype: FieldType, value: Any, op: str, exact: bool = True
) -> Any:
    """Check a literal against the field type (the item type for an operator on list items);
    return it in compiled form (dates as date), or None after reporting the problem. A text
    that is matched as part of the field, or without regard to case (not ``exact``), is not
    checked against the field's enum."""
    if OPERATORS[op].item and ftype.item:
        ftype = ftype.item
    kind, enum = ftype.kind, ftype.enum if exact else None
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
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.error(path, f"expected a finite number, got {shown(value)}")
            return None
        if isinstance(value, int) and not -(2**1023) < value < 2**1023:
            ctx.error(path, f"number too large: {shown(value)}")
            return None
        if not math.isfinite(value):
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
        if ftype.licence and exact:
            try:
                return normalise_licence(value)
            except ValueError as exc:
                ctx.error(path, str(exc))
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
    if op in _LIST_OPERAND:
        if ftype.kind not in ("list", "any"):
            ctx.error(
                path,
                f"'{op}' with a reference takes a list field, but {alias}.{fieldname} is "
                f"{ftype.describe()}",
            )
            return None
        mine = want.item if op in ("intersects", "contains_all") and want.item else want
        theirs = ftype.item or ANY
        if mine.kind != theirs.kind and "any" not in (mine.kind, theirs.kind):
            ctx.error(
                path,
                f"cannot compare {mine.describe()} with the items of {alias}.{fieldname} "
                f"({theirs.describe()})",
            )
            return None
        return Ref(alias, fieldname)
    item = OPERATORS[op].item and want.kind == "list"
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
    ignore_case = spec.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        ctx.error((*path, "ignore_case"), "'ignore_case' takes true or false")
        ignore_case = False
    if ignore_case and ftype.kind not in ("str", "list", "any"):
        ctx.error(
            (*path, "ignore_case"),
            f"'ignore_case' applies to text, not to {fieldname} ({ftype.describe()})",
        )
        ignore_case = False
    spec = {op: raw for op, raw in spec.items() if op != "ignore_case"}
    if not spec:
        ctx.error(path, "'ignore_case' qualifies an operator; none is given")
        return None
    tests: list[Condition] = []
    for op, raw in spec.items():
        here = (*path, op)
        operator = OPERATORS.get(op)
        if operator is None:
            ctx.error(here, f"unknown operator '{op}' (known: ignore_case, {', '.join(OPERATORS)})")
            continue
        if ftype.kind not in operator.field_kinds:
            ctx.error(here, f"operator '{op}' does not apply to {fieldname} ({ftype.describe()})")
            continue
        if ftype.partial and op in ("in", "not_in"):
            ctx.error(
                here,
                f"'{op}' does not apply to {fieldname}: it may be known to the month or year "
                "only, where a list of days has no certain answer (use eq/ne, or lt/le/gt/ge)",
            )
            continue
        if ignore_case and not operator.folds:
            ctx.error((*path, "ignore_case"), f"'ignore_case' does not apply to '{op}'")
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
            values = [
                _literal(ctx, (*here, i), ftype, v, op, not ignore_case) for i, v in enumerate(raw)
            ]
            if any(v is None or isinstance(v, AsOf) for v in values):
                continue
            value = tuple(dict.fromkeys(values))
        elif operator.operand == "pattern":
            if not isinstance(raw, str):
                ctx.error(here, f"'{op}' takes a string pattern")
                continue
            try:
                compile_regex(raw)
            except ValueError as exc:
                ctx.error(here, f"invalid regex {raw!r}: {exc}")
                continue
            value = raw
        else:
            exact = not ignore_case and not (op in _PARTIAL and ftype.kind != "list")
            value = _literal(ctx, here, ftype, raw, op, exact)
            if value is None:
                continue
        by_ref = isinstance(value, Ref)
        if (
            not by_ref
            and literal_pattern(op, ftype.kind, value, ignore_case) is not None
            and scope[alias] not in FACT_SCHEMA
        ):
            # the facts builder computes the result, and it builds only the registry's facts
            ctx.error(here, f"'{op}' applies to registry records, not to derived facts")
            continue
        tests.append(Test(alias, fieldname, op, value, ftype, ctx.line(here), ignore_case))
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
    ctx.alias_kinds.setdefault(alias, set()).add(kind)
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
        branches = [parse_condition(ctx, (*here, i), n, scope) for i, n in enumerate(value)]
        # An alias that every branch binds, to the same kind, stays bound after the 'any'
        # (each branch is compiled as a rule of its own, and each binds it).
        common = {
            alias: kind
            for alias, kind in branches[0][1].items()
            if alias not in scope and all(b[1].get(alias) == kind for b in branches[1:])
        }
        return AnyOf(tuple(condition for condition, _ in branches)), {**scope, **common}
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


def parse_template(
    ctx: Context, text: str, allowed: set[str], subject_kind: str | None = None
) -> jinja2.Template | None:
    """Compile a message template; every name it uses must be in ``allowed``, every field
    it reads from a record must exist, and its constant parts must be within the budget."""
    try:
        tree = _ENV.parse(text)
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
    problems = _template_problems(ctx, tree, subject_kind)
    for message in dict.fromkeys(problems):
        ctx.error(("message",), message, "message")
    if problems:
        return None
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(
            nodes.Name(_LOOP_GUARD, "load", lineno=loop.lineno),
            [loop.iter],
            [],
            None,
            None,
            lineno=loop.lineno,
        )
    return _ENV.from_string(tree)


def _template_problems(ctx: Context, tree: nodes.Template, subject_kind: str | None) -> list[str]:
    """What is wrong with a parsed template: statements a message may not use, fields its
    records do not have, and constant parts over the budget."""
    problems: list[str] = []
    for node in tree.find_all(nodes.Stmt):
        if isinstance(node, _ALLOWED_STATEMENTS):
            if isinstance(node, nodes.For) and node.recursive:
                problems.append("recursive loops are not allowed in message templates")
            continue
        tag = _STATEMENT_TAGS.get(type(node), type(node).__name__.lower())
        problems.append(
            f"'{{% {tag} %}}' is not allowed in message templates (only 'if' and 'for')"
        )
    shadowed = {
        name.name for loop in tree.find_all(nodes.For) for name in loop.target.find_all(nodes.Name)
    }
    kinds = {
        alias: {kind} | ctx.alias_kinds.get(alias, set()) for alias, kind in ctx.aliases.items()
    }
    if subject_kind:
        kinds["subject"] = {subject_kind}
    for attribute in tree.find_all(nodes.Getattr):
        path = _attribute_path(attribute)
        if path is None or path[0] in shadowed:
            continue
        alias, fields = path[0], path[1:]
        if alias == "policy":
            if fields[0] not in ("id", "title", "severity"):
                hint = _suggest(fields[0], ["id", "severity", "title"])
                problems.append(f"policy has no field '{fields[0]}'{hint}")
        elif alias in kinds:
            found = [
                _field_problem(_template_fields(ctx, kind), kind, alias, fields)
                for kind in sorted(kinds[alias])
                if kind in ctx.types
            ]
            if found and all(found):
                problems.append(" / ".join(p for p in found if p))
    for product in tree.find_all(nodes.Mul):
        problem = _repeat_problem(ctx, product, kinds)
        if problem:
            problems.append(problem)
    for call in tree.find_all((nodes.Filter, nodes.Call)):
        problem = _padding_problem(call)
        if problem:
            problems.append(problem)
    for fmt, check in _format_strings(tree):
        try:
            check(fmt)
        except TemplateBudgetError as exc:
            problems.append(f"template exceeds its budget: {exc}")
    for expression in tree.find_all((nodes.BinExpr, nodes.Filter, nodes.Call)):
        try:
            _constant(expression)
        except TemplateBudgetError as exc:
            problems.append(f"template exceeds its budget: {exc}")
        except Exception:  # not constant, or an error the rendering reports
            continue
    return problems


def _repeat_problem(ctx: Context, node: nodes.Mul, kinds: dict[str, set[str]]) -> str | None:
    """``field * N`` with N over the budget, for a string or list field."""
    for seq, times in ((node.left, node.right), (node.right, node.left)):
        if not isinstance(times, nodes.Const) or not isinstance(times.value, int):
            continue
        if times.value <= MAX_TEMPLATE_SIZE or not isinstance(seq, nodes.Getattr):
            continue
        path = _attribute_path(seq)
        if path is None or path[0] not in kinds:
            continue
        name = ".".join(path[1:])
        for kind in kinds[path[0]]:
            ftype = lookup(_template_fields(ctx, kind), name) if kind in ctx.types else None
            if ftype is not None and ftype.kind in ("str", "list"):
                return (
                    f"template exceeds its budget: {path[0]}.{name} * {times.value:,} would be "
                    f"more than {MAX_TEMPLATE_SIZE:,} long"
                )
    return None


_PADDING = ("center", "ljust", "rjust", "zfill")


def _padding_problem(node: nodes.Node) -> str | None:
    """A padding filter or method (``center``, ``ljust``, ...) with a constant width over the
    budget, whatever it pads."""
    if isinstance(node, nodes.Filter):
        name = node.name
    elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        name = node.node.attr
    else:
        return None
    if name not in _PADDING:
        return None
    widths = [*node.args[:1], *(kw.value for kw in node.kwargs if kw.key == "width")]
    for width in widths:
        if (
            isinstance(width, nodes.Const)
            and isinstance(width.value, int)
            and width.value > MAX_TEMPLATE_SIZE
        ):
            return (
                f"template exceeds its budget: the width of {name} {width.value:,} is larger "
                f"than {MAX_TEMPLATE_SIZE:,}"
            )
    return None


def _format_strings(tree: nodes.Template) -> Iterator[tuple[str, Any]]:
    """Constant format strings (``'%5s' % x``, ``'%5s'|format(x)``, ``'{:5}'.format(x)``)
    with the check of their widths, whatever they format."""
    for node in tree.find_all((nodes.Mod, nodes.Filter, nodes.Call)):
        target: nodes.Node | None
        if isinstance(node, nodes.Mod):
            target, check = node.left, _check_percent_format
        elif isinstance(node, nodes.Filter):
            if node.name != "format":
                continue
            target, check = node.node, _check_percent_format
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in ("format", "format_map")
        ):
            target, check = node.node.node, _check_brace_format
        else:
            continue
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            yield target.value, check


def _template_fields(ctx: Context, kind: str) -> dict[str, FieldType]:
    """The fields a template sees in a record of ``kind``: its facts' fields and the lists
    that become child facts (``approval.evidence``), which the record keeps."""
    fields = dict(ctx.types[kind])
    for (parent, name), _child in CHILD_FACTS.items():
        if parent == kind:
            fields[name] = FieldType("list", item=ANY)
    return fields


def _attribute_path(node: nodes.Getattr) -> list[str] | None:
    """``alias.a.b`` as ``[alias, a, b]`` for the outermost attribute chain on a name."""
    parts: list[str] = []
    current: nodes.Node = node
    while isinstance(current, nodes.Getattr):
        parts.append(current.attr)
        current = current.node
    if not isinstance(current, nodes.Name):
        return None
    return [current.name, *reversed(parts)]


def _field_problem(
    fields: dict[str, FieldType], kind: str, alias: str, path: list[str]
) -> str | None:
    """The problem with reading ``alias.path`` from a record of ``kind``, if any: the first
    part that is not a field (methods of the value after a field are its own business)."""
    for depth in range(1, len(path) + 1):
        name = ".".join(path[:depth])
        if lookup(fields, name) is not None:
            return None
        if any(key.startswith(name + ".") for key in fields):
            continue  # a nested object: look at the next part
        if depth == 1 and hasattr(dict, path[0]):
            return None  # a method of the record (items, get, ...)
        prefix = ".".join(path[: depth - 1])
        known = sorted(
            {
                key[len(prefix) + 1 if prefix else 0 :].split(".")[0]
                for key in fields
                if (not prefix or key.startswith(prefix + ".")) and not key.endswith("*")
            }
        )
        hint = _suggest(path[depth - 1], known)
        return f"template reads {alias}.{'.'.join(path)}: {kind} has no field '{name}'{hint}"
    return None


class _NotConstant(Exception):
    pass


def _constant(node: nodes.Node) -> Any:
    """The value of a constant expression, computed with the budget checks of the sandbox
    (raises :class:`_NotConstant` when it depends on the records)."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        return [_constant(item) for item in node.items]
    if isinstance(node, nodes.BinExpr):
        left, right = _constant(node.left), _constant(node.right)
        return _ENV.call_binop(None, node.operator, left, right)
    if isinstance(node, nodes.Filter) and node.node is not None:
        dynamic = node.dyn_args is not None or node.dyn_kwargs is not None
        if dynamic or node.name not in _ENV.filters:
            raise _NotConstant
        func = _ENV.filters[node.name]
        head: list[Any] = []
        pass_arg = getattr(func, "jinja_pass_arg", None)
        if pass_arg is not None:
            if pass_arg.name == "context":
                raise _NotConstant
            head = [_ENV] if pass_arg.name == "environment" else [nodes.EvalContext(_ENV)]
        args = [_constant(arg) for arg in node.args]
        kwargs = {str(kw.key): _constant(kw.value) for kw in node.kwargs}
        return func(*head, _constant(node.node), *args, **kwargs)
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        if node.node.name != "range" or node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise _NotConstant
        return _bounded_range(*[_constant(arg) for arg in node.args])
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _NotConstant
        owner = _constant(node.node.node)
        method = _ENV.getattr(owner, node.node.attr)
        args = [_constant(arg) for arg in node.args]
        kwargs = {str(kw.key): _constant(kw.value) for kw in node.kwargs}
        return _ENV.call(_STATIC_CONTEXT, method, *args, **kwargs)
    raise _NotConstant


_STATIC_CONTEXT = _ENV.from_string("").new_context()
