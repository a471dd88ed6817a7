"""Report renderers: one entry per format, each a function of an AuditResult.

Renderers read only the :class:`engine.findings.AuditResult` model (never the database), so
a report can be rendered from a live audit or from a stored run with the same result.
Adding a format is one entry in :data:`RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from engine.findings import AuditResult


@dataclass(frozen=True)
class Renderer:
    name: str
    module: str  # imported on first use, so `aigov gate` does not pay for Jinja templates
    function: str
    suffix: str
    description: str

    def render(self, result: AuditResult) -> str:
        render: Callable[[AuditResult], str] = getattr(import_module(self.module), self.function)
        return render(result)


RENDERERS: dict[str, Renderer] = {
    r.name: r
    for r in (
        Renderer("text", "reports.text", "render", ".txt", "summary table and failing findings"),
        Renderer("json", "reports.json_report", "render", ".json", "the AuditResult (versioned)"),
    )
}


def render(fmt: str, result: AuditResult) -> str:
    return RENDERERS[fmt].render(result)
