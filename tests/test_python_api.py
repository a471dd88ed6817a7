"""The public Python API is documented: every parameter of ``aigov.open_registry``,
``load_policies``, ``audit`` and ``gate`` (and the gate's deployment builders) in its
docstring, every field of the result models they return, and the reference in
docs/python-api.md generated from those docstrings and in sync with them.

``python tests/test_python_api.py`` regenerates that reference section.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import re
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import aigov
from aigov.api import gate as gate_api
from aigov.results.decisions import GateDecision, GateError
from aigov.results.findings import AuditResult

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "python-api.md"
MARKERS = ("<!-- api:start -->", "<!-- api:end -->")

FUNCTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("aigov.open_registry", aigov.open_registry),
    ("aigov.load_policies", aigov.load_policies),
    ("aigov.audit", aigov.audit),
    ("aigov.gate", aigov.gate),
    ("aigov.api.gate.proposed_deployment", gate_api.proposed_deployment),
    ("aigov.api.gate.read_deployment", gate_api.read_deployment),
]
# The four functions of ``aigov`` document each parameter, the result and the errors in
# these sections; the deployment builders at least name each parameter.
MAIN = ("aigov.open_registry", "aigov.load_policies", "aigov.audit", "aigov.gate")
# The result models; the reference covers them and every model and enum their fields reach.
ROOTS: list[type] = [AuditResult, GateDecision, GateError]
SECTIONS = ("Args", "Returns", "Raises", "Attributes")


# --------------------------------------------------------------------------- docstrings


def _markdown(text: str) -> str:
    """reStructuredText roles and literals as Markdown code spans."""
    text = re.sub(
        r":(?:func|class|meth|mod|attr|exc|data):`(~?)([^`]+)`",
        lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`",
        text,
    )
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _paragraphs(text: str) -> str:
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p)


def split_docstring(doc: str) -> tuple[str, dict[str, Any]]:
    """The prose of a Google-style docstring, and its sections: ``Args``, ``Raises`` and
    ``Attributes`` as {name: description}, ``Returns`` as text."""
    prose: list[str] = []
    sections: dict[str, Any] = {}
    current: str | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        block = textwrap.dedent("\n".join(body))
        if current == "Returns":
            sections[current] = _paragraphs(block)
            return
        entries: dict[str, str] = {}
        name = None
        for line in block.splitlines():
            match = re.match(r"^(\S[^:]*):\s*(.*)$", line)
            if match and not line.startswith(" "):
                name = match[1].strip()
                entries[name] = match[2]
            elif name is not None:
                entries[name] += " " + line.strip()
        sections[current] = {k: " ".join(v.split()) for k, v in entries.items()}

    for line in inspect.cleandoc(doc).splitlines():
        header = line.strip().rstrip(":")
        if line.endswith(":") and header in SECTIONS and not line.startswith(" "):
            close()
            current, body = header, []
        elif current is None:
            prose.append(line)
        else:
            body.append(line)
    close()
    return _paragraphs("\n".join(prose)), sections


def attribute_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a class and its bases (a string right after a field)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in ("builtins", "pydantic.main") or klass is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for first, second in itertools.pairwise(body):
            if (
                isinstance(first, ast.AnnAssign | ast.Assign)
                and isinstance(second, ast.Expr)
                and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)
            ):
                target = first.target if isinstance(first, ast.AnnAssign) else first.targets[0]
                if isinstance(target, ast.Name):
                    docs[target.id] = " ".join(inspect.cleandoc(second.value.value).split())
    return docs


# --------------------------------------------------------------------------- the models


def _reached(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or issubclass(annotation, enum.Enum)
    ):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _reached(arg)


def result_types() -> list[type]:
    """The result models and enums, in the order they are first reached from the roots."""
    seen: list[type] = []
    pending = list(ROOTS)
    while pending:
        cls = pending.pop(0)
        if cls in seen:
            continue
        seen.append(cls)
        if issubclass(cls, BaseModel):
            for info in cls.model_fields.values():
                pending.extend(t for t in _reached(info.annotation) if t not in seen)
    return seen


def _annotation(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        raw = inspect.get_annotations(klass).get(name)
        if raw is not None:
            return raw if isinstance(raw, str) else inspect.formatannotation(raw)
    return ""


def field_docs(cls: type[BaseModel]) -> dict[str, str]:
    attributes = attribute_docs(cls)
    _, sections = split_docstring(cls.__doc__ or "")
    listed = sections.get("Attributes", {})
    return {
        name: info.description or attributes.get(name) or listed.get(name, "")
        for name, info in cls.model_fields.items()
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(info: Any) -> str:
    if info.is_required():
        return ""
    if info.default_factory is not None:
        return _cell(repr(info.default_factory()))
    value = info.default
    return _cell(f'"{value.value}"' if isinstance(value, enum.Enum) else repr(value))


def render_model(cls: type) -> list[str]:
    own_doc = cls.__dict__.get("__doc__") or ""
    prose, _ = split_docstring(own_doc)
    lines = [f"### `{cls.__name__}`", "", f"`{cls.__module__}.{cls.__name__}`", ""]
    if prose:
        lines += [_markdown(prose), ""]
    if issubclass(cls, enum.Enum):
        values = ", ".join(f"`{member.value}`" for member in cls)
        return [*lines, f"Values: {values}.", ""]
    assert issubclass(cls, BaseModel)
    docs = field_docs(cls)
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in cls.model_fields.items():
        lines.append(
            f"| `{name}` | `{_cell(_annotation(cls, name))}` | {_default(info)} "
            f"| {_cell(_markdown(docs[name]))} |"
        )
    lines.append("")
    for name, member in cls.__dict__.items():
        if name.startswith("_") or not callable(member) or isinstance(member, classmethod):
            continue
        doc, _ = split_docstring(member.__doc__ or "")
        lines += [f"- `{name}{_signature(member)}`: {_markdown(doc)}"]
    if lines[-1] != "":
        lines.append("")
    return lines


# --------------------------------------------------------------------------- the functions


def _signature(func: Callable[..., Any]) -> str:
    signature = inspect.signature(func)
    parts: list[str] = []
    star = False
    for param in signature.parameters.values():
        if param.name == "self":
            continue
        if param.kind is param.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = param.name
        if param.default is not param.empty:
            default = param.default
            shown = (
                f"{type(default).__name__}.{default.name}"
                if isinstance(default, enum.Enum)
                else repr(default)
            )
            text += f"={shown}"
        parts.append(text)
    returns = signature.return_annotation
    tail = (
        ""
        if returns is signature.empty
        else f" -> {returns if isinstance(returns, str) else inspect.formatannotation(returns)}"
    )
    return f"({', '.join(parts)}){tail}"


def render_function(name: str, func: Callable[..., Any]) -> list[str]:
    prose, sections = split_docstring(func.__doc__ or "")
    lines = [f"### `{name}`", "", f"`{name.rsplit('.', 1)[-1]}{_signature(func)}`", ""]
    lines += [_markdown(prose), ""]
    args = sections.get("Args", {})
    if args:
        lines += ["| parameter | type | description |", "|---|---|---|"]
        params = inspect.signature(func).parameters
        for param, description in args.items():
            annotation = params[param].annotation if param in params else ""
            shown = (
                annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
            )
            lines.append(f"| `{param}` | `{_cell(shown)}` | {_cell(_markdown(description))} |")
        lines.append("")
    if "Returns" in sections:
        lines += [f"**Returns** {_markdown(sections['Returns'])}", ""]
    if sections.get("Raises"):
        lines.append("**Raises**")
        lines.append("")
        lines += [f"- `{k}`: {_markdown(v)}" for k, v in sections["Raises"].items()]
        lines.append("")
    return lines


def render_reference() -> str:
    lines = [""]
    for name, func in FUNCTIONS:
        lines += render_function(name, func)
    for cls in result_types():
        lines += render_model(cls)
    return "\n".join(lines).rstrip("\n") + "\n"


def page_reference() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start, end = (text.index(marker) for marker in MARKERS)
    return text[start + len(MARKERS[0]) : end]


def write_reference() -> Path:
    """Regenerate the reference section of docs/python-api.md."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(MARKERS[0]) + len(MARKERS[0])
    end = text.index(MARKERS[1])
    PAGE.write_text(text[:start] + render_reference() + text[end:], encoding="utf-8")
    return PAGE


