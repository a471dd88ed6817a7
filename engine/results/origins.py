"""Where the records a report talks about are written: the files and lines of their origin,
for reports that point at the source (SARIF's physical locations)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SourceLocation(BaseModel):
    """A record's place in its registry file, as a report names it."""

    model_config = ConfigDict(extra="forbid")
    uri: str = Field(
        description="the file: relative to the report's root (a URI reference, '/'-separated "
        "and percent-encoded), or an absolute file: URI when it is outside that root"
    )
    relative: bool
    line: int = Field(ge=1, description="the line of the record's id (or of its start)")


class SourceLocations(BaseModel):
    """The locations of records by kind and id (see :func:`location_key`)."""

    model_config = ConfigDict(extra="forbid")
    records: dict[str, SourceLocation] = {}

    def of(self, kind: str, record_id: str) -> SourceLocation | None:
        return self.records.get(location_key(kind, record_id))


def location_key(kind: str, record_id: str) -> str:
    return f"{kind}/{record_id}"
