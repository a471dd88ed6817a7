"""JSON: the AuditResult with its schema_version (``aigov report schema`` prints the schema).

The form is :mod:`aigov.results.json_stream` (streamed, byte-identical for spooled and
in-memory results).
"""

from __future__ import annotations

import io
from typing import IO

from aigov.results.findings import AuditResult
from aigov.results.json_stream import write_result
from aigov.results.spool import ResultView


def render(result: AuditResult | ResultView) -> str:
    buffer = io.StringIO()
    write_result(result, buffer)
    return buffer.getvalue()


def write(result: AuditResult | ResultView, out: IO[str]) -> None:
    """Stream the JSON form to ``out``: a spooled result is never held in memory."""
    write_result(result, out)
