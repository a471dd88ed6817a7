"""SPDX 3.0.1 AI and Dataset profile documents (JSON-LD) as registry records.

The ``@graph`` is read directly (spdx-tools' SPDX 3 module is a pre-release draft): AI packages
become models, dataset packages datasets, the agents that supply or originate them providers,
``trainedOn`` / ``ancestorOf`` / ``descendantOf`` relationships lineage, and
``hasConcludedLicense`` / ``hasDeclaredLicense`` relationships licences. Elements a
relationship names that another document defines (an ``ExternalMap`` in the SpdxDocument's
``import``) become stubs. The mapping, and what is left out and why, is in
``docs/importers/spdx.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aigov.documents import parse_text, read_text
from aigov.errors import InputError, Problem, shown
from aigov.registry.importers import STUB_MARK, ImportBatch, MappedDocument
from aigov.registry.licences import normalise_licence
from aigov.registry.records import Confidence, DatasetAvailability, Relation, SafetyRisk

CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
_TERMS = "https://spdx.org/rdf/3.0.1/terms/"
_LISTED_LICENCE = "https://spdx.org/licenses/"
_HF_PURL = "pkg:huggingface/"
_HF_HOST = "huggingface.co"
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+#~-]*")
_NOT_SLUG = re.compile(r"[^a-z0-9._]+")
_SLUG_GAP = re.compile(r"[-.]*-[-.]*")
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T")

# The graph element types aigov keeps as records, and as providers.
_RECORD_KINDS = {"ai_AIPackage": "model", "dataset_DatasetPackage": "dataset"}
_SECTIONS = {
    "provider": "providers",
    "model": "models",
    "dataset": "datasets",
    "lineage": "lineage",
}
_AGENT_TYPES = frozenset({"Agent", "Organization", "Person", "SoftwareAgent"})
_RELATIONSHIP_TYPES = frozenset({"Relationship", "LifecycleScopedRelationship"})

# SPDX individuals: "no assertion" and "none" (compacted by the context, or as full IRIs).
_NO_ASSERTION_LICENCE = frozenset(
    {"expandedlicensing_NoAssertionLicense", f"{_TERMS}ExpandedLicensing/NoAssertionLicense"}
)
_NONE_LICENCE = frozenset(
    {"expandedlicensing_NoneLicense", f"{_TERMS}ExpandedLicensing/NoneLicense"}
)
_NO_ELEMENT = frozenset(
    {"NoAssertionElement", "NoneElement", f"{_TERMS}Core/NoAssertionElement"}
    | {f"{_TERMS}Core/NoneElement"}
)
_NO_LICENCE_TEXT = frozenset({"NOASSERTION", "NONE"})

# SPDX vocabulary entries -> aigov values; ``None`` is "noAssertion" (the field is unknown).
_PRESENCE: dict[str, bool | None] = {"yes": True, "no": False, "noAssertion": None}
_SAFETY: dict[str, str | None] = {risk.value: risk.value for risk in SafetyRisk}
_AVAILABILITY: dict[str, str | None] = {
    "clickthrough": DatasetAvailability.clickthrough.value,
    "directDownload": DatasetAvailability.direct_download.value,
    "query": DatasetAvailability.query.value,
    "registration": DatasetAvailability.registration.value,
    "scrapingScript": DatasetAvailability.scraping_script.value,
}
_DATASET_TYPES: dict[str, str | None] = {
    name: name
    for name in [
        *("audio", "categorical", "graph", "image", "numeric", "other", "sensor"),
        *("structured", "syntactic", "text", "timeseries", "timestamp", "video"),
    ]
} | {"noAssertion": None}


@dataclass(frozen=True)
class _Kind:
    """How one record kind reads its element: plain fields, vocabulary fields, list fields."""

    plain: Mapping[str, str]
    vocabularies: Mapping[str, tuple[str, Mapping[str, Any]]]
    lists: Mapping[str, str]
    licence_field: str
    provider_field: str
    provider_required: bool
    list_vocabularies: Mapping[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)


_KINDS = {
    "model": _Kind(
        plain={"software_packageVersion": "version"},
        vocabularies={
            "ai_safetyRiskAssessment": ("safety_risk_assessment", _SAFETY),
            "ai_autonomyType": ("autonomy_type", _PRESENCE),
        },
        lists={"ai_standardCompliance": "standard_compliance", "ai_domain": "domain"},
        licence_field="licence",
        provider_field="provider",
        provider_required=True,
    ),
    "dataset": _Kind(
        plain={"software_downloadLocation": "url"},
        vocabularies={
            "dataset_datasetAvailability": ("availability", _AVAILABILITY),
            "dataset_hasSensitivePersonalInformation": (
                "sensitive_personal_information",
                _PRESENCE,
            ),
        },
        lists={},
        list_vocabularies={"dataset_datasetType": ("tags", _DATASET_TYPES)},
        licence_field="licences",
        provider_field="creator",
        provider_required=False,
    ),
}
# The first of these an element has is the record's description.
_DESCRIPTION_KEYS = ("description", "summary", "comment")


@dataclass(frozen=True)
class _Lineage:
    """How a relationship type reads as lineage: whether ``from`` is the child, and the
    relation (with its confidence) for each (child kind, parent kind) it can link."""

    from_is_child: bool
    relations: Mapping[tuple[str, str], tuple[Relation, Confidence]]


# SPDX 3.0.1 says only "descends from": a model descending from a model is taken for a
# fine-tune (inferred; no finer relation exists in SPDX), a dataset from a dataset is derived
# from it. ``testedOn`` has no aigov relation and is not read.
_DESCENT = {
    ("model", "model"): (Relation.finetune, Confidence.inferred),
    ("dataset", "dataset"): (Relation.derived_from, Confidence.declared),
}
_LINEAGE = {
    "trainedOn": _Lineage(True, {("model", "dataset"): (Relation.trained_on, Confidence.declared)}),
    "descendantOf": _Lineage(True, _DESCENT),
    "ancestorOf": _Lineage(False, _DESCENT),
}
_LICENCE_RELATIONSHIPS = {"hasConcludedLicense": "concluded", "hasDeclaredLicense": "declared"}


# --------------------------------------------------------------------------- JSON lines

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


@dataclass
class JsonLines:
    """Lines of a JSON-LD text: of each top-level key, and of each ``@graph`` element (key
    ``None``: its opening brace) and each of its own keys."""

    top: dict[str, int] = field(default_factory=dict)
    elements: dict[int, dict[str | None, int]] = field(default_factory=dict)

    def element(self, index: int, key: str | None = None) -> int:
        """The line of ``key`` in the ``index``-th element of ``@graph`` (of the element
        when it has no such key)."""
        lines = self.elements.get(index, {})
        return lines.get(key, lines.get(None, self.top.get("@graph", 1)))


def json_lines(text: str) -> JsonLines:
    """One pass over the strings and brackets of a JSON text that parsed."""
    found = JsonLines()
    stack: list[list[Any]] = []  # one [bracket, current key or item index] per container
    pending: re.Match[str] | None = None
    line, last = 1, 0

    def line_at(index: int) -> int:
        nonlocal line, last
        line += text.count("\n", last, index)
        last = index
        return line

    def in_graph_list() -> bool:
        return len(stack) == 2 and stack[0][1] == "@graph" and stack[1][0] == "["

    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            pending = match
            continue
        if token == ":" and pending is not None and stack and stack[-1][0] == "{":
            key = json.loads(pending.group())
            stack[-1][1] = key
            if len(stack) == 1:
                found.top.setdefault(key, line_at(pending.start()))
            elif len(stack) == 3 and stack[0][1] == "@graph" and stack[1][0] == "[":
                found.elements[stack[1][1]].setdefault(key, line_at(pending.start()))
        elif token in "{[":
            if in_graph_list():
                found.elements[stack[1][1]] = {None: line_at(match.start())}
            stack.append([token, 0 if token == "[" else None])
        elif token in "}]":
            if stack:
                stack.pop()
        elif token == "," and stack and stack[-1][0] == "[":
            stack[-1][1] += 1
        pending = None
    return found


# --------------------------------------------------------------------------- one file


@dataclass
class _Element:
    index: int
    type: str
    id: str
    data: dict[str, Any]


@dataclass
class _Item:
    """A record built from the graph, with the lines its fields came from."""

    kind: str  # provider, model, dataset, lineage
    data: dict[str, Any]
    line: int
    field_lines: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        data = self.data
        return data["id"] if self.kind != "lineage" else _edge_id(data)


def _edge_id(data: Mapping[str, Any]) -> str:
    return f"{data['child']}~{data['relation']}~{data['parent']}"


@dataclass
class _FileResult:
    file: str
    items: list[_Item] = field(default_factory=list)
    stubs: list[_Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _slug(text: str) -> str:
    """``U. Marti`` -> ``u-marti``, ``Llama 3.1 8B`` -> ``llama-3.1-8b``."""
    return _SLUG_GAP.sub("-", _NOT_SLUG.sub("-", text.lower())).strip("-._")


def _tail(iri: str) -> str:
    """The last segment of an IRI's path or fragment."""
    return unquote(re.split(r"[/#]", iri.rstrip("/#"))[-1])


