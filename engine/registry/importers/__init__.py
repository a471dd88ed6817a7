"""Importers: registry records from where model metadata already lives.

Each importer maps one source format (Hugging Face model cards, CycloneDX ML-BOMs, SPDX 3 AI
documents, an MLflow Model Registry) onto registry documents, the same sections a hand-written
registry file holds (``providers``, ``models``, ``datasets``, ``lineage``, ``terms`` …). From
there every import takes one path: the documents are validated as registry files are, merged
with what the registry holds (:mod:`aigov.registry.merge`) and written in one transaction.

An importer is registered by name in :data:`IMPORTERS` (a module path, imported only when its
format is asked for, so that ``--from hf`` never loads MLflow's client and the other way round).
Its function takes the sources named on the command line and returns an :class:`ImportBatch`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aigov.documents import Document
from aigov.errors import AigovError, Problem


@dataclass
class MappedDocument(Document):
    """A registry document built from a source that is not a registry file.

    ``lines`` maps a path in the registry document (``("models", 0, "licence")``) to the line
    of the source that gave it (the card's ``license:`` line), so that a validation error names
    the source file and line; a path not in it falls back to its longest mapped prefix, then to
    ``start_line``.
    """

    lines: Mapping[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[Any, ...]) -> int:
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.start_line


@dataclass
class ImportBatch:
    """What an importer read: registry documents, records it only knows by reference, and
    every problem it found in its sources.

    ``stubs`` are records the sources refer to but do not describe (a card's base model, a
    dataset named by id): each is created only when neither the import nor the registry has a
    record of that id, so lineage is not lost and policies can answer ``indeterminate`` about
    what is not known of them. A stub model or dataset carries the tag :data:`STUB_MARK` and
    ``confidence: inferred`` (a stub provider the confidence only).
    """

    documents: list[Document] = field(default_factory=list)
    stubs: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sources: int = 0  # how many source items (cards, BOMs, registered model versions) were read


# Models a source names but does not describe carry this tag.
STUB_MARK = "stub"

Importer = Callable[..., ImportBatch]

# format -> "module:function"; the function takes (sources: list[str], **options).
IMPORTERS: dict[str, str] = {
    "hf": "aigov.registry.importers.hf:read_hf",
    "cyclonedx": "aigov.registry.importers.cyclonedx:read_cyclonedx",
    "spdx": "aigov.registry.importers.spdx:read_spdx",
    "mlflow": "aigov.registry.importers.mlflow:read_mlflow",
}


def importer(fmt: str) -> Importer:
    """The importer function of ``fmt`` (a key of :data:`IMPORTERS`)."""
    try:
        target = IMPORTERS[fmt]
    except KeyError:
        raise AigovError(
            f"unknown import format {fmt!r} (choose from registry, {', '.join(IMPORTERS)})"
        ) from None
    module, _, name = target.partition(":")
    function: Importer = getattr(importlib.import_module(module), name)
    return function
