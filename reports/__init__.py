"""Report renderers: one entry per format, each a function of an AuditResult.

Renderers read only the :class:`aigov.results.findings.AuditResult` model (never the database), so
a report can be rendered from a live audit or from a stored run with the same result.
Adding a format is one entry in :data:`RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: importing the engine's models costs start-up time
    from aigov.results.findings import AuditResult
    from aigov.results.spool import ResultView


@dataclass(frozen=True)
class Renderer:
    name: str
    module: str  # imported on first use, so `aigov gate` does not pay for Jinja templates
    function: str

    def render(self, result: AuditResult) -> str:
        render: Callable[[AuditResult], str] = getattr(import_module(self.module), self.function)
        return render(result)

    def write(self, view: ResultView, out: IO[str]) -> None:
        """Write the report for ``view`` (an AuditResult or a spooled result). Modules with a
        ``write(view, out)`` stream; the others render the materialised result."""
        module = import_module(self.module)
        stream = getattr(module, "write", None)
        if stream is not None:
            stream(view, out)
        else:
            out.write(self.render(view.result()))


RENDERERS: dict[str, Renderer] = {
    r.name: r
    for r in (
        Renderer("text", "aigov.reports.text", "render"),
        Renderer("json", "aigov.reports.json_report", "render"),
        Renderer("html", "aigov.reports.html", "render"),
        Renderer("sarif", "aigov.reports.sarif", "render"),
        Renderer("junit", "aigov.reports.junit", "render"),
        Renderer("markdown", "aigov.reports.markdown", "render"),
    )
}


def render(fmt: str, result: AuditResult) -> str:
    return RENDERERS[fmt].render(result)