def _valid_id(text: str | None) -> bool:
    return text is not None and 0 < len(text) <= 200 and bool(_RECORD_ID.fullmatch(text))


def _hf_purl_id(purl: Any) -> str | None:
    """``org/name`` of ``pkg:huggingface/org/name@revision?qualifiers#subpath``."""
    if not isinstance(purl, str) or not purl.startswith(_HF_PURL):
        return None
    path = re.split(r"[?#]", purl[len(_HF_PURL) :])[0].rsplit("@", 1)[0]
    rid = "/".join(unquote(part) for part in path.split("/") if part)
    return rid if _valid_id(rid) else None


def _hf_url_id(iri: str) -> str | None:
    """``org/name`` of a Hugging Face model or dataset address."""
    parts = urlsplit(iri)
    segments = [s for s in parts.path.split("/") if s]
    if parts.hostname != _HF_HOST:
        return None
    segments = segments[1:] if segments[:1] == ["datasets"] else segments
    rid = "/".join(unquote(s) for s in segments[:2])
    return rid if len(segments) >= 2 and _valid_id(rid) else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class _FileReader:
    """Reads one parsed SPDX 3.0.1 document."""

    def __init__(self, file: str, text: str, data: dict[str, Any]):
        self.file = file
        self.name = Path(file).name
        self.lines = json_lines(text)
        self.result = _FileResult(file)
        self.elements: dict[str, _Element] = {}
        self.imported: set[str] = set()
        self.data = data
        self.providers: dict[str, str] = {}  # agent spdxId -> provider id
        self.records: dict[str, tuple[str, str]] = {}  # spdxId -> (kind, record id)
        self.licences: dict[tuple[str, str], list[tuple[str, _Element]]] = {}
        # records waiting for their licence, which relationships give later
        self.pending: dict[tuple[str, str], _Item] = {}

    def problem(
        self, line: int | None, message: str, element: _Element | None = None, key: str = ""
    ) -> None:
        record = f"{element.type} '{element.id}'" if element else None
        self.result.problems.append(Problem(self.file, line, message, record, key or None))

    def source(self, spdx_id: str) -> str:
        return f"spdx:{self.name}#{spdx_id}"

    def line(self, element: _Element, key: str | None = None) -> int:
        return self.lines.element(element.index, key)

    # -- the graph --------------------------------------------------------------------------

    def read(self) -> _FileResult:
        graph = self.data.get("@graph")
        if not isinstance(graph, list):
            self.problem(
                self.lines.top.get("@graph", 1),
                "@graph must be a list of elements (an SPDX 3 JSON-LD document holds its "
                "elements in @graph)",
            )
            return self.result
        for index, raw in enumerate(graph):
            element = self.element(index, raw)
            if element is not None:
                self.elements[element.id] = element
        for element in self.elements.values():
            if element.type == "SpdxDocument":
                self.read_imports(element)
        for element in self.elements.values():
            if element.type in _RECORD_KINDS:
                self.read_package(element)
        relationships = [e for e in self.elements.values() if e.type in _RELATIONSHIP_TYPES]
        for element in relationships:
            self.read_relationship(element)
        for (kind, spdx_id), item in sorted(self.pending.items()):
            self.attach_licence(kind, spdx_id, item)
        return self.result

    def element(self, index: int, raw: Any) -> _Element | None:
        line = self.lines.element(index)
        if not isinstance(raw, dict):
            self.problem(line, f"@graph element #{index + 1} is not a JSON object")
            return None
        kind, spdx_id = raw.get("type", raw.get("@type")), raw.get("spdxId", raw.get("@id"))
        missing = [
            (key, message)
            for key, value, message in (
                ("type", kind, "element has no 'type'"),
                ("spdxId", spdx_id, "element has no 'spdxId'"),
            )
            if not isinstance(value, str) or not value
        ]
        for key, message in missing:
            label = f"@graph element #{index + 1}"
            self.result.problems.append(Problem(self.file, line, message, label, key))
        if missing or not isinstance(kind, str) or not isinstance(spdx_id, str):
            return None
        element = _Element(index, kind, spdx_id, raw)
        first = self.elements.get(spdx_id)
        if first is not None:
            self.problem(
                line,
                f"duplicate spdxId: already given to the element at line {self.line(first)}",
                element,
                "spdxId",
            )
            return None
        return element

    def read_imports(self, document: _Element) -> None:
        for entry in _as_list(document.data.get("import", [])):
            external = entry.get("externalSpdxId") if isinstance(entry, dict) else None
            if isinstance(external, str):
                self.imported.add(external)

    # -- packages ---------------------------------------------------------------------------

    def record_id(self, element: _Element) -> str | None:
        """A Hugging Face package's ``org/name``; else its name, as it is or as a slug."""
        name = element.data.get("name")
        rid = _hf_purl_id(element.data.get("software_packageUrl"))
        if rid is None and isinstance(name, str):
            rid = name if _valid_id(name) else _slug(name)
        if not _valid_id(rid):
            self.problem(
                self.line(element),
                "no usable record id: give the package a 'name' or a Hugging Face "
                "'software_packageUrl' (pkg:huggingface/org/name)",
                element,
                "name",
            )
            return None
        return rid

    def read_package(self, element: _Element) -> None:
        kind = _RECORD_KINDS[element.type]
        spec = _KINDS[kind]
        rid = self.record_id(element)
        if rid is None:
            return
        raw = element.data
        data: dict[str, Any] = {"id": rid, "name": raw.get("name", rid)}
        item = _Item(kind, data, self.line(element), {"id": self.line(element, "name")})
        unknown: list[str] = []

        def put(target: str, key: str, value: Any) -> None:
            data[target] = value
            item.field_lines[target] = self.line(element, key)

        for key, target in spec.plain.items():
            if key in raw:
                put(target, key, raw[key])
        for key, target in spec.lists.items():
            if key in raw:
                put(target, key, _as_list(raw[key]))
        for key, (target, vocabulary) in spec.vocabularies.items():
            if key not in raw:
                continue
            value = self.vocabulary(element, key, raw[key], vocabulary)
            if value is not None:
                put(target, key, value)
            elif raw[key] == "noAssertion":
                unknown.append(target)
        for key, (target, vocabulary) in spec.list_vocabularies.items():
            values = [
                self.vocabulary(element, key, v, vocabulary) for v in _as_list(raw.get(key, []))
            ]
            if any(values):
                put(target, key, sorted({v for v in values if v is not None}))
        description = next((key for key in _DESCRIPTION_KEYS if key in raw), None)
        if description:
            put("description", description, raw[description])
        release = raw.get("releaseTime")
        if kind == "model" and release is not None:
            match = _DATE_TIME.match(release) if isinstance(release, str) else None
            put("release_date", "releaseTime", match[1] if match else release)
        reported = len(self.result.problems)
        provider = self.provider_of(element)
        if provider is not None:
            put(spec.provider_field, provider[1], provider[0])
        elif spec.provider_required and len(self.result.problems) == reported:
            self.problem(
                self.line(element),
                "a model needs a provider: give it 'suppliedBy' (or 'originatedBy')",
                element,
                "suppliedBy",
            )
            return
        data.update(source=self.source(element.id), unknown=unknown)
        self.records[element.id] = (kind, rid)
        self.pending[(kind, element.id)] = item
        self.result.items.append(item)

    def vocabulary(
        self, element: _Element, key: str, value: Any, vocabulary: Mapping[str, Any]
    ) -> Any:
        if isinstance(value, str) and value in vocabulary:
            return vocabulary[value]
        self.problem(
            self.line(element, key),
            f"invalid value {shown(value)} (SPDX 3.0.1 allows: {', '.join(vocabulary)})",
            element,
            key,
        )
        return None

    def provider_of(self, element: _Element) -> tuple[str, str] | None:
        """The provider id of the package's supplier (else its first originator), and the key
        that named it."""
        for key in ("suppliedBy", "originatedBy"):
            for agent in _as_list(element.data.get(key, [])):
                if not isinstance(agent, str):
                    self.missing(element, key, agent)
                    continue
                if agent in _NO_ELEMENT:
                    continue
                provider = self.agent(element, key, agent)
                if provider is not None:
                    return provider, key
        return None

    def agent(self, element: _Element, key: str, agent: str) -> str | None:
        if agent in self.providers:
            return self.providers[agent]
        line = self.line(element, key)
        target = self.elements.get(agent)
        if target is None:
            if agent in self.imported:
                return self.stub_provider(agent, line)
            self.missing(element, key, agent)
            return None
        if target.type not in _AGENT_TYPES:
            self.problem(line, f"'{agent}' is a {target.type}, not an agent", element, key)
            return None
        name = target.data.get("name")
        rid = _slug(name) if isinstance(name, str) else ""
        rid = rid if _valid_id(rid) else _tail(target.id)
        if not _valid_id(rid):
            self.problem(
                self.line(target), "no usable provider id: give the agent a 'name'", target, "name"
            )
            return None
        data = {"id": rid, "name": name if isinstance(name, str) else rid}
        data["source"] = self.source(target.id)
        self.result.items.append(
            _Item("provider", data, self.line(target), {"id": self.line(target, "name")})
        )
        self.providers[agent] = rid
        return rid

    def missing(self, element: _Element, key: str, target: Any) -> None:
        self.problem(
            self.line(element, key),
            f"{shown(target)} is not an element of @graph, nor imported by the SpdxDocument "
            "(an ExternalMap in its 'import')",
            element,
            key,
        )

    # -- stubs ------------------------------------------------------------------------------

    def stub_provider(self, agent: str, line: int) -> str | None:
        rid = _hf_url_id(agent)
        rid = rid.split("/")[0] if rid else _tail(agent)
        if not _valid_id(rid):
            return None
        data = {"id": rid, "name": rid, "confidence": Confidence.inferred.value}
        self.result.stubs.append(_Item("provider", {**data, "source": self.source(agent)}, line))
        self.providers[agent] = rid
        return rid

    def stub(self, kind: str, spdx_id: str, line: int) -> str | None:
        """A record for an imported element: its id from its address (``org/name`` on the
        Hugging Face Hub, else the address's last segment), a model's provider from its org
        or host."""
        hf = _hf_url_id(spdx_id)
        rid = hf or _tail(spdx_id)
        provider = hf.split("/")[0] if hf else urlsplit(spdx_id).hostname
        if not _valid_id(rid) or (kind == "model" and not _valid_id(provider)):
            return None
        data: dict[str, Any] = {"id": rid, "name": rid, "tags": [STUB_MARK]}
        if kind == "model":
            data["provider"] = provider
            provider_data = {"id": provider, "name": provider}
            provider_data.update(confidence=Confidence.inferred.value, source=self.source(spdx_id))
            self.result.stubs.append(_Item("provider", provider_data, line))
        data.update(confidence=Confidence.inferred.value, source=self.source(spdx_id))
        self.result.stubs.append(_Item(kind, data, line))
        self.records[spdx_id] = (kind, rid)
        return rid

    # -- relationships ----------------------------------------------------------------------

    def endpoints(self, element: _Element) -> tuple[Any, list[Any]]:
        return element.data.get("from"), _as_list(element.data.get("to", []))

    def read_relationship(self, element: _Element) -> None:
        relationship = element.data.get("relationshipType")
        if relationship in _LICENCE_RELATIONSHIPS:
            self.read_licence_relationship(element, _LICENCE_RELATIONSHIPS[relationship])
        elif relationship in _LINEAGE:
            self.read_lineage(element, _LINEAGE[relationship])

    def kind_of(self, element: _Element, key: str, ref: Any) -> str | None:
        """The record kind ``ref`` names; ``"external"`` for an imported element, ``""`` for
        an element of a kind aigov does not keep, None (reported) for a missing one."""
        if isinstance(ref, str) and ref in self.records:
            return self.records[ref][0]
        if isinstance(ref, str) and ref in self.elements:
            return ""
        if isinstance(ref, str) and ref in self.imported:
            return "external"
        self.missing(element, key, ref)
        return None

    def read_lineage(self, element: _Element, lineage: _Lineage) -> None:
        source, targets = self.endpoints(element)
        from_kind = self.kind_of(element, "from", source)
        for target in targets:
            to_kind = self.kind_of(element, "to", target)
            if from_kind is None or to_kind is None:
                continue
            ends = [(source, from_kind, "from"), (target, to_kind, "to")]
            child, parent = ends if lineage.from_is_child else ends[::-1]
            pair = self.resolve_pair(element, lineage, child, parent)
            if pair is None:
                continue
            (child_id, parent_id), (relation, confidence) = pair
            data: dict[str, Any] = {"child": child_id, "parent": parent_id}
            data.update(relation=relation.value, source=self.source(element.id))
            if confidence is not Confidence.declared:
                data["provenance"] = {"relation": {"confidence": confidence.value}}
            evidence = next((element.data[k] for k in _DESCRIPTION_KEYS if k in element.data), None)
            if evidence is not None:
                data["evidence"] = evidence
            lines = {"child": self.line(element, child[2]), "parent": self.line(element, parent[2])}
            lines["relation"] = self.line(element, "relationshipType")
            self.result.items.append(_Item("lineage", data, self.line(element), lines))

    def resolve_pair(
        self,
        element: _Element,
        lineage: _Lineage,
        child: tuple[str, str, str],
        parent: tuple[str, str, str],
    ) -> tuple[tuple[str, str], tuple[Relation, Confidence]] | None:
        """The record ids and relation of a lineage edge; an imported end takes the one kind
        the relation allows beside the other end (and becomes a stub). None when the edge
        links kinds aigov does not keep or no relation fits."""
        kinds = [child[1], parent[1]]
        for end in (0, 1):
            if kinds[end] == "external":
                fits = {pair[end] for pair in lineage.relations if pair[1 - end] == kinds[1 - end]}
                kinds[end] = fits.pop() if len(fits) == 1 else ""
        relation = lineage.relations.get((kinds[0], kinds[1]))
        if relation is None:
            return None
        ids = []
        for (ref, kind, key), resolved in zip((child, parent), kinds, strict=True):
            rid = (
                self.stub(resolved, ref, self.line(element, key))
                if kind == "external"
                else self.records[ref][1]
            )
            if rid is None:
                self.problem(
                    self.line(element, key), f"no usable record id in {shown(ref)}", element, key
                )
                return None
            ids.append(rid)
        return (ids[0], ids[1]), relation

    # -- licences ---------------------------------------------------------------------------

    def read_licence_relationship(self, element: _Element, which: str) -> None:
        source, targets = self.endpoints(element)
        if not isinstance(source, str) or source not in self.elements:
            if not (isinstance(source, str) and source in self.imported):
                self.missing(element, "from", source)
            return
        if source not in self.records:
            return
        for target in targets:
            licence = self.licence(element, target, set())
            if licence is not None:
                self.licences.setdefault((source, which), []).append((licence, element))

    def licence(self, relationship: _Element, ref: Any, seen: set[str]) -> str | None:
        """The licence expression ``ref`` names: an SPDX individual (NOASSERTION, NONE), a
        listed licence by address, or a licensing element of the graph (or inline)."""
        if isinstance(ref, str):
            if ref in _NO_ASSERTION_LICENCE:
                return "NOASSERTION"
            if ref in _NONE_LICENCE:
                return "NONE"
            target = self.elements.get(ref)
            if target is None:
                if ref.startswith(_LISTED_LICENCE):
                    return _tail(ref)
                if ref not in self.imported:
                    self.missing(relationship, "to", ref)
                return None
            if ref in seen:
                self.problem(
                    self.line(target), "licence elements refer to each other in a cycle", target
                )
                return None
            return self.licence_element(relationship, target, target.data, seen | {ref})
        if isinstance(ref, dict):
            return self.licence_element(relationship, None, ref, seen)
        self.missing(relationship, "to", ref)
        return None

    def licence_element(
        self, relationship: _Element, element: _Element | None, data: dict[str, Any], seen: set[str]
    ) -> str | None:
        reader = _LICENCE_READERS.get(data.get("type", ""))
        where = element or relationship
        if reader is None:
            self.problem(
                self.line(where),
                f"unsupported licence element type {shown(data.get('type'))} (read: "
                f"{', '.join(_LICENCE_READERS)})",
                where,
                "type",
            )
            return None
        return reader(self, relationship, where, data, seen)

    def required(self, where: _Element, data: dict[str, Any], key: str, what: str) -> Any:
        """``data[key]`` when it holds ``what`` (text, or a non-empty list); else reported."""
        value = data.get(key)
        if isinstance(value, str if what == "text" else list) and value:
            return value
        self.problem(self.line(where, key), f"'{key}' must be {what}", where, key)
        return None

    def attach_licence(self, kind: str, spdx_id: str, item: _Item) -> None:
        """Concluded wins over declared (NOASSERTION concluded defers to declared); NOASSERTION
        or NONE alone makes the licence unknown. The licence's provenance cites the
        relationship, and the declared licence when it differs."""
        spec = _KINDS[kind]
        chosen: dict[str, tuple[str, list[_Element]]] = {}
        for which in ("concluded", "declared"):
            found = self.licences.get((spdx_id, which))
            if found:
                text = " AND ".join(f"({t})" if " " in t else t for t, _ in found)
                chosen[which] = (text, [rel for _, rel in found])
        usable = [w for w in chosen if chosen[w][0] != "NOASSERTION"]
        if not chosen:
            return
        if not usable or chosen[usable[0]][0] in _NO_LICENCE_TEXT:
            item.data["unknown"].append(spec.licence_field)
            return
        which = usable[0]
        text, relationships = chosen[which]
        try:
            licence = normalise_licence(text)
        except ValueError as exc:
            rel = relationships[0]
            self.problem(self.line(rel, "to"), str(exc), rel, "to")
            return
        note = " ".join(self.source(rel.id) for rel in relationships)
        declared = chosen.get("declared", ("", []))[0]
        if which == "concluded" and declared and declared != text:
            note += f" (hasConcludedLicense; hasDeclaredLicense says {declared})"
        item.data[spec.licence_field] = licence if kind == "model" else [licence]
        item.data["provenance"] = {spec.licence_field: {"source": note}}
        item.field_lines[spec.licence_field] = self.line(relationships[0], "to")


