"""JSON: the AuditResult itself, with its schema_version (``aigov report schema``)."""

from __future__ import annotations

import json
from typing import Any

from engine.findings import AuditResult


def render(result: AuditResult) -> str:
    return result.model_dump_json(indent=2) + "\n"


def schema() -> dict[str, Any]:
    schema = AuditResult.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://aigov.dev/schemas/audit-result-v1.json"
    return schema


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
