"""CycloneDX ML-BOMs (1.5, 1.6): registry records read from a BOM, and the registry written
as one.

A BOM is checked against the official CycloneDX JSON schema of its ``specVersion`` as
cyclonedx-python-lib ships it, every schema error reported with the BOM's line; only a valid
BOM is mapped. The mapping is read from the JSON itself, as cyclonedx-python-lib cannot
deserialize ``modelCard`` (its issue 912). What CycloneDX has no field for (a lineage
relation, a confidence, aigov's own model facts) travels as component ``properties`` named
``aigov:…``, so that a BOM :func:`write_cyclonedx` writes reads back into the same records.
docs/importers/cyclonedx.md has the mapping table.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import is_supported_id
from cyclonedx.validation.json import JsonStrictValidator

from aigov import __version__
from aigov.documents import iter_input_files, parse_text, read_text
from aigov.errors import InputError, Problem, RegistryError, clip, shown
from aigov.registry.importers import STUB_MARK, ImportBatch, MappedDocument
from aigov.registry.licences import licence_symbols, normalise_licence
from aigov.registry.records import Confidence, RecordBase, Relation

SPEC_VERSION = "1.6"
# The specVersions read, each validated against its own schema (ML-BOMs began with 1.5).
SCHEMAS: dict[str, SchemaVersion] = {"1.5": SchemaVersion.V1_5, "1.6": SchemaVersion.V1_6}
PREFIX = "aigov:"

# component type -> registry kind, and back
KIND_OF_TYPE: dict[str, str] = {"machine-learning-model": "model", "data": "dataset"}
TYPE_OF_KIND: dict[str, str] = {kind: type_ for type_, kind in KIND_OF_TYPE.items()}
SECTION_OF_KIND: dict[str, str] = {
    "provider": "providers",
    "model": "models",
    "dataset": "datasets",
}

# The relation of an edge the BOM implies but does not name (a pedigree ancestor with no
# ``aigov:relation``, a ``dependencies`` entry), by (child kind, parent kind).
IMPLIED_RELATION: dict[tuple[str, str], Relation] = {
    ("model", "model"): Relation.finetune,
    ("model", "dataset"): Relation.trained_on,
    ("dataset", "dataset"): Relation.derived_from,
    ("dataset", "model"): Relation.generated_by,
}
# ``aigov:relation`` values: aigov's relation names, and the spellings other tools use
# (Hugging Face's ``base_model_relation`` values among them).
RELATION_NAMES: dict[str, Relation] = {r.value: r for r in Relation} | {
    "fine-tune": Relation.finetune,
    "fine-tuned": Relation.finetune,
    "finetuned": Relation.finetune,
    "quantization": Relation.quantized,
    "lora": Relation.adapter,
    "merged": Relation.merge,
    "distilled": Relation.distillation,
    "converted": Relation.conversion,
}
# Where a component names its provider, most authoritative first, and how far that is the
# maker: a publisher may only distribute it, a group is only a namespace.
PROVIDER_FIELDS: tuple[tuple[str, Confidence], ...] = (
    ("manufacturer", Confidence.declared),
    ("supplier", Confidence.declared),
    ("author", Confidence.declared),
    ("publisher", Confidence.inferred),
    ("group", Confidence.inferred),
)
# Record fields with no CycloneDX field, carried as ``aigov:<field>`` properties: field ->
# whether it is a list (one property per item).
PROPERTY_FIELDS: dict[str, dict[str, bool]] = {
    "model": {
        "family": False,
        "weights": False,
        "release_date": False,
        "training_compute_flop": False,
        "is_gpai": False,
        "owner": False,
        "distributed": False,
        "eu_placed_on_market": False,
        "commission_notified_at": False,
        "copyright_policy_url": False,
        "training_summary_url": False,
        "safety_risk_assessment": False,
        "autonomy_type": False,
        "modality": True,
        "attributions": True,
        "standard_compliance": True,
        "domain": True,
    },
    "dataset": {"synthetic": False, "availability": False, "sensitive_personal_information": False},
}
# Properties about the component itself or one lineage edge (on a pedigree entry).
ID_PROPERTY = "aigov:id"
PROVIDER_PROPERTY = "aigov:provider"
RELATION_PROPERTY = "aigov:relation"
CONFIDENCE_PROPERTY = "aigov:confidence"
EVIDENCE_PROPERTY = "aigov:evidence"
_OWN_PROPERTIES = {
    ID_PROPERTY,
    PROVIDER_PROPERTY,
    RELATION_PROPERTY,
    CONFIDENCE_PROPERTY,
    EVIDENCE_PROPERTY,
}
# pedigree list -> whether its entries are parents (else children) of the component
PEDIGREE: dict[str, bool] = {"ancestors": True, "descendants": False, "variants": False}
# External references that locate a dataset, in order of preference.
URL_REFERENCES = ("distribution", "website", "vcs")

_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+#~-]*")
_NOT_ID = re.compile(r"[^A-Za-z0-9._:/@+#~-]+")
_NOT_LICENCE_REF = re.compile(r"[^A-Za-z0-9.-]+")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
Path_ = tuple[Any, ...]


# --------------------------------------------------------------------------- reading


def read_cyclonedx(sources: list[str]) -> ImportBatch:
    """Registry documents from CycloneDX ML-BOM JSON files: one document per BOM, the records
    they only refer to as stubs, every problem of every file."""
    batch = ImportBatch()
    described: dict[tuple[str, str], tuple[dict[str, Any], str, int]] = {}
    stubs: dict[tuple[str, str], tuple[_Item, str]] = {}
    for path, label in _files(sources, batch.problems):
        bom = _load(path, label, batch.problems)
        if bom is None:
            continue
        batch.sources += 1
        mapper = _Mapper(bom)
        mapper.run()
        batch.problems += mapper.problems
        kept = _Sections()
        for section, items in mapper.records.items():
            for rid, item in items.items():
                seen = described.get((section, rid))
                plain = _without_source(item.data)
                if seen is None:
                    described[(section, rid)] = (plain, bom.label, item.line)
                    kept.setdefault(section, {})[rid] = item
                elif seen[0] != plain:
                    batch.problems.append(
                        Problem(
                            bom.label,
                            item.line,
                            f"described differently in {seen[1]}:{seen[2]}",
                            record=f"{section.removesuffix('s')} '{rid}'",
                        )
                    )
        batch.documents.append(kept.document(bom.label))
        for section, items in mapper.stubs.items():
            for rid, item in items.items():
                stubs.setdefault((section, rid), (item, bom.label))
    by_file: dict[str, _Sections] = {}
    for (section, rid), (item, label) in sorted(stubs.items()):
        if (section, rid) not in described:
            by_file.setdefault(label, _Sections()).setdefault(section, {})[rid] = item
    batch.stubs = [sections.document(label) for label, sections in sorted(by_file.items())]
    return batch


@dataclass
class _Bom:
    """One BOM that parsed and validated: its data and the line of each JSON value."""

    label: str
    data: dict[str, Any]
    lines: dict[Path_, int]

    @property
    def name(self) -> str:
        return Path(self.label).name

    def line(self, path: Path_) -> int:
        return _line_of(self.lines, path)

    def source(self, component: Mapping[str, Any]) -> str:
        """``cyclonedx:<file>#<bom-ref>`` (the BOM's serial number for a component with no
        bom-ref): where a record was read."""
        anchor = component.get("bom-ref") or self.data.get("serialNumber")
        return f"cyclonedx:{self.name}#{anchor}" if anchor else f"cyclonedx:{self.name}"


def _files(sources: list[str], problems: list[Problem]) -> Iterator[tuple[Path, str]]:
    """The BOM files named, a directory standing for the JSON files under it."""
    for source in sources:
        path = Path(source)
        if not path.is_dir():
            yield path, source
            continue
        try:
            found = list(iter_input_files([path]))
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        json_files = [(file, label) for file, label in found if file.suffix.lower() == ".json"]
        if not json_files:
            problems.append(Problem(source, None, "no .json files in this directory"))
        yield from json_files


def _load(path: Path, label: str, problems: list[Problem]) -> _Bom | None:
    """Read, parse (duplicate keys refused) and schema-validate one BOM file."""
    try:
        text = read_text(path, label)
        documents = parse_text(text, label, json_first=True)
    except InputError as exc:
        problems.extend(exc.problems)
        return None
    data = documents[0].data
    lines = json_value_lines(text)
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        problems.append(Problem(label, 1, 'not a CycloneDX BOM (no "bomFormat": "CycloneDX")'))
        return None
    version = data.get("specVersion")
    schema = SCHEMAS.get(version) if isinstance(version, str) else None
    if schema is None:
        problems.append(
            Problem(
                label,
                lines.get(("specVersion",), 1),
                f"specVersion {shown(version)} is not read (aigov reads CycloneDX "
                f"{' and '.join(SCHEMAS)} ML-BOMs)",
            )
        )
        return None
    errors = _validator(schema).validate_str(text, all_errors=True) or []
    found = [_schema_problem(label, lines, str(version), error.data) for error in errors]
    if found:
        problems.extend(sorted(set(found)))
        return None
    return _Bom(label, data, lines)


def _schema_problem(label: str, lines: dict[Path_, int], version: str, error: Any) -> Problem:
    """A schema error as a located problem: for a ``oneOf``/``anyOf`` that no branch
    matches, the deepest error of its branches (the one nearest the bad value)."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    line = _line_of(lines, tuple(error.absolute_path))
    if error.validator == "enum":
        allowed = error.validator_value
        listed = f" ({', '.join(map(str, allowed))})" if len(allowed) <= 20 else ""
        message = f"{shown(error.instance)} is not one of the values it allows{listed}"
    else:
        message = clip(error.message, 300)
    return Problem(label, line, f"CycloneDX {version} schema: {error.json_path}: {message}")