_LicenceReader = Callable[[_FileReader, _Element, _Element, dict[str, Any], set[str]], str | None]
_SUBJECT = "a licence (an address or an element)"


def _expression(
    reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
) -> str | None:
    key = "simplelicensing_licenseExpression"
    text = reader.required(where, data, key, "text")
    if text is None or text in _NO_LICENCE_TEXT:
        return text
    try:
        normalise_licence(text)
    except ValueError as exc:
        reader.problem(reader.line(where, key), str(exc), where, key)
        return None
    return text


def _listed(
    reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
) -> str | None:
    """A licence of the SPDX list: the last segment of its address."""
    spdx_id = reader.required(where, data, "spdxId", "text")
    return _tail(spdx_id) if spdx_id else None


def _custom(
    reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
) -> str | None:
    """A licence not on the SPDX list: ``LicenseRef-`` and its spdxId's last segment."""
    tail = _listed(reader, rel, where, data, seen)
    if not tail:
        return None
    tail = _NOT_IDSTRING.sub("-", tail).strip("-")
    return tail if tail.startswith("LicenseRef-") else f"LicenseRef-{tail}"


def _joined(operator: str) -> _LicenceReader:
    def read(
        reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
    ) -> str | None:
        members = reader.required(where, data, "expandedlicensing_member", "a list of licences")
        read_licences = [reader.licence(rel, member, seen) for member in members or []]
        licences = [text for text in read_licences if text is not None]
        if not licences or len(licences) != len(read_licences):
            return None
        return f" {operator} ".join(f"({m})" if " " in m else m for m in licences)

    return read