# --------------------------------------------------------------------------- the tests


def test_every_parameter_result_and_error_is_documented() -> None:
    for name, func in FUNCTIONS:
        doc = func.__doc__ or ""
        _, sections = split_docstring(doc)
        params = [p for p in inspect.signature(func).parameters if p != "self"]
        if name in MAIN:
            assert list(sections.get("Args", {})) == params, f"{name}: Args must list {params}"
            assert all(sections["Args"].values()), f"{name}: an Args entry is empty"
            assert sections.get("Returns"), f"{name}: no Returns section"
            assert sections.get("Raises"), f"{name}: no Raises section"
        else:
            undocumented = [p for p in params if f"``{p}``" not in doc]
            assert not undocumented, f"{name}: the docstring does not name {undocumented}"


def test_every_result_model_and_field_is_documented() -> None:
    types_ = result_types()
    assert {AuditResult, GateDecision, GateError} <= set(types_)
    from aigov.results.findings import Finding, Outcome

    assert {Finding, Outcome} <= set(types_)  # reached through the fields
    for cls in types_:
        assert (cls.__dict__.get("__doc__") or "").strip(), f"{cls.__name__} has no docstring"
        if issubclass(cls, BaseModel):
            missing = [name for name, doc in field_docs(cls).items() if not doc]
            assert not missing, f"{cls.__name__}: fields without a description: {missing}"


def test_reference_in_the_docs_is_generated_from_the_docstrings() -> None:
    assert page_reference() == render_reference(), (
        "docs/python-api.md's reference is stale; run: python tests/test_python_api.py"
    )


if __name__ == "__main__":
    print(f"wrote {write_reference().relative_to(REPO)}", file=sys.stderr)