def _line_of(lines: Mapping[Path_, int], path: Path_) -> int:
    """The line of the deepest element of ``path`` that is in the BOM."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return 1


@cache
def _validator(schema: SchemaVersion) -> JsonStrictValidator:
    """The schema validator of one CycloneDX version (built once: it loads the schemas)."""
    return JsonStrictValidator(schema)


def json_value_lines(text: str) -> dict[Path_, int]:
    """The line of every value in a JSON text that parsed, by its path (a member's line is
    its key's). One pass over its tokens."""
    lines: dict[Path_, int] = {(): 1}
    stack: list[list[Any]] = []  # per open container: [bracket, key or index, key seen]
    line, last = 1, 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        line += text.count("\n", last, match.start())
        last = match.start()
        top = stack[-1] if stack else None
        if token in "}]":
            stack.pop()
            continue
        if token == ":":
            continue
        if token == ",":
            if top is not None and top[0] == "[":
                top[1] += 1
            elif top is not None:
                top[2] = False
            continue
        if top is not None and top[0] == "{" and not top[2]:
            top[1], top[2] = json.loads(token), True
            lines[tuple(frame[1] for frame in stack)] = line
            continue
        if top is not None and top[0] == "[":
            lines[tuple(frame[1] for frame in stack)] = line
        if token in "{[":
            stack.append([token, 0, False] if token == "[" else [token, None, False])
    return lines


@dataclass
class _Item:
    """A registry record being built: its data, its line, and the lines of its fields."""

    data: dict[str, Any]
    line: int
    lines: dict[Path_, int] = field(default_factory=dict)


class _Sections(dict[str, dict[str, _Item]]):
    """Records by section and id, written out as one document (sorted by id)."""

    def document(self, label: str) -> MappedDocument:
        data: dict[str, list[dict[str, Any]]] = {}
        lines: dict[Path_, int] = {}
        for section in ("providers", "models", "datasets", "lineage"):
            items = [item for _, item in sorted(self.get(section, {}).items())]
            if not items:
                continue
            data[section] = [item.data for item in items]
            for index, item in enumerate(items):
                lines[(section, index)] = item.line
                for where, line in item.lines.items():
                    lines[(section, index, *where)] = line
        return MappedDocument(file=label, data=data, lines=lines)


@dataclass(frozen=True)
class _Node:
    """A model or dataset component of the BOM (or one of its pedigree entries)."""

    kind: str
    id: str
    path: Path_
    component: Mapping[str, Any]


@dataclass
class _Edge:
    """A lineage edge the BOM gives, before the edges of one pair are weighed."""

    child: _Node
    parent: _Node
    relation: Relation | None  # None: implied, IMPLIED_RELATION by kinds gives it
    confidence: str  # as the BOM gives it: the record's validation checks it
    line: int
    source: str
    rank: int = 0  # among implied edges of one pair, the lowest rank is kept
    evidence: str | None = None
    lines: dict[Path_, int] = field(default_factory=dict)  # of relation, confidence, evidence

    @property
    def pair(self) -> tuple[str, str]:
        return self.child.id, self.parent.id


def _without_source(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "source"}


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 200 and bool(_RECORD_ID.fullmatch(value))


def _first_id(candidates: list[Any], fallback: str) -> str:
    """The first candidate that is a record id, else ``fallback``."""
    return next((str(c) for c in candidates if _valid_id(c)), fallback)


def _slug(text: str, *, lower: bool = False) -> str:
    """``text`` as a record id: runs of other characters as '-', trimmed."""
    slug = _NOT_ID.sub("-", text.lower() if lower else text).strip("-._:/@+#~")[:200]
    return slug or "unnamed"


class _Mapper:
    """Maps one validated BOM onto records, stubs and problems."""

    def __init__(self, bom: _Bom):
        self.bom = bom
        self.records: _Sections = _Sections()
        self.stubs: _Sections = _Sections()
        self.problems: list[Problem] = []
        self.refs: dict[str, _Node | None] = {}  # bom-ref -> its node (None: not a model/data)
        self.edges: list[_Edge] = []

    def run(self) -> None:
        nodes = list(self._nodes())
        for node in nodes:
            self._describe(node)
        for node in nodes:
            self._lineage(node)
        self._dependencies()
        self._write_edges()

    # -- components

    def _components(self) -> Iterator[tuple[Path_, Mapping[str, Any]]]:
        """Every component of the BOM: the metadata's, the list and their nested ones."""
        stack: list[tuple[Path_, Any]] = []
        metadata = self.bom.data.get("metadata", {})
        if "component" in metadata:
            stack.append((("metadata", "component"), metadata["component"]))
        stack += [(("components", i), c) for i, c in enumerate(self.bom.data.get("components", []))]
        stack.reverse()
        while stack:
            path, component = stack.pop()
            yield path, component
            nested = component.get("components", [])
            stack += reversed([((*path, "components", i), c) for i, c in enumerate(nested)])

    def _nodes(self) -> Iterator[_Node]:
        for path, component in self._components():
            kind = KIND_OF_TYPE.get(component["type"])
            node = _Node(kind, self._id_of(component), path, component) if kind else None
            if "bom-ref" in component:
                self.refs[component["bom-ref"]] = node
            if node is not None:
                yield node

    def _id_of(self, component: Mapping[str, Any]) -> str:
        """aigov:id, else a bom-ref that is a record id, else group/name, else the name."""
        own = _properties(component).get(ID_PROPERTY)
        candidates = [own[0][0] if own else None, component.get("bom-ref")]
        name = component["name"]
        group = component.get("group")
        named = f"{group}/{name}" if group else name
        return _first_id([*candidates, named], _slug(named))

    def _describe(self, node: _Node) -> None:
        """The record of a model or data component, and of its provider."""
        component, path = node.component, node.path
        data: dict[str, Any] = {"id": node.id, "name": component["name"]}
        item = _Item(data, self.bom.line(path))
        provider = self._provider(node, self.records, self.bom.source(component))
        if node.kind == "model":
            if "version" in component:
                self._set(item, "version", component["version"], (*path, "version"))
            if provider is None:
                self.problems.append(
                    Problem(
                        self.bom.label,
                        item.line,
                        "no manufacturer, supplier, author, publisher or group names the "
                        "model's provider",
                        record=f"model '{node.id}'",
                    )
                )
                return
            self._set(item, "provider", *provider)
        else:
            if provider is not None:
                self._set(item, "creator", *provider)
            url = self._url(component, path)
            if url is not None:
                self._set(item, "url", *url)
            entries = enumerate(component.get("data", []))
            self._sensitive(item, [(entry, (*path, "data", i)) for i, entry in entries])
        if "description" in component:
            self._set(item, "description", component["description"], (*path, "description"))
        data["source"] = self.bom.source(component)
        if component.get("tags"):
            self._set(item, "tags", list(component["tags"]), (*path, "tags"))
        self._licences(node, item)
        self._own_properties(node, item)
        first = self.records.get(SECTION_OF_KIND[node.kind], {}).get(node.id)
        if first is not None:
            self.problems.append(
                Problem(
                    self.bom.label,
                    item.line,
                    f"a second component with this id (the first is at line {first.line}): "
                    "give each a distinct bom-ref",
                    record=f"{node.kind} '{node.id}'",
                )
            )
        self._add(self.records, node.kind, item)

    def _set(
        self,
        item: _Item,
        name: str,
        value: Any,
        where: Path_,
        confidence: Confidence = Confidence.declared,
    ) -> None:
        item.data[name] = value
        item.lines[(name,)] = self.bom.line(where)
        if confidence != Confidence.declared:
            item.data.setdefault("provenance", {})[name] = {"confidence": confidence.value}

    def _add(self, sections: _Sections, kind: str, item: _Item) -> None:
        sections.setdefault(SECTION_OF_KIND[kind], {}).setdefault(item.data["id"], item)

    def _provider(
        self, node: _Node, sections: _Sections, source: str
    ) -> tuple[str, Path_, Confidence] | None:
        """The provider id a component names (its record added to ``sections``), the path
        that names it and how far it is stated."""
        component, path = node.component, node.path
        for name, confidence in PROVIDER_FIELDS:
            value = component.get(name)
            entity: Mapping[str, Any] = value if isinstance(value, dict) else {"name": value}
            label = entity.get("name")
            if not isinstance(label, str) or not label.strip():
                continue
            own = _properties(component).get(PROVIDER_PROPERTY)
            candidates = [own[0][0] if own else None, entity.get("bom-ref")]
            pid = _first_id(candidates, _slug(label, lower=True))
            where = (*path, name)
            data: dict[str, Any] = {"id": pid, "name": label}
            country = entity.get("address", {}).get("country")
            if country:
                data["jurisdiction"] = country
            data["source"] = source
            if confidence != Confidence.declared:
                data["confidence"] = confidence.value
            self._add(sections, "provider", _Item(data, self.bom.line(where)))
            return pid, where, confidence
        return None

    def _sensitive(self, item: _Item, entries: list[tuple[Mapping[str, Any], Path_]]) -> None:
        """``sensitiveData`` described in a dataset's data: it holds sensitive personal
        information (inferred: the sensitive data may be of another kind)."""
        for entry, path in entries:
            if entry.get("sensitiveData"):
                where = (*path, "sensitiveData")
                self._set(item, "sensitive_personal_information", True, where, Confidence.inferred)
                return

    def _url(self, component: Mapping[str, Any], path: Path_) -> tuple[str, Path_] | None:
        for index, entry in enumerate(component.get("data", [])):
            if "url" in entry.get("contents", {}):
                return entry["contents"]["url"], (*path, "data", index, "contents", "url")
        references = list(enumerate(component.get("externalReferences", [])))
        for kind in URL_REFERENCES:
            for index, reference in references:
                if reference["type"] == kind:
                    return reference["url"], (*path, "externalReferences", index, "url")
        return None

    def _licences(self, node: _Node, item: _Item) -> None:
        """``licenses`` as licences: an SPDX id as it is, a name that is a licence id or
        expression as it parses, any other name as ``LicenseRef-<name>`` (inferred), an
        expression normalised (a problem when it does not parse)."""
        path = (*node.path, "licenses")
        found: list[str] = []
        inferred = False
        for index, choice in enumerate(node.component.get("licenses", [])):
            licence = choice.get("license", {})
            text = choice.get("expression", licence.get("id", licence.get("name")))
            key = "expression" if "expression" in choice else "id" if "id" in licence else "name"
            where = (*path, index, key) if key == "expression" else (*path, index, "license", key)
            try:
                found.append(normalise_licence(text))
            except ValueError as exc:
                if key == "expression":
                    self.problems.append(
                        Problem(
                            self.bom.label,
                            self.bom.line(where),
                            str(exc),
                            record=f"{node.kind} '{node.id}'",
                            field="licenses",
                        )
                    )
                    continue
                found.append("LicenseRef-" + _NOT_LICENCE_REF.sub("-", text).strip("-.")[:180])
                inferred = True
        if not found:
            return
        confidence = Confidence.inferred if inferred else Confidence.declared
        if node.kind == "dataset":
            self._set(item, "licences", found, path, confidence)
        elif len(found) == 1:
            self._set(item, "licence", found[0], path, confidence)
        else:  # several licences, CycloneDX says not how they combine: all of them apply
            joined = " AND ".join(f"({text})" for text in found)
            self._set(item, "licence", normalise_licence(joined), path, Confidence.inferred)

    def _own_properties(self, node: _Node, item: _Item) -> None:
        """The ``aigov:<field>`` properties of a component, and its record's confidence."""
        fields = PROPERTY_FIELDS[node.kind]
        for name, values in _properties(node.component).items():
            if not name.startswith(PREFIX) or name in _OWN_PROPERTIES - {CONFIDENCE_PROPERTY}:
                continue
            field_name = name.removeprefix(PREFIX)
            index = values[0][1]
            where = (*node.path, "properties", index, "value")
            if name == CONFIDENCE_PROPERTY:
                item.data["confidence"] = values[0][0]
                item.lines[("confidence",)] = self.bom.line(where)
            elif field_name in fields:
                value = [v for v, _ in values] if fields[field_name] else values[0][0]
                self._set(item, field_name, value, where)
            else:
                known = sorted([*(PREFIX + f for f in fields), *_OWN_PROPERTIES])
                self.problems.append(
                    Problem(
                        self.bom.label,
                        self.bom.line((*node.path, "properties", index, "name")),
                        f"unknown property {shown(name)} on a {TYPE_OF_KIND[node.kind]} "
                        f"component (aigov reads {', '.join(known)})",
                        record=f"{node.kind} '{node.id}'",
                    )
                )

    # -- lineage

    def _lineage(self, node: _Node) -> None:
        """Edges of one component: its model card's datasets and its pedigree."""
        parameters = node.component.get("modelCard", {}).get("modelParameters", {})
        base = (*node.path, "modelCard", "modelParameters", "datasets")
        for index, entry in enumerate(parameters.get("datasets", [])):
            parent = self._card_dataset(node, entry, (*base, index))
            if parent is not None and node.kind == "model":
                line = self.bom.line((*base, index))
                source = self.bom.source(node.component)
                edge = _Edge(node, parent, None, Confidence.declared.value, line, source)
                self.edges.append(edge)
        for key, is_parent in PEDIGREE.items():
            entries = node.component.get("pedigree", {}).get(key, [])
            for index, entry in enumerate(entries):
                other = self._pedigree_entry(entry, (*node.path, "pedigree", key, index), node)
                if other is not None:
                    child, parent = (node, other) if is_parent else (other, node)
                    self.edges.append(self._pedigree_edge(child, parent, other, node))

    def _card_dataset(self, node: _Node, entry: Mapping[str, Any], path: Path_) -> _Node | None:
        """The dataset of one ``modelCard.modelParameters.datasets`` entry: a ref to a data
        component (a stub when the BOM does not have it), or a dataset written inline."""
        if "ref" in entry:
            ref = entry["ref"]
            target = ref.rpartition("#")[2] if ref.startswith("urn:cdx:") else ref
            found = self.refs.get(target)
            if found is not None and found.kind == "dataset":
                return found
            if target in self.refs:
                self.problems.append(
                    Problem(
                        self.bom.label,
                        self.bom.line((*path, "ref")),
                        f"dataset ref {shown(ref)} names a component that is not of type data",
                        record=f"{node.kind} '{node.id}'",
                    )
                )
                return None
            rid = target if _valid_id(target) else _slug(target)
            stub = {"id": rid, "name": target, "tags": [STUB_MARK]}
            stub |= {"source": self.bom.source(node.component), "confidence": "inferred"}
            self._add(self.stubs, "dataset", _Item(stub, self.bom.line((*path, "ref"))))
            return _Node("dataset", rid, path, entry)
        if entry["type"] != "dataset":
            return None
        name = entry.get("name") or entry.get("bom-ref")
        if not name:
            self.problems.append(
                Problem(
                    self.bom.label,
                    self.bom.line(path),
                    "a dataset of the model card has neither a name nor a bom-ref",
                    record=f"{node.kind} '{node.id}'",
                )
            )
            return None
        rid = entry["bom-ref"] if _valid_id(entry.get("bom-ref")) else _slug(name)
        item = _Item({"id": rid, "name": name}, self.bom.line(path))
        if "url" in entry.get("contents", {}):
            self._set(item, "url", entry["contents"]["url"], (*path, "contents", "url"))
        self._sensitive(item, [(entry, path)])
        item.data["source"] = self.bom.source(node.component)
        self._add(self.records, "dataset", item)
        return _Node("dataset", rid, path, entry)

    def _pedigree_entry(self, entry: Mapping[str, Any], path: Path_, holder: _Node) -> _Node | None:
        """A pedigree component as a node: the component it names when the BOM describes
        it (by aigov:id or bom-ref), else a stub of it (none for a model whose provider is
        not named: the edge stays, to a record the registry must hold)."""
        kind = KIND_OF_TYPE.get(entry["type"])
        if kind is None:
            return None
        node = _Node(kind, self._id_of(entry), path, entry)
        source = self.bom.source(holder.component)
        section = SECTION_OF_KIND[kind]
        if node.id in self.records.get(section, {}) or node.id in self.stubs.get(section, {}):
            return node
        item = _Item({"id": node.id, "name": entry["name"]}, self.bom.line(path))
        if kind == "model":
            provider = self._provider(node, self.stubs, source)
            if provider is None:
                return node
            self._set(item, "provider", *provider)
            if "version" in entry:
                self._set(item, "version", entry["version"], (*path, "version"))
        item.data |= {"tags": [STUB_MARK], "source": source}
        item.data["confidence"] = Confidence.inferred.value
        self._add(self.stubs, kind, item)
        return node

    def _pedigree_edge(self, child: _Node, parent: _Node, entry: _Node, holder: _Node) -> _Edge:
        """The edge a pedigree entry gives: relation, confidence and evidence from the
        entry's properties (the relation also from the child's), else implied."""
        own = _properties(entry.component)
        named = entry if RELATION_PROPERTY in own else child
        stated = _properties(named.component).get(RELATION_PROPERTY)
        line = self.bom.line(entry.path)
        source = self.bom.source(holder.component)
        edge = _Edge(child, parent, None, Confidence.inferred.value, line, source, rank=1)
        if stated:
            value, index = stated[0]
            where = self.bom.line((*named.path, "properties", index, "value"))
            edge.lines[("relation",)] = where
            edge.confidence = Confidence.declared.value
            edge.relation = RELATION_NAMES.get(value.lower())
            if edge.relation is None:
                self.problems.append(
                    Problem(
                        self.bom.label,
                        where,
                        f"unknown relation {shown(value)} (expected one of: "
                        f"{', '.join(sorted(RELATION_NAMES))})",
                        record=f"{child.kind} '{child.id}'",
                    )
                )
                edge.relation = IMPLIED_RELATION[(child.kind, parent.kind)]
        for name, attribute in (
            (CONFIDENCE_PROPERTY, "confidence"),
            (EVIDENCE_PROPERTY, "evidence"),
        ):
            if name in own:
                value, index = own[name][0]
                setattr(edge, attribute, value)
                edge.lines[(attribute,)] = self.bom.line(
                    (*entry.path, "properties", index, "value")
                )
        return edge

    def _dependencies(self) -> None:
        """``dependencies`` between model and data components: implied edges."""
        for index, entry in enumerate(self.bom.data.get("dependencies", [])):
            child = self.refs.get(entry["ref"])
            for offset, ref in enumerate(entry.get("dependsOn", [])):
                parent = self.refs.get(ref)
                if child is not None and parent is not None:
                    line = self.bom.line(("dependencies", index, "dependsOn", offset))
                    source = self.bom.source(child.component)
                    edge = _Edge(child, parent, None, Confidence.inferred.value, line, source, 2)
                    self.edges.append(edge)

    def _write_edges(self) -> None:
        """Lineage records: every edge whose relation the BOM states, and for a pair with
        none, the best implied one (model card, then pedigree, then dependencies)."""
        stated = {edge.pair for edge in self.edges if edge.relation is not None}
        implied: dict[tuple[str, str], _Edge] = {}
        for edge in self.edges:
            best = implied.get(edge.pair)
            fresh = edge.relation is None and edge.pair not in stated
            if fresh and (best is None or edge.rank < best.rank):
                implied[edge.pair] = edge
        for edge in [e for e in self.edges if e.relation is not None] + list(implied.values()):
            relation = edge.relation or IMPLIED_RELATION[(edge.child.kind, edge.parent.kind)]
            data: dict[str, Any] = {
                "id": f"{edge.child.id}~{relation.value}~{edge.parent.id}",
                "child": edge.child.id,
                "parent": edge.parent.id,
                "relation": relation.value,
            }
            if edge.evidence is not None:
                data["evidence"] = edge.evidence
            data["source"] = edge.source
            data["confidence"] = edge.confidence
            item = _Item(data, edge.line, edge.lines)
            self.records.setdefault("lineage", {}).setdefault(data["id"], item)


def _properties(component: Mapping[str, Any]) -> dict[str, list[tuple[str, int]]]:
    """A component's properties: name -> [(value, index in the list)], in order."""
    found: dict[str, list[tuple[str, int]]] = {}
    for index, prop in enumerate(component.get("properties", [])):
        found.setdefault(prop["name"], []).append((prop.get("value", ""), index))
    return found


# --------------------------------------------------------------------------- writing

_SCHEMA_URL = f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json"


@dataclass(frozen=True, order=True)
class _Link:
    """One lineage edge as the export writes it."""

    child: str
    parent: str
    relation: str
    confidence: str = Confidence.declared.value
    evidence: str | None = None


def write_cyclonedx(sections: Mapping[str, list[RecordBase]]) -> dict[str, Any]:
    """The registry's models and datasets (with their providers, licences and lineage) as a
    CycloneDX 1.6 ML-BOM; ``sections`` maps a kind (``model``, ``dataset``, ``provider``,
    ``lineage``) to its records. The same records always give the same BOM, serial number
    included (a UUID 5 of the content), so that an export can be diffed and signed."""
    providers = {record.id: record for record in sections.get("provider", [])}
    records = [(kind, r) for kind in ("model", "dataset") for r in sections.get(kind, [])]
    nodes = {record.id: (kind, record.model_dump()["name"]) for kind, record in records}
    links = sorted(set(_links(sections)))
    parents: dict[str, list[_Link]] = {}
    for link in links:
        if link.parent not in nodes or link.child not in nodes:
            missing = link.parent if link.parent not in nodes else link.child
            raise RegistryError(
                f"cannot export lineage {link.child} <- {link.parent}: no model or dataset "
                f"'{missing}' in the registry"
            )
        parents.setdefault(link.child, []).append(link)
    components = [
        _component(kind, record, providers, nodes, parents.get(record.id, []))
        for kind, record in sorted(records, key=lambda entry: (entry[0] != "model", entry[1].id))
    ]
    dependencies = []
    for component in components:
        entry: dict[str, Any] = {"ref": component["bom-ref"]}
        above = sorted({link.parent for link in parents.get(component["bom-ref"], [])})
        if above:
            entry["dependsOn"] = above
        dependencies.append(entry)
    tool = {"type": "application", "name": "aigov", "version": __version__}
    body: dict[str, Any] = {
        "metadata": {"tools": {"components": [tool]}},
        "components": components,
        "dependencies": dependencies,
    }
    content = json.dumps(body, sort_keys=True, ensure_ascii=False, allow_nan=False)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"https://aigov.dev/cyclonedx#{content}")
    header = {
        "$schema": _SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
    }
    return header | body


