"""Policy documents: parsing and validation into typed objects (the "parse" stage).

A policy file (YAML or JSON) holds one policy, or a mapping with ``policies:`` and/or
``derivations:`` lists. Metadata is validated by pydantic; conditions are parsed into the
small AST below and checked against the fact schema (:mod:`aigov.policy.schema`): unknown record
kinds, misspelt fields, values outside an enum, wrong operand types, invalid regexes and
template errors are all reported together with ``file:line``, policy id and field.

Files ending in ``.test.yaml`` (``.test.yml``, ``.test.json``) are policy tests, not
policies; :mod:`aigov.api.policy_tests` reads them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aigov.documents import Document, iter_input_files, parse_file, read_text
from aigov.errors import InputError, Problem
from aigov.policy.schema import FACT_SCHEMA, FieldType, lookup
from aigov.registry.interchange import validation_problems
from aigov.registry.records import Relation
from aigov.results.severity import Family, Severity

TEST_SUFFIXES = (".test.yaml", ".test.yml", ".test.json")


# ----------------------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Ref:
    """A join: the value of ``alias.field`` in the same match."""

    alias: str
    field: str

    def __str__(self) -> str:
        return f"{self.alias}.{self.field}"


@dataclass(frozen=True)
class AsOf:
    """The evaluation date plus an offset in days."""

    days: int = 0

    def __str__(self) -> str:
        if not self.days:
            return "as_of"
        return f"as_of {'+' if self.days > 0 else '-'} {abs(self.days)}d"


Operand = Any  # a literal (str, number, bool, date, list) | Ref | AsOf


@dataclass(frozen=True)
class Test:
    """``alias.field <op> value``."""

    alias: str
    field: str
    op: str
    value: Operand
    ftype: FieldType
    line: int

    def refs(self) -> set[str]:
        return {self.value.alias} if isinstance(self.value, Ref) else set()

    def describe(self) -> str:
        shown = (
            self.value
            if isinstance(self.value, Ref | AsOf)
            else json.dumps(self.value, default=str, ensure_ascii=False)
        )
        if self.op in ("exists", "missing"):
            return f"{self.alias}.{self.field} {self.op}"
        return f"{self.alias}.{self.field} {self.op} {shown}"


@dataclass(frozen=True)
class All:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Bind:
    """Some fact of type ``kind`` (named ``alias``) satisfies ``where``.

    For lineage bindings (``via`` set), the fact is an ancestor of ``origin`` reached through
    lineage edges whose relation is in ``via``, at a depth of at least ``min_depth``.
    """

    alias: str
    kind: str
    where: Any  # a tree of All/AnyOf/Not/Test over this alias (may reference earlier aliases)
    line: int
    via: tuple[str, ...] | None = None
    origin: str | None = None
    min_depth: int = 1

    @property
    def is_lineage(self) -> bool:
        return self.via is not None


TRUE = All(())


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(strict=True, min_length=1)]
    section: Annotated[str, StringConstraints(strict=True)] | None = None
    url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$")]


PolicyId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")]
Alias = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class SubjectDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    alias: Alias | None = Field(default=None, alias="as")
    kind: Literal["model", "deployment", "approval", "waiver"]
    where: Any = None


class PolicyDoc(BaseModel):
    """A policy as written (metadata validated; conditions still raw)."""

    model_config = ConfigDict(extra="forbid")
    id: PolicyId
    title: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(strict=True, min_length=1)]
    family: Family
    severity: Severity
    references: list[Reference] = []
    remediation: Annotated[str, StringConstraints(strict=True, min_length=1)]
    message: Annotated[str, StringConstraints(strict=True, min_length=1)]
    enabled: bool = True
    tags: list[Annotated[str, StringConstraints(strict=True, min_length=1)]] = []
    subject: SubjectDoc
    requires: list[Annotated[str, StringConstraints(strict=True)]] = []
    when: Any = None
    review_if: Any = None
    outcome: Literal["fail", "review"] = "fail"


class DerivationDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    description: Annotated[str, StringConstraints(strict=True, min_length=1)]
    fields: dict[Alias, Annotated[str, StringConstraints(strict=True)]]
    when: Any


_Doc = TypeVar("_Doc", PolicyDoc, DerivationDoc)


@dataclass
class Derivation:
    """A rule that asserts derived facts (forward chaining) other policies can match."""

    id: str
    description: str
    fields: dict[str, Ref]
    when: Any
    file: str
    line: int


@dataclass
class Policy:
    """A validated policy, ready to compile."""

    doc: PolicyDoc
    file: str
    line: int
    subject: Bind
    requires: list[Ref]
    when: Any
    review_if: Any
    template: jinja2.Template

    @property
    def id(self) -> str:
        return self.doc.id

    @property
    def builtin(self) -> bool:
        """Shipped with the engine (engine/builtin), not loaded from the user's files."""
        return self.file.startswith("<builtin>")

    @property
    def severity(self) -> Severity:
        return self.doc.severity


