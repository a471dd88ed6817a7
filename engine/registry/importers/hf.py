"""Hugging Face model cards as registry records.

A model card is the ``README.md`` of a Hub repository; its YAML header (the ``---`` block at
the top) holds the facts a registry needs: the licence, the base models and how the model
derives from them, the datasets it was trained on, whether access is gated. This importer reads
cards from disk (a repository directory, a ``README.md``, a tree of either, the Hub's cache
layout) and the JSON the Hub API returns (``model_info``, ``list_models``), and maps each onto
a provider, a model, lineage edges and, for a gated model, a terms record. The header is located
with ``huggingface_hub``'s own pattern and interpreted by its ``ModelCardData``; it is composed
with the same hardened YAML loader as registry files, so every problem has its line.

``docs/importers/hf.md`` holds the mapping table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCardData
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from huggingface_hub.utils import HFValidationError, validate_repo_id

from aigov.documents import Document, parse_file, parse_text, read_text
from aigov.errors import InputError, Problem, clip, shown
from aigov.registry.importers import STUB_MARK, ImportBatch, MappedDocument
from aigov.registry.licences import normalise_licence
from aigov.registry.records import Confidence, Relation, TermsKind, Weights

HUB = "https://huggingface.co"
CARD_NAME = "README.md"
# Repositories of the Hub's first years have no organisation (``gpt2``, ``roberta-large``):
# Hugging Face hosted them itself, so they are its models until a card says otherwise.
LEGACY_PROVIDER = "huggingface"
# The gate's own text is a licence or terms of use, not a typed clause: it is not kept.
GATE_PREFIX = "hf-gate:"

# base_model_relation as the Hub spells it -> aigov relation.
RELATIONS: dict[str, Relation] = {
    "adapter": Relation.adapter,
    "finetune": Relation.finetune,
    "merge": Relation.merge,
    "quantized": Relation.quantized,
}

# One base model and no base_model_relation: the first relation whose signals the card or its
# repository shows (a tag, the library, a word of the repository name, a file) is inferred, as
# the Hub infers it; none of them gives finetune.
SIGNALS: tuple[tuple[Relation, frozenset[str]], ...] = (
    (Relation.quantized, frozenset({"gguf", "gptq", "awq", "exl2", "quantized"})),
    (Relation.adapter, frozenset({"peft", "lora", "adapter_config.json"})),
    (Relation.merge, frozenset({"merge", "mergekit"})),
)

# pipeline_tag -> the modalities a model of that task takes in or puts out.
MODALITIES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "text-generation",
            "text2text-generation",
            "fill-mask",
            "text-classification",
            "token-classification",
            "zero-shot-classification",
            "question-answering",
            "summarization",
            "translation",
            "feature-extraction",
            "sentence-similarity",
            "table-question-answering",
        ),
        ("text",),
    ),
    **dict.fromkeys(
        (
            "image-text-to-text",
            "image-to-text",
            "visual-question-answering",
            "document-question-answering",
            "text-to-image",
            "zero-shot-image-classification",
        ),
        ("image", "text"),
    ),
    **dict.fromkeys(
        ("image-classification", "object-detection", "image-segmentation", "image-to-image"),
        ("image",),
    ),
    **dict.fromkeys(
        ("automatic-speech-recognition", "text-to-speech", "text-to-audio"), ("audio", "text")
    ),
    "audio-classification": ("audio",),
    "text-to-video": ("text", "video"),
}

# Stub documents list providers before the models that name them.
STUB_ORDER = {"providers": 0, "models": 1, "datasets": 2}

# The Hub API's fields this importer reads, and the JSON types each may have.
API_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "sha": ((str,), "a string"),
    "cardData": ((dict,), "an object"),
    "gated": ((bool, str), "false, 'auto' or 'manual'"),
    "tags": ((list,), "a list of strings"),
    "siblings": ((list,), "a list of {rfilename} objects"),
    "pipeline_tag": ((str,), "a string"),
    "library_name": ((str,), "a string"),
}
API_GATES = {False: False, True: True, "auto": True, "manual": True}

_NOT_A_LICENCE_ID = re.compile(r"[^A-Za-z0-9.-]+")
# Cards repeat a few licences: each is spelled once (a failure is not cached, so re-raised).
_normalised = lru_cache(maxsize=4096)(normalise_licence)

LineOf = Callable[[tuple[Any, ...]], int]


@dataclass
class _Card:
    """One model card, wherever it was read: its header and how to find its lines."""

    file: str
    hf_id: str
    sha: str | None
    data: ModelCardData
    line_of: LineOf  # a path in the header -> its line
    api_line_of: LineOf  # a path in the Hub API object (the header's, for a card on disk)
    start: int  # the line of the card's first fact
    signals: frozenset[str] = frozenset()  # Hub API tags, repository files
    gated: bool | None = None  # as the Hub API says; None when it was not asked

    @property
    def org(self) -> str:
        return _org(self.hf_id)

    @property
    def source(self) -> str:
        return f"hf:{self.hf_id}@{self.sha}" if self.sha else f"hf:{self.hf_id}"

    @property
    def label(self) -> str:
        return f"model '{clip(self.hf_id)}'"


@dataclass
class _Mapped:
    """A card's records, with the header path each came from."""

    card: _Card
    model: dict[str, Any]
    lineage: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[tuple[Any, ...], tuple[LineOf, tuple[Any, ...]]] = field(default_factory=dict)
    bases: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # id -> header path
    datasets: dict[str, tuple[Any, ...]] = field(default_factory=dict)