def dump_cyclonedx(sections: Mapping[str, list[RecordBase]]) -> str:
    """:func:`write_cyclonedx` as JSON text (indent 2), byte-identical for the same records."""
    bom = write_cyclonedx(sections)
    return json.dumps(bom, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _links(sections: Mapping[str, list[RecordBase]]) -> Iterator[_Link]:
    """Every lineage edge: lineage records, and the generators and sources a dataset record
    names (stored as ``generated_by`` and ``derived_from`` edges)."""
    for record in sections.get("lineage", []):
        data = record.model_dump(mode="json")
        yield _Link(
            data["child"], data["parent"], data["relation"], data["confidence"], data["evidence"]
        )
    for record in sections.get("dataset", []):
        for parent in getattr(record, "generators", []):
            yield _Link(record.id, parent, Relation.generated_by.value)
        for parent in getattr(record, "sources", []):
            yield _Link(record.id, parent, Relation.derived_from.value)


def _component(
    kind: str,
    record: RecordBase,
    providers: Mapping[str, RecordBase],
    nodes: Mapping[str, tuple[str, str]],
    links: list[_Link],
) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    component: dict[str, Any] = {"type": TYPE_OF_KIND[kind], "bom-ref": record.id}
    component["name"] = data["name"]
    if "version" in data:
        component["version"] = data["version"]
    properties: list[tuple[str, str]] = []
    maker = data.get("provider" if kind == "model" else "creator")
    if maker is not None:
        provider = providers[maker].model_dump(mode="json") if maker in providers else {}
        entity: dict[str, Any] = {"name": provider.get("name", maker)}
        if provider.get("jurisdiction"):
            entity["address"] = {"country": provider["jurisdiction"]}
        component["supplier"] = entity
        component["manufacturer"] = dict(entity)
        if _slug(entity["name"], lower=True) != maker:
            properties.append((PROVIDER_PROPERTY, maker))
    licences = [data["licence"]] if data.get("licence") else data.get("licences", [])
    if licences:
        component["licenses"] = _licenses(licences)
    if "description" in data:
        component["description"] = data["description"]
    if "url" in data:
        component["externalReferences"] = [{"type": URL_REFERENCES[0], "url": data["url"]}]
    if data.get("tags"):
        component["tags"] = data["tags"]
    datasets = sorted({link.parent for link in links if nodes[link.parent][0] == "dataset"})
    if kind == "model" and datasets:
        refs = [{"ref": parent} for parent in datasets]
        component["modelCard"] = {"modelParameters": {"datasets": refs}}
    if links:
        component["pedigree"] = {"ancestors": [_ancestor(link, nodes) for link in links]}
    if data["confidence"] != Confidence.declared.value:
        properties.append((CONFIDENCE_PROPERTY, data["confidence"]))
    for name, many in PROPERTY_FIELDS[kind].items():
        value = data.get(name)
        for item in (value if many else [value]) if value not in (None, []) else []:
            properties.append((PREFIX + name, item if isinstance(item, str) else json.dumps(item)))
    if properties:
        # by name; a list field's values keep their order
        properties.sort(key=lambda prop: prop[0])
        component["properties"] = [{"name": n, "value": v} for n, v in properties]
    return component


def _ancestor(link: _Link, nodes: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """A parent as a pedigree ancestor: its type and name, and the edge in properties (its
    id as ``aigov:id``, not as a bom-ref, which must be unique in a BOM)."""
    kind, name = nodes[link.parent]
    properties = [(ID_PROPERTY, link.parent), (RELATION_PROPERTY, link.relation)]
    if link.confidence != Confidence.declared.value:
        properties.append((CONFIDENCE_PROPERTY, link.confidence))
    if link.evidence is not None:
        properties.append((EVIDENCE_PROPERTY, link.evidence))
    return {
        "type": TYPE_OF_KIND[kind],
        "name": name,
        "properties": [{"name": key, "value": value} for key, value in properties],
    }


def _licenses(licences: list[str]) -> list[dict[str, Any]]:
    """Licences as CycloneDX ``licenses``: each one licence as ``license.id`` (an SPDX id)
    or ``license.name``; when any is an expression, all of them as one ``expression``."""
    if all(licence_symbols(licence) == (licence,) for licence in licences):
        return [
            {"license": {"id" if is_supported_id(licence) else "name": licence}}
            for licence in licences
        ]
    if len(licences) == 1:
        return [{"expression": licences[0]}]
    return [{"expression": normalise_licence(" AND ".join(f"({text})" for text in licences))}]
