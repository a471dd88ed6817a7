"""Registry records from an MLflow Model Registry, read over its REST API.

Each source is a tracking server URL. Every registered model version becomes a model record
(``<registered model name>/v<version>``, the path of MLflow's own ``models:/<name>/<version>``
URI); what MLflow has no field for (licence, provider, base models, training data) is read from
``aigov.*`` tags, registered-model tags applying to every version and a version's own tags
overriding them; an alias whose name is an environment (``prod``) or whose version is tagged
``aigov.environment`` becomes a deployment. The tag convention is docs/importers/mlflow.md.

Only the standard library speaks HTTP here (no MLflow client at run time), every response is
read under the registry file size cap, and a server that cannot be read is one problem naming
its URL, never a traceback.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aigov.documents import Document, max_file_bytes
from aigov.errors import AigovError, Problem, clip, shown
from aigov.registry.importers import STUB_MARK, ImportBatch, MappedDocument
from aigov.registry.licences import normalise_licence
from aigov.registry.records import (
    GLOBAL_REGION,
    RELATION_KINDS,
    Confidence,
    Environment,
    Exposure,
    RecordId,
    Relation,
    Weights,
)

API = "/api/2.0/mlflow"
PLATFORM = "mlflow"
TAG_PREFIX = "aigov."
# The largest page MLflow serves for registered models (model versions allow more).
MAX_PAGE_SIZE = 1000
# The provider of a base model known only by an id that is not a Hugging Face ``org/name``
# (whose org is its provider, as the Hugging Face importer has it): nothing says who made it.
UNKNOWN_PROVIDER = "unknown"
STUB_SECTIONS = ("providers", "models", "datasets")
# MLflow stores prompts as registered models with this tag; they are not models.
_PROMPT_TAG = "mlflow.prompt.is_prompt"

# Alias names that say which environment the aliased version serves.
ALIAS_ENVIRONMENTS: dict[str, Environment] = {
    "prod": Environment.prod,
    "production": Environment.prod,
    "staging": Environment.staging,
    "stage": Environment.staging,
    "dev": Environment.dev,
    "development": Environment.dev,
}
# The relations a base model tag can name: those linking a model to a model.
BASE_RELATIONS = tuple(
    relation for relation, kinds in RELATION_KINDS.items() if ("model", "model") in kinds
)
_RECORD_ID: TypeAdapter[str] = TypeAdapter(RecordId)
Parser = Callable[[str], Any]  # a tag's text to a field's value; raises ValueError


class _SourceError(Exception):
    """A server that cannot be read (unreachable, an HTTP error, a response not MLflow's)."""


def _record_id(value: str) -> str:
    try:
        return _RECORD_ID.validate_python(value)
    except ValidationError:
        raise ValueError(
            f"{shown(value)} is not a record id (letters, digits and ._:/@+#~-, starting "
            "with a letter or digit, at most 200 characters)"
        ) from None


def _record_ids(value: str) -> list[str]:
    """A comma-separated list of record ids, sorted and without repeats."""
    return sorted({_record_id(part.strip()) for part in value.split(",") if part.strip()})


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("empty value")
    return value.strip()


def _boolean(value: str) -> bool:
    booleans = {"true": True, "false": False}
    try:
        return booleans[value.strip().lower()]
    except KeyError:
        raise ValueError(f"expected true or false, got {shown(value)}") from None


def _choice(enum: type[StrEnum], values: tuple[StrEnum, ...] | None = None) -> Parser:
    allowed = values or tuple(enum)

    def parse(value: str) -> str:
        for member in allowed:
            if member.value == value.strip():
                return member.value
        raise ValueError(
            f"expected one of {', '.join(m.value for m in allowed)}, got {shown(value)}"
        )

    return parse


# Tags that set a model field: tag -> (field, parser of the tag's value).
MODEL_TAGS: dict[str, tuple[str, Parser]] = {
    "aigov.license": ("licence", normalise_licence),
    "aigov.weights": ("weights", _choice(Weights)),
    "aigov.owner": ("owner", _text),
    "aigov.family": ("family", _text),
    "aigov.gpai": ("is_gpai", _boolean),
    "aigov.distributed": ("distributed", _boolean),
}
# Every other tag of the convention: tag -> parser.
OTHER_TAGS: dict[str, Parser] = {
    "aigov.id": _record_id,
    "aigov.provider": _record_id,
    "aigov.base_model": _record_ids,
    "aigov.base_model_relation": _choice(Relation, BASE_RELATIONS),
    "aigov.datasets": _record_ids,
    "aigov.environment": _choice(Environment),
    "aigov.region": _text,
    "aigov.exposure": _choice(Exposure),
}
KNOWN_TAGS = sorted([*MODEL_TAGS, *OTHER_TAGS])


# --------------------------------------------------------------------------- reading


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a redirect would carry the credentials to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _auth_header() -> str | None:
    """The credentials the MLflow client itself would send, from the same variables."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {pair}"
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return f"Bearer {token}" if token else None


def _http_reason(error: urllib.error.HTTPError) -> str:
    """An HTTP error's status and, when it is MLflow's JSON error, its message."""
    try:
        body = json.loads(error.read(64 * 1024))
        detail = f": {clip(str(body['message']))}"
    except (ValueError, KeyError, TypeError, OSError):
        detail = ""
    if 300 <= error.code < 400:
        target = error.headers.get("Location", "")
        detail = f": redirected to {clip(target)} (name the final URL)"
    return f"HTTP {error.code} {error.reason}{detail}"


def _get(url: str, timeout: float) -> Any:
    """GET ``url`` and parse its JSON body, read up to the file size cap."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    auth = _auth_header()
    if auth:
        request.add_header("Authorization", auth)
    limit = max_file_bytes()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise _SourceError(f"cannot read {url}: {_http_reason(exc)}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            reason = "connection refused (is the MLflow server running?)"
        elif isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise _SourceError(f"cannot read {url}: {clip(str(reason))}") from None
    except TimeoutError:
        raise _SourceError(f"cannot read {url}: no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _SourceError(f"cannot read {url}: {clip(str(exc) or type(exc).__name__)}") from None
    if len(body) > limit:
        raise _SourceError(f"cannot read {url}: the response exceeds {limit:,} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _SourceError(f"cannot read {url}: not a JSON response ({clip(str(exc))})") from None


def _pages(base: str, endpoint: str, key: str, page_size: int, timeout: float) -> Iterator[Any]:
    """Every item of a paginated search, following ``next_page_token`` to the last page."""
    seen: set[str] = set()
    token = ""
    while True:
        query = {"max_results": page_size, **({"page_token": token} if token else {})}
        url = f"{base}{API}/{endpoint}?{urllib.parse.urlencode(query)}"
        payload = _get(url, timeout)
        if not isinstance(payload, dict):
            raise _SourceError(f"cannot read {url}: expected a JSON object")
        items = payload.get(key, [])
        if not isinstance(items, list):
            raise _SourceError(f"cannot read {url}: field '{key}' is not a list")
        yield from ((url, item) for item in items)
        token = payload.get("next_page_token") or ""
        if not isinstance(token, str):
            raise _SourceError(f"cannot read {url}: field 'next_page_token' is not text")
        if not token:
            return
        if token in seen:
            raise _SourceError(f"cannot read {url}: the server repeats a page token")
        seen.add(token)


def _string(url: str, item: Any, name: str, *, required: bool = False) -> str:
    if not isinstance(item, dict):
        raise _SourceError(f"cannot read {url}: expected an object, got {shown(item)}")
    value = item.get(name, "")
    if not isinstance(value, str):
        raise _SourceError(f"cannot read {url}: field '{name}' is not text (got {shown(value)})")
    if required and not value:
        raise _SourceError(f"cannot read {url}: field '{name}' is missing or empty")
    return value


def _pairs(url: str, item: dict[str, Any], name: str, key: str, value: str) -> dict[str, str]:
    """A list of ``{key, value}`` objects (tags, aliases) as a mapping."""
    entries = item.get(name, [])
    if not isinstance(entries, list):
        raise _SourceError(f"cannot read {url}: field '{name}' is not a list")
    return {
        _string(url, entry, key, required=True): _string(url, entry, value) for entry in entries
    }


@dataclass
class _Version:
    name: str
    version: str
    description: str
    source: str
    run_id: str
    tags: dict[str, str]


@dataclass
class _Registered:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> version
    versions: list[_Version] = field(default_factory=list)


def _read_server(base: str, page_size: int, timeout: float) -> list[_Registered]:
    """The registered models of one server (prompts left out), with their versions, sorted."""
    models: dict[str, _Registered] = {}
    for url, item in _pages(
        base, "registered-models/search", "registered_models", page_size, timeout
    ):
        name = _string(url, item, "name", required=True)
        tags = _pairs(url, item, "tags", "key", "value")
        if tags.get(_PROMPT_TAG) == "true":
            continue
        aliases = _pairs(url, item, "aliases", "alias", "version")
        models[name] = _Registered(name, _string(url, item, "description"), tags, aliases)
    for url, item in _pages(base, "model-versions/search", "model_versions", page_size, timeout):
        registered = models.get(_string(url, item, "name", required=True))
        if registered is None:  # a prompt's version, or a model registered since
            continue
        registered.versions.append(
            _Version(
                registered.name,
                _string(url, item, "version", required=True),
                _string(url, item, "description"),
                _string(url, item, "source"),
                _string(url, item, "run_id"),
                _pairs(url, item, "tags", "key", "value"),
            )
        )
    for registered in models.values():
        registered.versions.sort(key=lambda v: (len(v.version), v.version))
    return [models[name] for name in sorted(models)]


# --------------------------------------------------------------------------- mapping


def _server_url(source: str) -> str:
    """The base URL of a tracking server, without a trailing slash."""
    parts = urllib.parse.urlsplit(source.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise _SourceError(
            f"not an MLflow tracking server URL: {shown(source)} (expected "
            "http://host:port or https://host/path)"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _ui_url(base: str, name: str, version: str | None = None) -> str:
    """The page of a registered model (or of one version) in the MLflow UI."""
    page = f"{base}/#/models/{urllib.parse.quote(name, safe='')}"
    return f"{page}/versions/{version}" if version is not None else page


# (section, id) -> the stub record of a record only referenced
Stubs = dict[tuple[str, str], dict[str, Any]]


@dataclass
class _Mapper:
    """Maps the registered models of every source into one batch, collecting stubs."""

    default_provider: str | None
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    versions: int = 0  # model versions read
    imported: set[str] = field(default_factory=set)
    # per source: references to records the sources do not describe, id -> stub record
    references: list[tuple[str, Stubs]] = field(default_factory=list)

    def tag_values(self, tags: dict[str, str], file: str, record: str) -> dict[str, Any] | None:
        """The parsed ``aigov.*`` tags; None (after recording why) when one is wrong."""
        values: dict[str, Any] = {}
        ok = True
        for key in sorted(tags):
            if not key.startswith(TAG_PREFIX):
                continue
            parser = MODEL_TAGS[key][1] if key in MODEL_TAGS else OTHER_TAGS.get(key)
            if parser is None:
                message = f"unknown tag {shown(key)} (the aigov tags: {', '.join(KNOWN_TAGS)})"
            else:
                try:
                    values[key] = parser(tags[key])
                    continue
                except ValueError as exc:
                    message = f"tag {key}: {clip(str(exc), 1000)}"
            self.problems.append(Problem(file, None, message, record=record, field=key))
            ok = False
        return values if ok else None

    def map_server(self, base: str, registered_models: list[_Registered]) -> None:
        stubs: Stubs = {}
        self.references.append((base, stubs))
        for registered in registered_models:
            self.versions += len(registered.versions)
            self.map_registered(base, registered, stubs)

    def map_registered(self, base: str, registered: _Registered, stubs: Stubs) -> None:
        page = _ui_url(base, registered.name)
        label = f"registered model {shown(registered.name)}"
        common = self.tag_values(registered.tags, page, label)
        prefix = (common or {}).get("aigov.id", registered.name)
        try:
            _record_id(prefix)
        except ValueError:
            self.problems.append(
                Problem(
                    page,
                    None,
                    f"the name {shown(prefix)} cannot be a record id (letters, digits and "
                    "._:/@+#~-): tag the registered model with aigov.id, the id to use",
                    record=label,
                )
            )
            return
        documents: dict[str, tuple[MappedDocument, dict[str, Any]]] = {}
        for version in registered.versions:
            mapped = self.map_version(base, registered, version, prefix, common, stubs)
            if mapped is not None:
                documents[version.version] = mapped
        listed = {version.version for version in registered.versions}
        for alias, number in sorted(registered.aliases.items()):
            if number not in listed:
                self.problems.append(
                    Problem(
                        page,
                        None,
                        f"alias {shown(alias)} names version {shown(number)}, which the "
                        "server does not list",
                        record=label,
                        field="aliases",
                    )
                )
            elif number in documents:
                document, values = documents[number]
                deployment = self.deployment(page, label, prefix, alias, document, values)
                if deployment is not None:
                    document.data.setdefault("deployments", []).append(deployment)
        self.documents.extend(document for document, _ in documents.values())

    def map_version(
        self,
        base: str,
        registered: _Registered,
        version: _Version,
        prefix: str,
        common: dict[str, Any] | None,
        stubs: Stubs,
    ) -> tuple[MappedDocument, dict[str, Any]] | None:
        """A version's document (its model and lineage) and its parsed tags; None when its
        tags are wrong (each problem is recorded)."""
        page = _ui_url(base, registered.name, version.version)
        model_id = f"{prefix}/v{version.version}"
        label = f"model '{clip(model_id)}'"
        own = self.tag_values(version.tags, page, label)
        problems = []
        if "aigov.id" in version.tags:
            problems.append(
                Problem(
                    page,
                    None,
                    "tag aigov.id names every version's id: set it on the registered model",
                    record=label,
                    field="aigov.id",
                )
            )
        try:
            _record_id(model_id)
        except ValueError as exc:
            problems.append(Problem(page, None, f"version {exc}", record=label, field="version"))
        values = {**(common or {}), **(own or {})}
        provider = values.get("aigov.provider", self.default_provider)
        if provider is None:
            problems.append(
                Problem(
                    page,
                    None,
                    "no provider: tag the registered model or this version with "
                    "aigov.provider, or give a default provider (--provider)",
                    record=label,
                    field="aigov.provider",
                )
            )
        relation = values.get("aigov.base_model_relation")
        bases: list[str] = values.get("aigov.base_model", [])
        if relation is not None and not bases:
            problems.append(
                Problem(
                    page,
                    None,
                    "tag aigov.base_model_relation without aigov.base_model",
                    record=label,
                    field="aigov.base_model_relation",
                )
            )
        self.problems.extend(problems)
        if problems or common is None or own is None or provider is None:
            return None
        source = f"mlflow:{page}"
        model: dict[str, Any] = {
            "id": model_id,
            "name": registered.name,
            "provider": provider,
            "version": version.version,
        }
        for tag, (name, _) in MODEL_TAGS.items():
            if tag in values:
                model[name] = values[tag]
        description = _description(version, registered)
        if description:
            model["description"] = description
        model |= {"source": source, "confidence": Confidence.declared.value}
        self.imported.add(model_id)
        stubs.setdefault(("providers", provider), _provider_stub(provider, f"mlflow:{base}"))
        edges = [
            _edge(
                model_id,
                relation or Relation.finetune.value,
                parent,
                source,
                declared=bool(relation),
            )
            for parent in bases
        ]
        edges += [
            _edge(model_id, Relation.trained_on.value, dataset, source, declared=True)
            for dataset in values.get("aigov.datasets", [])
        ]
        for parent in bases:
            stubs.setdefault(("models", parent), _stub("models", parent, source))
        for dataset in values.get("aigov.datasets", []):
            stubs.setdefault(("datasets", dataset), _stub("datasets", dataset, source))
        data: dict[str, Any] = {"models": [model]}
        if edges:
            data["lineage"] = edges
        return MappedDocument(file=page, data=data), values

    def deployment(
        self,
        page: str,
        label: str,
        prefix: str,
        alias: str,
        document: MappedDocument,
        values: dict[str, Any],
    ) -> dict[str, Any] | None:
        """The deployment an alias stands for; None when nothing says its environment."""
        environment = ALIAS_ENVIRONMENTS.get(alias.lower())
        confidence = Confidence.inferred
        if environment is None:
            environment = values.get("aigov.environment")
            confidence = Confidence.declared
        if environment is None:
            return None
        deployment_id = f"{prefix}#{alias}"
        try:
            _record_id(deployment_id)
        except ValueError as exc:
            self.problems.append(
                Problem(page, None, f"alias: {exc}", record=label, field="aliases")
            )
            return None
        deployment: dict[str, Any] = {
            "id": deployment_id,
            "model": document.data["models"][0]["id"],
            "platform": PLATFORM,
            "region": values.get("aigov.region", GLOBAL_REGION),
            "environment": Environment(environment).value,
        }
        if "aigov.exposure" in values:
            deployment["exposure"] = values["aigov.exposure"]
        return deployment | {"source": f"mlflow:{page}", "confidence": confidence.value}

    def stub_documents(self) -> list[Document]:
        """Per source, the records its versions name but no source describes (and the
        providers of those models)."""
        documents: list[Document] = []
        made = {("models", rid) for rid in self.imported}
        for base, stubs in self.references:
            wanted = {key: stub for key, stub in stubs.items() if key not in made}
            for (section, _), stub in list(wanted.items()):
                if section == "models":
                    maker = stub["provider"]
                    wanted.setdefault(("providers", maker), _provider_stub(maker, stub["source"]))
            wanted = {key: stub for key, stub in wanted.items() if key not in made}
            made |= wanted.keys()
            data: dict[str, list[dict[str, Any]]] = {}
            for (section, _), stub in sorted(wanted.items(), key=_stub_order):
                data.setdefault(section, []).append(stub)
            if data:
                documents.append(MappedDocument(file=base, data=data))
        return documents


def _stub_order(item: tuple[tuple[str, str], Any]) -> tuple[int, str]:
    """Providers before the models that name them, then datasets; by id within each."""
    (section, rid), _ = item
    return STUB_SECTIONS.index(section), rid


def _description(version: _Version, registered: _Registered) -> str:
    """The version's description (else the registered model's) and where MLflow got it."""
    origin = "; ".join(
        part
        for part in (
            f"MLflow model source: {version.source}" if version.source else "",
            f"run: {version.run_id}" if version.run_id else "",
        )
        if part
    )
    text = (version.description or registered.description).strip()
    return "\n\n".join(part for part in (text, origin) if part)


def _edge(child: str, relation: str, parent: str, source: str, *, declared: bool) -> dict[str, Any]:
    confidence = Confidence.declared if declared else Confidence.inferred
    return {
        "id": f"{child}~{relation}~{parent}",
        "child": child,
        "parent": parent,
        "relation": relation,
        "source": source,
        "confidence": confidence.value,
    }


def _provider_stub(provider: str, source: str) -> dict[str, Any]:
    return {
        "id": provider,
        "name": provider,
        "source": source,
        "confidence": Confidence.inferred.value,
    }


def _stub(section: str, rid: str, source: str) -> dict[str, Any]:
    record: dict[str, Any] = {"id": rid, "name": rid}
    if section == "models":
        org, slash, _ = rid.partition("/")
        record["provider"] = org if slash else UNKNOWN_PROVIDER
    return record | {
        "tags": [STUB_MARK],
        "source": source,
        "confidence": Confidence.inferred.value,
    }


def read_mlflow(
    sources: list[str],
    *,
    provider: str | None = None,
    timeout: float = 30.0,
    page_size: int = MAX_PAGE_SIZE,
) -> ImportBatch:
    """Registry documents from the Model Registry of each tracking server in ``sources``.

    ``provider`` is the provider of versions with no ``aigov.provider`` tag; ``timeout`` bounds
    each request (seconds); ``page_size`` is the ``max_results`` of each search request.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise AigovError(f"page size must be between 1 and {MAX_PAGE_SIZE} (got {page_size})")
    if provider is not None:
        try:
            _record_id(provider)
        except ValueError as exc:
            raise AigovError(f"provider: {exc}") from None
    mapper = _Mapper(provider)
    for source in sources:
        try:
            base = _server_url(source)
            registered_models = _read_server(base, page_size, timeout)
        except _SourceError as exc:
            mapper.problems.append(Problem(source, None, str(exc)))
            continue
        mapper.map_server(base, registered_models)
    return ImportBatch(
        documents=mapper.documents,
        stubs=mapper.stub_documents(),
        problems=mapper.problems,
        sources=mapper.versions,
    )
