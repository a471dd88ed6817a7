"""Policy files into a checked :class:`~aigov.policy.ast.PolicySet` (the "parse" stage).

A policy file (YAML or JSON) holds one policy, or a mapping with ``policies:`` and/or
``derivations:`` lists. Metadata is validated by pydantic (:mod:`aigov.policy.metadata`);
conditions and message templates are parsed and checked by :mod:`aigov.policy.parser`.
Every problem is reported together with ``file:line``, policy id and field.

Files ending in ``.test.yaml`` (``.test.yml``, ``.test.json``) are policy tests, not
policies; :mod:`aigov.api.policy_tests` reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from aigov.documents import Document, iter_input_files, parse_file, read_text, validation_problems
from aigov.errors import InputError, Problem
from aigov.policy.ast import (
    TRUE,
    Bind,
    Condition,
    Derivation,
    Policy,
    PolicySet,
    Ref,
    Requirement,
    aliases,
)
from aigov.policy.metadata import DerivationDoc, PolicyDoc
from aigov.policy.parser import (
    TEMPLATE_GLOBALS,
    Context,
    parse_condition,
    parse_template,
    parse_where,
)
from aigov.policy.schema import FACT_SCHEMA, FieldType, lookup
from aigov.results.coverage import control_problems, load_frameworks

TEST_SUFFIXES = (".test.yaml", ".test.yml", ".test.json")
BUILTIN_POLICIES = Path(__file__).resolve().parent / "builtin" / "governance.yaml"

_Doc = TypeVar("_Doc", PolicyDoc, DerivationDoc)


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
    ctx: Context, doc: DerivationDoc, scope: dict[str, str]
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


def policy_files(paths: list[Path]) -> list[tuple[Path, str]]:
    """The policy files under ``paths`` (every input file but policy tests), with labels."""
    return [
        (p, label) for p, label in iter_input_files(paths) if not p.name.endswith(TEST_SUFFIXES)
    ]


def load_policies(paths: list[Path] | None = None, *, include_builtin: bool = True) -> PolicySet:
    """Load, validate and check every policy under ``paths`` (default: the shipped library).

    Args:
        paths: policy files and directories (read recursively; ``*.test.yaml`` files are
            policy tests and skipped). They replace the shipped library: to add policies to
            it, pass its directory (``aigov.shipped.shipped("policies")``) as well.
            None or an empty list: the shipped library.
        include_builtin: add the built-in policies (expired waivers, lineage cycles) that
            every policy set includes (default True).

    Returns:
        The checked :class:`~aigov.policy.ast.PolicySet`: policies and derivations with
        their conditions parsed, and a digest of the files read. Pass it to
        :func:`aigov.audit` or :func:`aigov.gate` (compiling it is theirs).

    Raises:
        InputError: with every problem found, each with file, line, policy id and field:
            unreadable or invalid files, unknown fields, bad conditions, regexes or
            templates, duplicate ids, and a set holding no policy of its own ("no policies
            found": built-in policies, derivations and tests alone are no policy set).
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
        ctx = Context(document, base, label, types)
        if doc.id in types:
            ctx.error(("id",), f"'{doc.id}' is already a fact type")
            problems.extend(ctx.problems)
            continue
        when, scope = parse_condition(ctx, ("when",), doc.when, {"model": "model"})
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
        policy_doc, label = _validate(PolicyDoc, kind, item, document, base, problems)
        if policy_doc is None:
            continue
        where = f"{document.file}:{document.line_of(base)}"
        if policy_doc.id in seen:
            problems.append(
                Problem(
                    document.file,
                    document.line_of((*base, "id")),
                    f"duplicate policy id (first defined at {seen[policy_doc.id]})",
                    record=label,
                    field="id",
                )
            )
            continue
        seen[policy_doc.id] = where
        policy = _check_policy(policy_doc, document, base, label, types, problems)
        if policy is not None:
            policies.append(policy)

    if problems:
        raise InputError(problems, "invalid policies")
    _check_not_empty(roots, policies)
    digest = hashlib.sha256("\0\0".join(sorted(texts)).encode()).hexdigest()
    return PolicySet(policies, derivations, digest)


def _check_not_empty(roots: list[Path], policies: list[Policy]) -> None:
    """An empty effective policy set is an error, not a pass: the built-in policies do not
    count, nor do derivations, policy tests or disabled policies."""
    where = ", ".join(map(str, roots))
    own = [p for p in policies if not p.builtin]
    if not own:
        problem = Problem(
            where,
            None,
            "no policy here (policy tests, derivations and the built-in policies do not "
            "make a policy set)",
        )
        raise InputError([problem], f"no policies found in {where}")
    if not any(p.doc.enabled for p in own):
        problem = Problem(where, None, "every policy found has 'enabled: false'")
        raise InputError([problem], f"no enabled policies found in {where}")


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
    ctx = Context(document, base, label, types)
    for where, message in control_problems(doc.controls, load_frameworks()):
        ctx.error(("controls", *where), message)
    subject_alias = doc.subject.alias or doc.subject.kind
    if doc.subject.kind == "model" and subject_alias != "model":
        ctx.error(("subject", "as"), "a model subject is always named 'model'")
    if doc.subject.kind != "model" and subject_alias == "model":
        ctx.error(("subject", "as"), "'model' names the partition's model; choose another alias")
    scope: dict[str, str] = {"model": "model", subject_alias: doc.subject.kind}
    subject_where = parse_where(ctx, ("subject", "where"), doc.subject.where, scope, subject_alias)
    if aliases(subject_where)[0] - {subject_alias}:
        ctx.error(("subject", "where"), "subject tests may only use the subject's own fields")
    subject = Bind(subject_alias, doc.subject.kind, subject_where, ctx.line(("subject",)))
    ctx.aliases.update(scope)
    requires: list[Requirement] = []
    for index, raw in enumerate(doc.requires):
        path: tuple[Any, ...] = ("requires", index)
        name = raw if isinstance(raw, str) else raw.field
        alias, _, fieldname = name.partition(".")
        if alias not in (subject_alias, "model") or lookup(types[scope[alias]], fieldname) is None:
            ctx.error(
                path if isinstance(raw, str) else (*path, "field"),
                f"'{name}' is not a field of the subject ('{subject_alias}') or of 'model'",
            )
            continue
        condition: Condition = TRUE
        if not isinstance(raw, str):
            # records a condition binds are not seen by the message (no finding shows them)
            bound = dict(ctx.aliases), {k: set(v) for k, v in ctx.alias_kinds.items()}
            condition, _ = parse_condition(ctx, (*path, "when"), raw.when, scope)
            ctx.aliases, ctx.alias_kinds = bound
        requires.append(Requirement(Ref(alias, fieldname), condition))
    when, after = parse_condition(ctx, ("when",), doc.when, scope)
    review_if, _ = parse_condition(ctx, ("review_if",), doc.review_if, after)
    allowed = set(ctx.aliases) | set(TEMPLATE_GLOBALS)
    template = parse_template(ctx, doc.message, allowed, doc.subject.kind)
    problems.extend(ctx.problems)
    if ctx.problems or template is None:
        return None
    return Policy(
        doc, document.file, document.line_of(base), subject, requires, when, review_if, template
    )