class _Lines(Mapping[tuple[Any, ...], int]):
    """Registry paths -> source lines, each looked up when asked for: a JSON file is scanned
    for positions only when one of its records is reported or located."""

    def __init__(self, paths: dict[tuple[Any, ...], tuple[LineOf, tuple[Any, ...]]]):
        self._paths = paths

    def __getitem__(self, key: tuple[Any, ...]) -> int:
        line_of, path = self._paths[key]
        return line_of(path)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


def read_hf(sources: list[str], *, model_id: str | None = None) -> ImportBatch:
    """Registry documents from Hugging Face model cards and Hub API JSON.

    ``sources`` name repository directories (holding ``README.md``), card files, directories
    of either (read recursively, the Hub cache layout included) and Hub API JSON files.
    ``model_id`` (``org/name``) names the repository of a single card read from disk whose
    directory name does not say it."""
    problems: list[Problem] = []
    on_disk: list[tuple[Path, str, str | None, str | None]] = []  # path, label, id, sha
    cards: list[_Card] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = list(_cards_under(path))
            if not found:
                problems.append(Problem(source, None, f"no {CARD_NAME} in this directory"))
            on_disk.extend(found)
        elif not path.exists():
            problems.append(Problem(source, None, "no such file or directory"))
        elif path.suffix.lower() == ".json":
            cards.extend(_api_cards(path, source, problems))
        else:
            on_disk.append((path, source, *_repo_of(path)))
    read = len(on_disk) + len(cards)
    if model_id is not None:
        on_disk = _named(on_disk, model_id, read, problems)
    for path, label, hf_id, sha in on_disk:
        if hf_id is None:
            problems.append(
                Problem(
                    label,
                    None,
                    f"cannot tell the model's organisation from the directory name "
                    f"{shown(path.parent.name)}: name it org__name (or models--org--name, as "
                    "the Hub cache does), or give model_id",
                )
            )
            continue
        card = _disk_card(path, label, hf_id, sha, problems)
        if card is not None:
            cards.append(card)
    mapped = []
    for card in sorted(cards, key=lambda c: (c.org, c.hf_id, c.file)):
        before = len(problems)
        result = _map(card, problems)
        if len(problems) == before:  # a card with a problem gives no records at all
            mapped.append(result)
    documents, stubs = _documents(mapped)
    return ImportBatch(list[Document](documents), list[Document](stubs), problems, read)


# --------------------------------------------------------------------------- finding cards