def _with(
    reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
) -> str | None:
    subject = reader.required(where, data, "expandedlicensing_subjectExtendableLicense", "text")
    addition = reader.required(where, data, "expandedlicensing_subjectAddition", "text")
    licence = reader.licence(rel, subject, seen) if subject else None
    return f"{licence} WITH {_tail(addition)}" if licence and addition else None


def _or_later(
    reader: _FileReader, rel: _Element, where: _Element, data: dict[str, Any], seen: set[str]
) -> str | None:
    subject = reader.required(where, data, "expandedlicensing_subjectLicense", "text")
    licence = reader.licence(rel, subject, seen) if subject else None
    return f"{licence}+" if licence else None


_LICENCE_READERS: dict[str, _LicenceReader] = {
    "simplelicensing_LicenseExpression": _expression,
    "expandedlicensing_ListedLicense": _listed,
    "expandedlicensing_CustomLicense": _custom,
    "expandedlicensing_ConjunctiveLicenseSet": _joined("AND"),
    "expandedlicensing_DisjunctiveLicenseSet": _joined("OR"),
    "expandedlicensing_WithAdditionOperator": _with,
    "expandedlicensing_OrLaterOperator": _or_later,
}


# --------------------------------------------------------------------------- the batch


def _read_file(source: str) -> tuple[_FileResult, bool]:
    """One file's records and problems, and whether it was an SPDX 3.0.1 document."""
    result = _FileResult(source)
    try:
        text = read_text(Path(source), source)
        (document,) = parse_text(text, source, json_first=True)
    except InputError as exc:
        result.problems.extend(exc.problems)
        return result, False
    data = document.data
    context = data.get("@context") if isinstance(data, dict) else None
    if context != CONTEXT and not (isinstance(context, list) and CONTEXT in context):
        line = json_lines(text).top.get("@context", 1)
        found = "it has no @context" if context is None else f"@context is {shown(context)}"
        message = f"not an SPDX 3.0.1 JSON-LD document: {found}, expected '{CONTEXT}'"
        result.problems.append(Problem(source, line, message))
        return result, False
    return _FileReader(source, text, data).read(), True