@dataclass
class PolicySet:
    policies: list[Policy]
    derivations: list[Derivation]
    digest: str

    def by_id(self) -> dict[str, Policy]:
        return {p.id: p for p in self.policies}

    @property
    def enabled(self) -> list[Policy]:
        return [p for p in self.policies if p.doc.enabled]


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


@dataclass(frozen=True)
class OperatorSpec:
    """What an operator accepts: field kinds, and whether the operand may be a reference."""

    field_kinds: tuple[str, ...]
    refs: bool = True
    literal_list: bool = False


OPERATORS: dict[str, OperatorSpec] = {
    "eq": OperatorSpec(("str", "number", "bool", "date", "any")),
    "ne": OperatorSpec(("str", "number", "bool", "date", "any")),
    "in": OperatorSpec(("str", "number", "date", "any"), refs=False, literal_list=True),
    "not_in": OperatorSpec(("str", "number", "date", "any"), refs=False, literal_list=True),
    "lt": OperatorSpec(("number", "date", "any")),
    "le": OperatorSpec(("number", "date", "any")),
    "gt": OperatorSpec(("number", "date", "any")),
    "ge": OperatorSpec(("number", "date", "any")),
    "regex": OperatorSpec(("str", "any"), refs=False),
    "exists": OperatorSpec(("str", "number", "bool", "date", "list", "any"), refs=False),
    "missing": OperatorSpec(("str", "number", "bool", "date", "list", "any"), refs=False),
    "contains": OperatorSpec(("list",)),
}


class _Context:
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


def _literal(ctx: _Context, path: tuple[Any, ...], ftype: FieldType, value: Any, op: str) -> Any:
    """Check a literal against the field type; return it in compiled form (dates as date)."""
    kind = ftype.item.kind if op == "contains" and ftype.item else ftype.kind
    enum = ftype.item.enum if op == "contains" and ftype.item else ftype.enum
    if kind == "date":
        if isinstance(value, str) and _AS_OF.match(value.strip()):
            sign, amount, unit = _AS_OF.match(value.strip()).groups()  # type: ignore[union-attr]
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
    ctx: _Context, path: tuple[Any, ...], raw: Any, scope: dict[str, str], want: FieldType, op: str
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
    if op == "contains" and ftype.kind in ("list", "any"):
        ctx.error(
            path,
            f"'contains' compares a list with one value, but {alias}.{fieldname} is "
            f"{'a list' if ftype.kind == 'list' else 'free-form (it may hold a list)'}; "
            "write the values as literals, or compare with a single-valued field",
        )
        return None
    expect = want.item if op == "contains" and want.item else want
    compatible = ftype.kind == expect.kind or "any" in (ftype.kind, expect.kind)
    if not compatible:
        ctx.error(
            path,
            f"cannot compare {expect.describe()} with {alias}.{fieldname} ({ftype.describe()})",
        )
        return None
    return Ref(alias, fieldname)