def _cards_under(root: Path) -> Iterator[tuple[Path, str, str | None, str | None]]:
    """Every card below ``root``, sorted; of a Hub cache repository, only the snapshot its
    ``refs/main`` names (when it names one)."""
    for path in sorted(root.rglob(CARD_NAME)):
        if not path.is_file():
            continue
        hf_id, sha = _repo_of(path)
        cache = path.parent.parent.parent
        if sha is not None and not _is_main(cache, sha):
            continue
        yield path, str(path), hf_id, sha


def _is_main(cache: Path, sha: str) -> bool:
    try:
        main = (cache / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return True
    return main == sha


def _repo_of(card: Path) -> tuple[str | None, str | None]:
    """The repository id and commit a card's place on disk gives: ``org__name/README.md``,
    or the Hub cache's ``models--org--name/snapshots/<sha>/README.md``."""
    folder = card.parent
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name.removeprefix("models--").replace("--", "/", 1), folder.name
    org, sep, name = folder.name.partition("__")
    return (f"{org}/{name}" if sep and org and name else None), None


def _named(
    on_disk: list[tuple[Path, str, str | None, str | None]],
    model_id: str,
    total: int,
    problems: list[Problem],
) -> list[tuple[Path, str, str | None, str | None]]:
    """The one card on disk, named ``model_id``."""
    message = None
    if total != 1 or len(on_disk) != 1:
        message = f"model_id names the repository of a single card; {total} cards were found"
    elif "/" not in model_id or _repo_id_error(model_id):
        message = _repo_id_error(model_id) or "model_id must be org/name"
    if message:
        problems.append(Problem("model_id", None, message))
        return on_disk
    path, label, _, sha = on_disk[0]
    return [(path, label, model_id, sha)]


def _disk_card(
    path: Path, label: str, hf_id: str, sha: str | None, problems: list[Problem]
) -> _Card | None:
    try:
        text = read_text(path, label)
        data, line_of = _header(text, label)
        card_data = _card_data(data, label, line_of(()))
    except InputError as exc:
        problems.extend(exc.problems)
        return None
    files = frozenset(name.lower() for name in os.listdir(path.parent))
    signals = files | {"gguf" for name in files if name.endswith(".gguf")}
    return _Card(label, hf_id, sha, card_data, line_of, line_of, line_of(()), signals)


def _header(text: str, label: str) -> tuple[dict[str, Any], LineOf]:
    """The card's metadata header (the block the Hub reads) and the line of each of its
    paths. Raises :class:`InputError` for a card without one, a malformed one, or one that
    is not a mapping."""
    text = text.removeprefix("\ufeff")
    match = REGEX_YAML_BLOCK.search(text)
    if match is None:
        raise InputError(
            [Problem(label, 1, "no metadata header: a model card starts with a '---' YAML block")]
        )
    first = text.count("\n", 0, match.start(2)) + 1
    # padded so that the composed nodes carry the lines of the card itself
    documents = parse_text("\n" * (first - 1) + match.group(2), label)
    if not documents:
        return {}, lambda path: first
    data = documents[0].data
    if len(documents) > 1 or not isinstance(data, dict):
        what = "several YAML documents" if len(documents) > 1 else f"a {type(data).__name__}"
        raise InputError(
            [
                Problem(
                    label,
                    documents[0].start_line,
                    f"the metadata header must be one mapping of fields, not {what}",
                )
            ]
        )
    return data, documents[0].line_of


def _card_data(data: dict[str, Any], label: str, line: int) -> ModelCardData:
    """The header as ``huggingface_hub`` reads it."""
    try:
        return ModelCardData(**data, ignore_metadata_errors=True)
    except TypeError as exc:  # a field named like one of the constructor's own parameters
        raise InputError([Problem(label, line, f"unreadable metadata header: {exc}")]) from None


# --------------------------------------------------------------------------- Hub API JSON


def _api_cards(path: Path, label: str, problems: list[Problem]) -> list[_Card]:
    try:
        text = read_text(path, label)
        data = parse_file(text, path, label)[0].data
    except InputError as exc:
        problems.extend(exc.problems)
        return []
    line_of = _JsonLines(text)
    if isinstance(data, dict):
        items: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    elif isinstance(data, list):
        items = [((index,), item) for index, item in enumerate(data)]
    else:
        problems.append(
            Problem(
                label,
                1,
                "a Hub API file holds a model object (model_info) or a list of them "
                f"(list_models), not a {type(data).__name__}",
            )
        )
        return []
    cards = []
    for prefix, item in items:
        card = _api_card(item, prefix, label, line_of, problems)
        if card is not None:
            cards.append(card)
    return cards


def _api_card(
    item: Any, prefix: tuple[Any, ...], label: str, line_of: LineOf, problems: list[Problem]
) -> _Card | None:
    def problem(path: tuple[Any, ...], message: str) -> None:
        problems.append(Problem(label, line_of(prefix + path), message))

    if not isinstance(item, dict):
        problem((), f"a model must be a JSON object, not a {type(item).__name__}")
        return None
    key = "id" if "id" in item else "modelId"
    hf_id = item.get(key)
    error = _repo_id_error(hf_id) if isinstance(hf_id, str) else "no model 'id'"
    if error is not None or not isinstance(hf_id, str):
        problem((key,), error or "no model 'id'")
        return None
    before = len(problems)
    for name, (types, what) in API_FIELDS.items():
        value = item.get(name)
        if value is not None and not isinstance(value, types):
            problem((name,), f"'{name}' must be {what}, not {shown(value)}")
    gated = item.get("gated")
    if gated is not None and gated not in API_GATES:
        problem(("gated",), f"'gated' must be false, 'auto' or 'manual', not {shown(gated)}")
    if len(problems) > before:
        return None
    header = dict(item.get("cardData") or {})
    for name in ("pipeline_tag", "library_name"):
        if name in item:
            header.setdefault(name, item[name])
    files = {
        sibling["rfilename"].lower()
        for sibling in item.get("siblings") or []
        if isinstance(sibling, dict) and isinstance(sibling.get("rfilename"), str)
    }
    tags = {tag.lower() for tag in item.get("tags") or [] if isinstance(tag, str)}
    signals = frozenset(tags | files | {"gguf" for name in files if name.endswith(".gguf")})
    try:
        card_data = _card_data(header, label, line_of((*prefix, "cardData")))
    except InputError as exc:
        problems.extend(exc.problems)
        return None
    return _Card(
        label,
        hf_id,
        item.get("sha"),
        card_data,
        lambda path: line_of((*prefix, "cardData", *path)),
        lambda path: line_of((*prefix, *path)),
        1,
        signals,
        None if gated is None else API_GATES[gated],
    )


class _JsonLines:
    """The line of every key and list item of a JSON text, scanned once, when first asked
    for (a valid import never pays for it)."""

    _TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')

    def __init__(self, text: str):
        self._text = text
        self._lines: dict[tuple[Any, ...], int] | None = None

    def __call__(self, path: tuple[Any, ...]) -> int:
        if self._lines is None:
            self._lines = self._scan()
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def _scan(self) -> dict[tuple[Any, ...], int]:
        text = self._text
        lines: dict[tuple[Any, ...], int] = {}
        stack: list[list[Any]] = []  # per open container: bracket, key or index, expects a key
        line, last = 1, 0
        for match in self._TOKEN.finditer(text):
            token = match.group()
            top = stack[-1] if stack else None
            if token in "}]":
                stack.pop()
                continue
            if token in ":," and top is None:
                continue
            if token == ":" and top is not None:
                top[2] = False
                continue
            if token == "," and top is not None:
                if top[0] == "[":
                    top[1] += 1
                else:
                    top[2] = True
                continue
            line += text.count("\n", last, match.start())
            last = match.start()
            if top is not None and top[0] == "{" and top[2]:
                top[1] = json.loads(token)
                lines[tuple(entry[1] for entry in stack)] = line
                continue
            if top is not None and top[0] == "[":
                lines[tuple(entry[1] for entry in stack)] = line
            if token in "{[":
                stack.append([token, 0 if token == "[" else None, token == "{"])
        return lines


# --------------------------------------------------------------------------- mapping


def _org(hf_id: str) -> str:
    org, sep, _ = hf_id.partition("/")
    return org if sep else LEGACY_PROVIDER


def _repo_name(hf_id: str) -> str:
    return hf_id.rpartition("/")[2]


def _repo_id_error(value: str) -> str | None:
    """Why ``value`` is not a Hub repository id (the Hub client's own rules), or None."""
    try:
        validate_repo_id(value)
    except HFValidationError as exc:
        return f"invalid repository id {shown(value)}: {exc}"
    return None


def _strings(value: Any) -> list[str]:
    """A header field that is a string or a list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _refs(card: _Card, name: str, problems: list[Problem]) -> dict[str, tuple[Any, ...]]:
    """The repository ids a header field names (``base_model``, ``datasets``), each with its
    path; every one that is not an id is a problem."""
    value = card.data.get(name)
    items = (
        [((name,), value)]
        if not isinstance(value, list)
        else [((name, i), v) for i, v in enumerate(value)]
    )
    refs: dict[str, tuple[Any, ...]] = {}
    for path, item in items:
        if item is None:
            continue
        error = (
            _repo_id_error(item)
            if isinstance(item, str)
            else f"expected a repository id, got {shown(item)}"
        )
        if error:
            problems.append(
                Problem(card.file, card.line_of(path), f"{name}: {error}", card.label, name)
            )
        else:
            refs.setdefault(item, path)
    return refs


def _map(card: _Card, problems: list[Problem]) -> _Mapped:
    """The model, lineage and terms records of one card."""
    data, hf_id = card.data, card.hf_id
    model: dict[str, Any] = {
        "id": hf_id,
        "name": _repo_name(hf_id),
        "provider": card.org,
        "source": card.source,
    }
    mapped = _Mapped(card, model)
    header = card.line_of
    mapped.paths[("models", 0)] = (header, ())
    if card.sha:
        model["version"] = card.sha
    gate = _gate(card)
    _licence(mapped, gate is not None, problems)
    if gate is not None:
        gate_path, confidence = gate
        model["weights"] = Weights.gated.value
        mapped.paths[("models", 0, "weights")] = gate_path
        if confidence is Confidence.inferred:
            model.setdefault("provenance", {})["weights"] = {"confidence": confidence.value}
        mapped.terms.append(_terms(card, model.get("licence") == GATE_PREFIX + hf_id))
        mapped.paths[("terms", 0)] = gate_path
        model["terms"] = [GATE_PREFIX + hf_id]
        mapped.paths[("models", 0, "terms")] = gate_path
    pipeline = data.get("pipeline_tag")
    modality = MODALITIES.get(pipeline) if isinstance(pipeline, str) else None
    if modality:
        model["modality"] = list(modality)
        mapped.paths[("models", 0, "modality")] = (header, ("pipeline_tag",))
    tags = list(
        dict.fromkeys(
            _strings(data.get("tags"))
            + [f"language:{code}" for code in _strings(data.get("language"))]
        )
    )
    if tags:
        model["tags"] = tags
        mapped.paths[("models", 0, "tags")] = (header, ("tags",))
    mapped.bases = _refs(card, "base_model", problems)
    mapped.datasets = _refs(card, "datasets", problems)
    relation, confidence, evidence = _relation(card, len(mapped.bases), problems)
    edges = []
    if relation is not None:
        edges = [
            (base, path, relation, confidence, evidence) for base, path in mapped.bases.items()
        ]
    edges += [
        (dataset, path, Relation.trained_on, Confidence.declared, "datasets")
        for dataset, path in mapped.datasets.items()
    ]
    for parent, path, rel, conf, why in sorted(edges, key=lambda edge: (edge[2].value, edge[0])):
        mapped.paths[("lineage", len(mapped.lineage))] = (header, path)
        mapped.lineage.append(
            {
                "id": f"{hf_id}~{rel.value}~{parent}",
                "child": hf_id,
                "parent": parent,
                "relation": rel.value,
                "confidence": conf.value,
                "evidence": why,
                "source": card.source,
            }
        )
    return mapped


def _relation(
    card: _Card, bases: int, problems: list[Problem]
) -> tuple[Relation | None, Confidence, str]:
    """How the model derives from its base models: the card's base_model_relation, else what
    its repository shows (:data:`SIGNALS`), else merge for several bases, finetune for one."""
    stated = card.data.get("base_model_relation")
    if stated is not None:
        relation = RELATIONS.get(stated) if isinstance(stated, str) else None
        if relation is None:
            problems.append(
                Problem(
                    card.file,
                    card.line_of(("base_model_relation",)),
                    f"unknown base_model_relation {shown(stated)} "
                    f"(expected one of: {', '.join(RELATIONS)})",
                    card.label,
                    "base_model_relation",
                )
            )
        return relation, Confidence.declared, f"base_model_relation: {stated}"
    if bases > 1:
        return Relation.merge, Confidence.inferred, "several base_model and no base_model_relation"
    words = {word.lower() for word in re.split(r"[-_.]", _repo_name(card.hf_id))}
    signals = card.signals | words | {tag.lower() for tag in _strings(card.data.get("tags"))}
    library = card.data.get("library_name")
    if isinstance(library, str):
        signals |= {library.lower()}
    for relation, marks in SIGNALS:
        if found := sorted(signals & marks):
            return (
                relation,
                Confidence.inferred,
                f"no base_model_relation; the repository shows {', '.join(found)}",
            )
    return Relation.finetune, Confidence.inferred, "no base_model_relation"


def _gate(card: _Card) -> tuple[tuple[LineOf, tuple[Any, ...]], Confidence] | None:
    """Where the card says access is gated, and how far that is established: the Hub API's
    ``gated`` is the fact; a card's ``extra_gated_*`` fields only set up the gate's form."""
    keys = [
        key for key, value in vars(card.data).items() if key.startswith("extra_gated_") and value
    ]
    if card.gated is not None:
        return ((card.api_line_of, ("gated",)), Confidence.declared) if card.gated else None
    if keys:
        return (card.line_of, (keys[0],)), Confidence.inferred
    return None


def _terms(card: _Card, is_licence: bool) -> dict[str, Any]:
    heading = card.data.get("extra_gated_heading")
    return {
        "id": GATE_PREFIX + card.hf_id,
        "provider": card.org,
        "kind": (TermsKind.licence if is_licence else TermsKind.tos).value,
        "title": heading
        if isinstance(heading, str) and heading.strip()
        else f"Access conditions of {card.hf_id} on Hugging Face",
        "url": f"{HUB}/{card.hf_id}",
        "source": card.source,
    }


def _licence(mapped: _Mapped, gated: bool, problems: list[Problem]) -> None:
    """The card's ``license`` as a licence expression: an SPDX or Hub id in its canonical
    spelling, ``license_name`` for ``other`` (as a ``LicenseRef-`` when it is not an id), the
    gate's terms for ``other`` without a name; ``unknown`` when nothing says which."""
    card, model = mapped.card, mapped.model
    value = card.data.get("license")
    if value is None:
        return
    path = (card.line_of, ("license",))
    name = card.data.get("license_name")
    link = card.data.get("license_link")
    provenance: dict[str, str] = {}
    if value == "other" and isinstance(name, str) and name.strip():
        licence = _licence_name(name)
        path = (card.line_of, ("license_name",))
        if isinstance(link, str):
            provenance["source"] = link
    elif value == "other" and gated:
        licence = GATE_PREFIX + card.hf_id
        provenance = {
            "confidence": Confidence.inferred.value,
            "source": "license: other, no license_name: the gate's terms",
        }
    elif value in ("other", "unknown"):
        model["unknown"] = ["licence"]
        model.setdefault("provenance", {})["licence"] = {
            "source": f"{card.source}: license: {value}"
        }
        mapped.paths[("models", 0, "licence")] = path
        return
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        licence = " AND ".join(value) if len(value) > 1 else value[0]
        if len(value) > 1:
            provenance = {
                "confidence": Confidence.inferred.value,
                "source": "several licenses: all apply",
            }
    elif isinstance(value, str):
        licence = value
    else:
        problems.append(
            Problem(
                card.file,
                card.line_of(("license",)),
                f"license: expected a licence id, got {shown(value)}",
                card.label,
                "license",
            )
        )
        return
    try:
        model["licence"] = _normalised(licence)
    except ValueError as exc:
        problems.append(
            Problem(card.file, path[0](path[1]), f"license: {exc}", card.label, "license")
        )
        return
    mapped.paths[("models", 0, "licence")] = path
    if provenance:
        model.setdefault("provenance", {})["licence"] = provenance


def _licence_name(name: str) -> str:
    """A ``license_name``: itself when it is a licence expression, else a ``LicenseRef-``."""
    try:
        return _normalised(name)
    except ValueError:
        return "LicenseRef-" + (_NOT_A_LICENCE_ID.sub("-", name).strip("-.") or "other")


# --------------------------------------------------------------------------- documents


def _documents(mapped: list[_Mapped]) -> tuple[list[MappedDocument], list[MappedDocument]]:
    """One document per card (with its provider, the first time its organisation appears),
    and one stub document per card that is the first to name a model or dataset the import
    does not describe (with the providers of those models)."""
    models = {m.card.hf_id for m in mapped}
    orgs = {m.card.org for m in mapped}
    documents, stubs = [], []
    providers: set[str] = set()
    stubbed: dict[str, set[str]] = {"models": set(), "datasets": set()}
    for m in mapped:
        card, header = m.card, m.card.line_of
        data: dict[str, Any] = {}
        if card.org not in providers:
            providers.add(card.org)
            data["providers"] = [_provider(card.org)]
            m.paths[("providers", 0)] = (header, ())
        data["models"] = [m.model]
        if m.lineage:
            data["lineage"] = m.lineage
        if m.terms:
            data["terms"] = m.terms
        documents.append(_document(card, data, m.paths))

        named: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []  # section, record, path
        for base, path in sorted(m.bases.items()):
            org = _org(base)
            if org not in orgs and org not in providers:
                providers.add(org)
                named.append(("providers", {**_provider(org), "confidence": "inferred"}, path))
            if base not in models and base not in stubbed["models"]:
                stubbed["models"].add(base)
                named.append(("models", _stub_model(base), path))
        for dataset, path in sorted(m.datasets.items()):
            if dataset not in stubbed["datasets"]:
                stubbed["datasets"].add(dataset)
                named.append(("datasets", _stub_dataset(dataset), path))
        if named:
            stub: dict[str, list[dict[str, Any]]] = {}
            paths: dict[tuple[Any, ...], tuple[LineOf, tuple[Any, ...]]] = {}
            for section, record, path in sorted(named, key=lambda item: STUB_ORDER[item[0]]):
                records = stub.setdefault(section, [])
                paths[(section, len(records))] = (header, path)
                records.append(record)
            stubs.append(_document(card, stub, paths))
    return documents, stubs


def _document(
    card: _Card, data: dict[str, Any], paths: dict[tuple[Any, ...], tuple[LineOf, tuple[Any, ...]]]
) -> MappedDocument:
    for section in data:
        paths.setdefault((section,), (card.line_of, ()))
    return MappedDocument(file=card.file, data=data, start_line=card.start, lines=_Lines(paths))


def _provider(org: str) -> dict[str, Any]:
    return {"id": org, "name": org, "source": f"hf:{org}"}


def _stub_model(hf_id: str) -> dict[str, Any]:
    return {
        "id": hf_id,
        "name": _repo_name(hf_id),
        "provider": _org(hf_id),
        "tags": [STUB_MARK],
        "confidence": Confidence.inferred.value,
        "source": f"hf:{hf_id}",
    }


def _stub_dataset(hf_id: str) -> dict[str, Any]:
    return {
        "id": hf_id,
        "name": _repo_name(hf_id),
        "url": f"{HUB}/datasets/{hf_id}",
        "tags": [STUB_MARK],
        "confidence": Confidence.inferred.value,
        "source": f"hf:datasets/{hf_id}",
    }