def _document(file: str, items: Iterable[_Item]) -> MappedDocument:
    """The registry document of ``items``, each section sorted by id, with source lines."""
    data: dict[str, list[dict[str, Any]]] = {}
    lines: dict[tuple[Any, ...], int] = {}
    for kind, section in _SECTIONS.items():
        chosen = sorted((item for item in items if item.kind == kind), key=lambda i: i.key)
        for index, item in enumerate(chosen):
            lines[(section, index)] = item.line
            lines.update({(section, index, name): line for name, line in item.field_lines.items()})
        if chosen:
            data[section] = [_clean(item.data) for item in chosen]
    return MappedDocument(file=file, data=data, lines=lines)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """The record without empty ``unknown`` / ``provenance`` (the defaults)."""
    return {key: value for key, value in data.items() if value != [] or key != "unknown"}


def read_spdx(sources: list[str], **options: Any) -> ImportBatch:
    """Registry documents from SPDX 3.0.1 JSON-LD files: one document per file, stubs for
    imported elements they name, and every problem of every file."""
    batch = ImportBatch()
    taken: dict[str, tuple[str, str, int]] = {}  # record id -> (kind, file, line)
    results: list[_FileResult] = []
    for source in sources:
        result, read = _read_file(source)
        batch.sources += int(read)
        kept: list[_Item] = []
        for item in result.items:
            first = taken.get(item.key)
            if first is None:
                taken[item.key] = (item.kind, source, item.line)
                kept.append(item)
            elif item.kind not in ("provider", "lineage") or first[0] != item.kind:
                result.problems.append(
                    Problem(
                        source,
                        item.line,
                        f"duplicate id '{item.key}': already given to the {first[0]} read at "
                        f"{first[1]}:{first[2]}",
                        f"{item.kind} '{item.key}'",
                        "id",
                    )
                )
        result.items = kept
        results.append(result)
    for result in results:
        stubs = []
        for stub in result.stubs:
            if stub.key not in taken:
                taken[stub.key] = (stub.kind, result.file, stub.line)
                stubs.append(stub)
        if result.items:
            batch.documents.append(_document(result.file, result.items))
        if stubs:
            batch.stubs.append(_document(result.file, stubs))
        batch.problems.extend(sorted(result.problems, key=lambda p: (p.line or 0, p.message)))
    return batch