def _field_test(
    ctx: _Context,
    path: tuple[Any, ...],
    alias: str,
    fieldname: str,
    spec: Any,
    scope: dict[str, str],
) -> Any:
    fact_type = scope[alias]
    ftype = lookup(ctx.types[fact_type], fieldname)
    if ftype is None:
        known = sorted(k for k in ctx.types[fact_type] if not k.endswith("*"))
        hint = _suggest(fieldname, known)
        ctx.error(path, f"{fact_type} has no field '{fieldname}'{hint}")
        return None
    if not isinstance(spec, dict) or (set(spec) & _REF_KEYS and len(spec) == 1):
        spec = {"eq": spec}
    tests = []
    for op, raw in spec.items():
        here = (*path, op)
        if op not in OPERATORS:
            ctx.error(here, f"unknown operator '{op}' (known: {', '.join(OPERATORS)})")
            continue
        operator = OPERATORS[op]
        if ftype.kind not in operator.field_kinds:
            ctx.error(here, f"operator '{op}' does not apply to {fieldname} ({ftype.describe()})")
            continue
        value: Any
        if op in ("exists", "missing"):
            if raw is not True and raw is not False:
                ctx.error(here, f"'{op}' takes true or false")
                continue
            if raw is False:
                op = "missing" if op == "exists" else "exists"
            value = True
        elif isinstance(raw, dict) and set(raw) == {"ref"}:
            if not operator.refs:
                ctx.error(here, f"operator '{op}' takes literal values, not a reference")
                continue
            value = _ref(ctx, (*here, "ref"), raw["ref"], scope, ftype, op)
            if value is None:
                continue
        elif operator.literal_list:
            if not isinstance(raw, list) or not raw or len(raw) > 100:
                ctx.error(here, f"'{op}' takes a list of 1 to 100 values")
                continue
            values = [_literal(ctx, (*here, i), ftype, v, op) for i, v in enumerate(raw)]
            if any(v is None or isinstance(v, AsOf) for v in values):
                continue
            value = tuple(dict.fromkeys(values))
        elif op == "regex":
            if not isinstance(raw, str):
                ctx.error(here, "'regex' takes a string pattern")
                continue
            try:
                re.compile(raw)
            except re.error as exc:
                ctx.error(here, f"invalid regex {raw!r}: {exc}")
                continue
            if scope[alias] not in FACT_SCHEMA:
                ctx.error(here, "'regex' applies to registry records, not to derived facts")
                continue
            tests.append(Test(alias, fieldname, op, raw, ftype, ctx.line(here)))
            continue
        else:
            value = _literal(ctx, here, ftype, raw, op)
            if value is None:
                continue
        tests.append(Test(alias, fieldname, op, value, ftype, ctx.line(here)))
    return tests[0] if len(tests) == 1 else All(tuple(tests))


def _suggest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _where(
    ctx: _Context, path: tuple[Any, ...], node: Any, scope: dict[str, str], alias: str | None
) -> Any:
    """A field-test tree. With ``alias`` keys are that binding's fields, else ``alias.field``."""
    if node is None:
        return TRUE
    if isinstance(node, list):
        return All(tuple(_where(ctx, (*path, i), n, scope, alias) for i, n in enumerate(node)))
    if not isinstance(node, dict):
        ctx.error(path, "expected a mapping of field tests")
        return TRUE
    items: list[Any] = []
    for key, spec in node.items():
        here = (*path, key)
        if key == "all" or key == "any":
            if not isinstance(spec, list) or not spec:
                ctx.error(here, f"'{key}' takes a non-empty list")
                continue
            parts = tuple(_where(ctx, (*here, i), n, scope, alias) for i, n in enumerate(spec))
            items.append(All(parts) if key == "all" else AnyOf(parts))
        elif key == "not":
            items.append(Not(_where(ctx, here, spec, scope, alias)))
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
    ctx: _Context, path: tuple[Any, ...], node: Any, scope: dict[str, str], lineage: bool
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
    where = _where(ctx, (*path, "where"), node.get("where"), inner, alias)
    ctx.aliases[alias] = kind
    return Bind(alias, kind, where, ctx.line(path), via, origin, min_depth)


def _condition(
    ctx: _Context, path: tuple[Any, ...], node: Any, scope: dict[str, str]
) -> tuple[Any, dict[str, str]]:
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
        items = []
        for index, item in enumerate(value):
            parsed, scope = _condition(ctx, (*here, index), item, scope)
            items.append(parsed)
        return All(tuple(items)), scope
    if key == "any":
        if not isinstance(value, list) or not value:
            ctx.error(here, "'any' takes a non-empty list")
            return TRUE, scope
        return AnyOf(
            tuple(_condition(ctx, (*here, i), n, scope)[0] for i, n in enumerate(value))
        ), scope
    if key == "not":
        return Not(_condition(ctx, here, value, scope)[0]), scope
    if key in ("exists", "absent", "lineage"):
        bind = _binding(ctx, here, value, scope, lineage=key == "lineage")
        if bind is None:
            return TRUE, scope
        if key == "absent":
            return Not(bind), scope
        return bind, {**scope, bind.alias: bind.kind}
    if key == "test":
        return _where(ctx, here, value, scope, None), scope
    ctx.error(path, f"unknown condition '{key}' (known: {', '.join(_CONDITION_KEYS)})")
    return TRUE, scope


