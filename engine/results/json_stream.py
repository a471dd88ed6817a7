"""The JSON form of an audit result, streamed: written field by field, so a spooled result of
any size goes to a file without being held in memory; an in-memory result goes through the
same writer, byte for byte. Models and findings are written one compact object per line.
The run history stores results in this form; the JSON report is this form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from pydantic import TypeAdapter

from aigov.results.findings import AuditResult
from aigov.results.spool import ResultView, as_view


def _indent(text: str, by: int) -> str:
    pad = " " * by
    return text.replace("\n", "\n" + pad)


_ANY = TypeAdapter(Any)


def _value(value: Any) -> str:
    return json.dumps(_ANY.dump_python(value, mode="json"), indent=2, ensure_ascii=False)


def _items(lines: Iterable[str], out: IO[str]) -> None:
    """A list written one compact item per line: streams from the spool without re-parsing,
    and a diff of two reports shows one line per changed model or finding."""
    first = True
    for line in lines:
        out.write("[\n    " if first else ",\n    ")
        out.write(line.rstrip("\n"))
        first = False
    out.write("[]" if first else "\n  ]")


# Fields written only when set: a report without them is byte for byte what it was before
# they existed.
OMITTED_WHEN_UNSET = ("baseline",)


def write_result(source: AuditResult | ResultView, out: IO[str]) -> None:
    """Write the result as JSON (indent 2, fields in schema order)."""
    view = as_view(source)
    out.write("{\n")
    names = [
        name
        for name in AuditResult.model_fields
        if name not in OMITTED_WHEN_UNSET or getattr(view, name, None) is not None
    ]
    for index, name in enumerate(names):
        out.write(f'  "{name}": ')
        if name == "models":
            _items(view.model_lines(), out)
        elif name == "findings":
            _items(view.finding_lines(), out)
        elif name == "schema_version":
            out.write(str(AuditResult.model_fields[name].default))
        else:
            value = getattr(view, name)
            out.write("null" if value is None else _indent(_value(value), 2))
        out.write(",\n" if index < len(names) - 1 else "\n")
    out.write("}\n")


def result_schema() -> dict[str, Any]:
    schema = AuditResult.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://aigov.dev/schemas/audit-result-v1.json"
    return schema


def result_schema_text() -> str:
    return json.dumps(result_schema(), indent=2, sort_keys=True) + "\n"
