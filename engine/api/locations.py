"""The source locations of the records findings are about, for SARIF (``--sarif-root``).

Every imported record keeps the file and line it came from (``record_origin``); a finding is
about its subject record (a model, deployment, approval or waiver). Paths are given relative
to ``root`` (GitHub code scanning resolves them against the repository), or as absolute
``file:`` URIs for files outside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from aigov.registry.operations import record_origins
from aigov.registry.store import Registry
from aigov.results.findings import Finding
from aigov.results.origins import SourceLocation, SourceLocations, location_key


def source_locations(
    registry: Registry, findings: Iterable[Finding], root: Path | None = None
) -> SourceLocations:
    """The locations of the findings' subject records that have an origin (records imported
    before origins were kept, and proposed deployments, have none). ``root`` defaults to the
    current directory."""
    base = (root or Path.cwd()).resolve()
    subjects = {(f.subject_kind, f.subject) for f in findings if not f.hypothetical}
    origins = record_origins(registry, (rid for _kind, rid in subjects))
    records: dict[str, SourceLocation] = {}
    for kind, rid in sorted(subjects):
        origin = origins.get(rid)
        if origin is None or origin.kind != kind:
            continue
        path = Path(origin.path)
        if path.is_relative_to(base):
            uri, relative = quote(path.relative_to(base).as_posix()), True
        else:
            uri, relative = path.as_uri(), False
        records[location_key(kind, rid)] = SourceLocation(
            uri=uri, relative=relative, line=origin.line
        )
    return SourceLocations(records=records)