def _template(ctx: _Context, text: str, allowed: set[str]) -> jinja2.Template | None:
    try:
        ast = _ENV.parse(text)
        template = _ENV.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        ctx.error(
            ("message",),
            f"template syntax error: {exc.message} (template line {exc.lineno})",
            "message",
        )
        return None
    unknown = meta.find_undeclared_variables(ast) - allowed
    if unknown:
        ctx.error(
            ("message",),
            f"template uses unknown name(s) {', '.join(sorted(unknown))} "
            f"(available: {', '.join(sorted(allowed))})",
            "message",
        )
        return None
    return template


# ----------------------------------------------------------------------------- loading


def _policy_entries(document: Document) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    data = document.data
    if isinstance(data, dict) and "id" in data:
        yield "policy", (), data
        return
    if not isinstance(data, dict) or not set(data) <= {"policies", "derivations"}:
        raise ValueError(
            "a policy document is one policy (with 'id') or a mapping with "
            "'policies' and/or 'derivations' lists"
        )
    for section, kind in (("derivations", "derivation"), ("policies", "policy")):
        items = data.get(section) or []
        if not isinstance(items, list):
            raise ValueError(f"'{section}' must be a list")
        for index, item in enumerate(items):
            yield kind, (section, index), item


def _derivation_schema(
    ctx: _Context, doc: DerivationDoc, scope: dict[str, str]
) -> tuple[dict[str, Ref], dict[str, FieldType]]:
    refs: dict[str, Ref] = {}
    schema: dict[str, FieldType] = {"id": FACT_SCHEMA["model"]["id"]}
    for name, raw in doc.fields.items():
        alias, _, fieldname = raw.partition(".")
        if alias not in scope:
            ctx.error(("fields", name), f"'{alias}' is not bound by 'when'")
            continue
        ftype = lookup(ctx.types[scope[alias]], fieldname)
        if ftype is None:
            ctx.error(("fields", name), f"{scope[alias]} has no field '{fieldname}'")
            continue
        refs[name] = Ref(alias, fieldname)
        schema[name] = ftype
    return refs, schema


def _is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def policy_files(paths: list[Path]) -> list[tuple[Path, str]]:
    return [(p, label) for p, label in iter_input_files(paths) if not _is_test_file(p)]


def load_policies(paths: list[Path] | None = None, *, include_builtin: bool = True) -> PolicySet:
    """Load, validate and check every policy under ``paths`` (default: the shipped library).

    Raises :class:`InputError` with every problem found (file:line, policy id, field).
    """
    from aigov.shipped import shipped

    roots = [Path(p) for p in paths] if paths else [shipped("policies")]
    problems: list[Problem] = []
    documents: list[Document] = []
    files = policy_files(roots)
    if include_builtin:
        files = [(BUILTIN_POLICIES, "<builtin>/governance.yaml"), *files]
    texts: list[str] = []
    for path, label in files:
        try:
            text = read_text(path, label)  # once: the digest is of exactly what is parsed
            documents.extend(parse_file(text, path, label))
            # newlines as a text-mode read gives them, so digests stay what they were
            texts.append(label + "\0" + text.replace("\r\n", "\n").replace("\r", "\n"))
        except InputError as exc:
            problems.extend(exc.problems)
    if not documents and not problems:
        problems.append(Problem(", ".join(map(str, roots)), None, "no policy files found"))

    entries: list[tuple[str, Document, tuple[Any, ...], Any]] = []
    for document in documents:
        try:
            for kind, base, item in _policy_entries(document):
                entries.append((kind, document, base, item))
        except ValueError as exc:
            problems.append(Problem(document.file, document.start_line, str(exc)))

    types: dict[str, dict[str, FieldType]] = dict(FACT_SCHEMA)
    derivations: list[Derivation] = []
    seen: dict[str, str] = {}
    # Derivations first: policies may match the facts they derive.
    for kind, document, base, item in entries:
        if kind != "derivation":
            continue
        doc, label = _validate(DerivationDoc, kind, item, document, base, problems)
        if doc is None:
            continue
        ctx = _Context(document, base, label, types)
        if doc.id in types:
            ctx.error(("id",), f"'{doc.id}' is already a fact type")
            problems.extend(ctx.problems)
            continue
        when, scope = _condition(ctx, ("when",), doc.when, {"model": "model"})
        refs, schema = _derivation_schema(ctx, doc, scope)
        problems.extend(ctx.problems)
        if ctx.problems:
            continue
        types[doc.id] = schema
        derivations.append(
            Derivation(doc.id, doc.description, refs, when, document.file, document.line_of(base))
        )

    policies: list[Policy] = []
    for kind, document, base, item in entries:
        if kind != "policy":
            continue
        doc, label = _validate(PolicyDoc, kind, item, document, base, problems)
        if doc is None:
            continue
        where = f"{document.file}:{document.line_of(base)}"
        if doc.id in seen:
            problems.append(
                Problem(
                    document.file,
                    document.line_of((*base, "id")),
                    f"duplicate policy id (first defined at {seen[doc.id]})",
                    record=label,
                    field="id",
                )
            )
            continue
        seen[doc.id] = where
        policy = _check_policy(doc, document, base, label, types, problems)
        if policy is not None:
            policies.append(policy)

    if problems:
        raise InputError(problems, "invalid policies")
    digest = hashlib.sha256("\0\0".join(sorted(texts)).encode()).hexdigest()
    return PolicySet(policies, derivations, digest)


def _validate(
    model: type[_Doc],
    kind: str,
    item: Any,
    document: Document,
    base: tuple[Any, ...],
    problems: list[Problem],
) -> tuple[_Doc | None, str]:
    """Validate one entry's metadata; return it (None if invalid: the problems are added)
    and the label naming the entry in problems: ``kind 'id'``, or just ``kind`` when the
    entry has no usable id."""
    raw_id = item.get("id") if isinstance(item, dict) else None
    label = f"{kind} '{raw_id}'" if isinstance(raw_id, str) else kind
    try:
        return model.model_validate(item), label
    except ValidationError as exc:
        problems.extend(validation_problems(exc, document, base, label))
        return None, label


def _check_policy(
    doc: PolicyDoc,
    document: Document,
    base: tuple[Any, ...],
    label: str,
    types: dict[str, dict[str, FieldType]],
    problems: list[Problem],
) -> Policy | None:
    ctx = _Context(document, base, label, types)
    subject_alias = doc.subject.alias or doc.subject.kind
    if doc.subject.kind == "model" and subject_alias != "model":
        ctx.error(("subject", "as"), "a model subject is always named 'model'")
    if doc.subject.kind != "model" and subject_alias == "model":
        ctx.error(("subject", "as"), "'model' names the partition's model; choose another alias")
    scope = {"model": "model", subject_alias: doc.subject.kind}
    subject_where = _where(ctx, ("subject", "where"), doc.subject.where, scope, subject_alias)
    if any(_refs(subject_where) - {subject_alias}):
        ctx.error(("subject", "where"), "subject tests may only use the subject's own fields")
    subject = Bind(subject_alias, doc.subject.kind, subject_where, ctx.line(("subject",)))
    requires: list[Ref] = []
    for index, raw in enumerate(doc.requires):
        alias, _, fieldname = raw.partition(".")
        if alias not in (subject_alias, "model") or lookup(types[scope[alias]], fieldname) is None:
            ctx.error(
                ("requires", index),
                f"'{raw}' is not a field of the subject ('{subject_alias}') or of 'model'",
            )
            continue
        requires.append(Ref(alias, fieldname))
    ctx.aliases.update(scope)
    when, after = _condition(ctx, ("when",), doc.when, scope)
    review_if, _ = _condition(ctx, ("review_if",), doc.review_if, after)
    allowed = set(ctx.aliases) | set(TEMPLATE_GLOBALS)
    template = _template(ctx, doc.message, allowed)
    problems.extend(ctx.problems)
    if ctx.problems or template is None:
        return None
    return Policy(
        doc, document.file, document.line_of(base), subject, requires, when, review_if, template
    )


def _refs(node: Any) -> set[str]:
    if isinstance(node, Test):
        return {node.alias} | node.refs()
    if isinstance(node, All | AnyOf):
        return set().union(*(_refs(i) for i in node.items)) if node.items else set()
    if isinstance(node, Not):
        return _refs(node.item)
    return set()


BUILTIN_POLICIES = Path(__file__).resolve().parent / "builtin" / "governance.yaml"
