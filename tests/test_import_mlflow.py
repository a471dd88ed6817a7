"""The MLflow Model Registry importer, against a real MLflow tracking server (populated with the
MLflow client) and, for the failures a real server will not produce on demand (bad JSON, an
oversized body, a redirect, a stalled answer), a local stub HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow_server import ServerError, free_port, mlflow_server

from aigov.errors import AigovError, Problem
from aigov.registry.importers import ImportBatch, importer
from aigov.registry.importers import mlflow as mlflow_importer
from aigov.registry.importers.mlflow import read_mlflow
from aigov.registry.interchange import check_references, validate_documents
from aigov_testing.env import require_in_ci

# --------------------------------------------------------------------------- the real server


@dataclass(frozen=True)
class Populated:
    """A running server and the id of the run one model version was logged by."""

    url: str
    run_id: str


def _populate(url: str) -> str:
    """Registered models covering the tag convention, aliases and (with page size 2) several
    pages of registered models and of versions; returns the id of the run it logs."""
    import mlflow

    client = mlflow.MlflowClient(url)
    run_id = client.create_run("0").info.run_id
    client.create_registered_model(
        "fraud-detector",
        tags={
            "aigov.provider": "acme",
            "aigov.license": "apache-2.0",
            "aigov.owner": "risk-team@example.com",
            "aigov.datasets": "transactions-2024",
            "team": "risk",  # not an aigov tag: ignored
        },
        description="Scores card transactions.",
    )
    client.create_model_version("fraud-detector", "s3://models/fraud/1", run_id=None)
    client.create_model_version(
        "fraud-detector",
        "s3://models/fraud/2",
        tags={
            "aigov.license": "mit",
            "aigov.base_model": "fraud-detector/v1",
            "aigov.base_model_relation": "distillation",
            "aigov.region": "eu-west-1",
        },
    )
    client.create_model_version(
        "fraud-detector",
        "s3://models/fraud/3",
        tags={"aigov.environment": "staging"},
        description="Candidate trained on 2025 data.",
    )
    client.set_registered_model_alias("fraud-detector", "production", "2")
    client.set_registered_model_alias("fraud-detector", "champion", "1")  # no environment
    client.set_registered_model_alias("fraud-detector", "challenger", "3")

    client.create_registered_model(
        "support-llm",
        tags={
            "aigov.provider": "acme",
            "aigov.license": "llama3.1",
            "aigov.base_model": "meta-llama/Llama-3.1-8B",
            "aigov.weights": "closed_api",
            "aigov.gpai": "false",
            "aigov.distributed": "false",
            "aigov.family": "llama3.1",
        },
    )
    client.create_model_version(
        "support-llm",
        f"runs:/{run_id}/model",
        run_id=run_id,
        tags={
            "aigov.base_model_relation": "adapter",
            "aigov.datasets": "support-tickets, faq-pages",
            "aigov.exposure": "customer_facing",
        },
    )
    client.set_registered_model_alias("support-llm", "prod", "1")

    # no aigov.provider: the default provider applies
    client.create_registered_model("churn")
    client.create_model_version(
        "churn", "s3://models/churn/1", tags={"aigov.base_model": "forecast-base"}
    )
    # a name that cannot be a record id, with the id to use instead
    client.create_registered_model("Sales Forecast", tags={"aigov.id": "sales-forecast"})
    client.create_model_version(
        "Sales Forecast", "s3://models/sales/1", tags={"aigov.provider": "finance"}
    )
    client.set_registered_model_alias("Sales Forecast", "dev", "1")
    # a prompt is a registered model to MLflow, not a model
    client.register_prompt(name="greeting", template="Hello {{name}}")
    return run_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    try:
        import mlflow  # noqa: F401  (a test dependency only: the importer never imports it)
    except ImportError:
        require_in_ci("mlflow is not installed", cases="the MLflow importer tests")
    try:
        with (
            pytest.MonkeyPatch.context() as env,
            mlflow_server(tmp_path_factory.mktemp("mlflow")) as running,
        ):
            env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")  # the client's too
            run_id = _populate(running.url)
            yield Populated(running.url, run_id)
    except ServerError as exc:
        require_in_ci(f"the MLflow server did not start: {exc}", cases="the MLflow importer tests")


def _read(server: Populated, **options: Any) -> ImportBatch:
    return read_mlflow([server.url], provider="analytics", page_size=2, **options)


def _data(documents: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(document.file, document.data) for document in documents]


def _expected(server: Populated) -> list[tuple[str, dict[str, Any]]]:
    ui = f"{server.url}/#/models"
    run = server.run_id
    return [
        (
            f"{ui}/Sales%20Forecast/versions/1",
            {
                "models": [
                    {
                        "id": "sales-forecast/v1",
                        "name": "Sales Forecast",
                        "provider": "finance",
                        "version": "1",
                        "description": "MLflow model source: s3://models/sales/1",
                        "source": f"mlflow:{ui}/Sales%20Forecast/versions/1",
                        "confidence": "declared",
                    }
                ],
                "deployments": [
                    {
                        "id": "sales-forecast#dev",
                        "model": "sales-forecast/v1",
                        "platform": "mlflow",
                        "region": "global",
                        "environment": "dev",
                        "source": f"mlflow:{ui}/Sales%20Forecast",
                        "confidence": "inferred",
                    }
                ],
            },
        ),
        (
            f"{ui}/churn/versions/1",
            {
                "models": [
                    {
                        "id": "churn/v1",
                        "name": "churn",
                        "provider": "analytics",
                        "version": "1",
                        "description": "MLflow model source: s3://models/churn/1",
                        "source": f"mlflow:{ui}/churn/versions/1",
                        "confidence": "declared",
                    }
                ],
                "lineage": [
                    {
                        "id": "churn/v1~finetune~forecast-base",
                        "child": "churn/v1",
                        "parent": "forecast-base",
                        "relation": "finetune",
                        "source": f"mlflow:{ui}/churn/versions/1",
                        "confidence": "inferred",
                    }
                ],
            },
        ),
        (
            f"{ui}/fraud-detector/versions/1",
            {
                "models": [
                    {
                        "id": "fraud-detector/v1",
                        "name": "fraud-detector",
                        "provider": "acme",
                        "version": "1",
                        "licence": "Apache-2.0",
                        "owner": "risk-team@example.com",
                        "description": "Scores card transactions.\n\n"
                        "MLflow model source: s3://models/fraud/1",
                        "source": f"mlflow:{ui}/fraud-detector/versions/1",
                        "confidence": "declared",
                    }
                ],
                "lineage": [
                    {
                        "id": "fraud-detector/v1~trained_on~transactions-2024",
                        "child": "fraud-detector/v1",
                        "parent": "transactions-2024",
                        "relation": "trained_on",
                        "source": f"mlflow:{ui}/fraud-detector/versions/1",
                        "confidence": "declared",
                    }
                ],
            },
        ),
        (
            f"{ui}/fraud-detector/versions/2",
            {
                "models": [
                    {
                        "id": "fraud-detector/v2",
                        "name": "fraud-detector",
                        "provider": "acme",
                        "version": "2",
                        "licence": "MIT",
                        "owner": "risk-team@example.com",
                        "description": "Scores card transactions.\n\n"
                        "MLflow model source: s3://models/fraud/2",
                        "source": f"mlflow:{ui}/fraud-detector/versions/2",
                        "confidence": "declared",
                    }
                ],
                "lineage": [
                    {
                        "id": "fraud-detector/v2~distillation~fraud-detector/v1",
                        "child": "fraud-detector/v2",
                        "parent": "fraud-detector/v1",
                        "relation": "distillation",
                        "source": f"mlflow:{ui}/fraud-detector/versions/2",
                        "confidence": "declared",
                    },
                    {
                        "id": "fraud-detector/v2~trained_on~transactions-2024",
                        "child": "fraud-detector/v2",
                        "parent": "transactions-2024",
                        "relation": "trained_on",
                        "source": f"mlflow:{ui}/fraud-detector/versions/2",
                        "confidence": "declared",
                    },
                ],
                "deployments": [
                    {
                        "id": "fraud-detector#production",
                        "model": "fraud-detector/v2",
                        "platform": "mlflow",
                        "region": "eu-west-1",
                        "environment": "prod",
                        "source": f"mlflow:{ui}/fraud-detector",
                        "confidence": "inferred",
                    }
                ],
            },
        ),
        (
            f"{ui}/fraud-detector/versions/3",
            {
                "models": [
                    {
                        "id": "fraud-detector/v3",
                        "name": "fraud-detector",
                        "provider": "acme",
                        "version": "3",
                        "licence": "Apache-2.0",
                        "owner": "risk-team@example.com",
                        "description": "Candidate trained on 2025 data.\n\n"
                        "MLflow model source: s3://models/fraud/3",
                        "source": f"mlflow:{ui}/fraud-detector/versions/3",
                        "confidence": "declared",
                    }
                ],
                "lineage": [
                    {
                        "id": "fraud-detector/v3~trained_on~transactions-2024",
                        "child": "fraud-detector/v3",
                        "parent": "transactions-2024",
                        "relation": "trained_on",
                        "source": f"mlflow:{ui}/fraud-detector/versions/3",
                        "confidence": "declared",
                    }
                ],
                "deployments": [
                    {
                        "id": "fraud-detector#challenger",
                        "model": "fraud-detector/v3",
                        "platform": "mlflow",
                        "region": "global",
                        "environment": "staging",
                        "source": f"mlflow:{ui}/fraud-detector",
                        "confidence": "declared",
                    }
                ],
            },
        ),
        (
            f"{ui}/support-llm/versions/1",
            {
                "models": [
                    {
                        "id": "support-llm/v1",
                        "name": "support-llm",
                        "provider": "acme",
                        "version": "1",
                        "licence": "llama3.1",
                        "weights": "closed_api",
                        "family": "llama3.1",
                        "is_gpai": False,
                        "distributed": False,
                        "description": f"MLflow model source: runs:/{run}/model; run: {run}",
                        "source": f"mlflow:{ui}/support-llm/versions/1",
                        "confidence": "declared",
                    }
                ],
                "lineage": [
                    {
                        "id": "support-llm/v1~adapter~meta-llama/Llama-3.1-8B",
                        "child": "support-llm/v1",
                        "parent": "meta-llama/Llama-3.1-8B",
                        "relation": "adapter",
                        "source": f"mlflow:{ui}/support-llm/versions/1",
                        "confidence": "declared",
                    },
                    {
                        "id": "support-llm/v1~trained_on~faq-pages",
                        "child": "support-llm/v1",
                        "parent": "faq-pages",
                        "relation": "trained_on",
                        "source": f"mlflow:{ui}/support-llm/versions/1",
                        "confidence": "declared",
                    },
                    {
                        "id": "support-llm/v1~trained_on~support-tickets",
                        "child": "support-llm/v1",
                        "parent": "support-tickets",
                        "relation": "trained_on",
                        "source": f"mlflow:{ui}/support-llm/versions/1",
                        "confidence": "declared",
                    },
                ],
                "deployments": [
                    {
                        "id": "support-llm#prod",
                        "model": "support-llm/v1",
                        "platform": "mlflow",
                        "region": "global",
                        "environment": "prod",
                        "exposure": "customer_facing",
                        "source": f"mlflow:{ui}/support-llm",
                        "confidence": "inferred",
                    }
                ],
            },
        ),
    ]


def _expected_stubs(url: str) -> list[tuple[str, dict[str, Any]]]:
    ui = f"{url}/#/models"

    def stub(rid: str, page: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": rid,
            "name": rid,
            **fields,
            "tags": ["stub"],
            "source": f"mlflow:{ui}/{page}",
            "confidence": "inferred",
        }

    def provider(rid: str, page: str | None = None) -> dict[str, Any]:
        source = f"mlflow:{ui}/{page}" if page else f"mlflow:{url}"
        return {"id": rid, "name": rid, "source": source, "confidence": "inferred"}

    return [
        (
            url,
            {
                "providers": [
                    provider("acme"),
                    provider("analytics"),
                    provider("finance"),
                    provider("meta-llama", page="support-llm/versions/1"),
                    provider("unknown", page="churn/versions/1"),
                ],
                "models": [
                    stub("forecast-base", "churn/versions/1", provider="unknown"),
                    stub(
                        "meta-llama/Llama-3.1-8B", "support-llm/versions/1", provider="meta-llama"
                    ),
                ],
                "datasets": [
                    stub("faq-pages", "support-llm/versions/1"),
                    stub("support-tickets", "support-llm/versions/1"),
                    stub("transactions-2024", "fraud-detector/versions/1"),
                ],
            },
        )
    ]


@pytest.mark.mlflow
def test_maps_every_version_alias_and_reference(server: Populated) -> None:
    batch = _read(server)
    assert batch.problems == []
    assert _data(batch.documents) == _expected(server)
    assert _data(batch.stubs) == _expected_stubs(server.url)
    assert batch.sources == 6  # model versions; the prompt's is not one


@pytest.mark.mlflow
def test_documents_validate_and_references_resolve(server: Populated) -> None:
    batch = _read(server)
    records, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == []
    assert check_references(records, {}) == []
    assert sorted(
        (loaded.kind, loaded.record.id) for loaded in records if loaded.kind != "lineage"
    ) == [
        ("dataset", "faq-pages"),
        ("dataset", "support-tickets"),
        ("dataset", "transactions-2024"),
        ("deployment", "fraud-detector#challenger"),
        ("deployment", "fraud-detector#production"),
        ("deployment", "sales-forecast#dev"),
        ("deployment", "support-llm#prod"),
        ("model", "churn/v1"),
        ("model", "forecast-base"),
        ("model", "fraud-detector/v1"),
        ("model", "fraud-detector/v2"),
        ("model", "fraud-detector/v3"),
        ("model", "meta-llama/Llama-3.1-8B"),
        ("model", "sales-forecast/v1"),
        ("model", "support-llm/v1"),
        ("provider", "acme"),
        ("provider", "analytics"),
        ("provider", "finance"),
        ("provider", "meta-llama"),
        ("provider", "unknown"),
    ]


@pytest.mark.mlflow
def test_follows_every_page(server: Populated, monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[str] = []
    real_get = mlflow_importer._get

    def spy(url: str, timeout: float) -> Any:
        requested.append(url.removeprefix(server.url))
        return real_get(url, timeout)

    monkeypatch.setattr(mlflow_importer, "_get", spy)
    by_page = _read(server)
    monkeypatch.undo()
    # 4 models (and a prompt the server leaves out) in pages of 2; 6 versions in pages of 2
    assert [url.split("?")[0] for url in requested] == [
        "/api/2.0/mlflow/registered-models/search"
    ] * 2 + ["/api/2.0/mlflow/model-versions/search"] * 3, requested
    assert all("page_token=" in url for url in requested[1:2] + requested[3:])
    whole = read_mlflow([server.url], provider="analytics")
    assert _data(by_page.documents) == _data(whole.documents)
    assert _data(by_page.stubs) == _data(whole.stubs)


@pytest.mark.mlflow
def test_is_deterministic(server: Populated) -> None:
    first, second = _read(server), _read(server)
    assert _data(first.documents) == _data(second.documents)
    assert _data(first.stubs) == _data(second.stubs)


@pytest.mark.mlflow
def test_no_provider_is_a_problem_per_version(server: Populated) -> None:
    batch = read_mlflow([server.url])
    assert batch.problems == [
        Problem(
            f"{server.url}/#/models/churn/versions/1",
            None,
            "no provider: tag the registered model or this version with aigov.provider, "
            "or give a default provider (--provider)",
            record="model 'churn/v1'",
            field="aigov.provider",
        )
    ]
    assert "churn/v1" not in {d.data["models"][0]["id"] for d in batch.documents}
    assert "analytics" not in json.dumps(_data(batch.stubs))


def test_the_importer_is_registered() -> None:
    assert importer("mlflow") is read_mlflow


@pytest.fixture
def bad_models(server: Populated) -> Iterator[None]:
    """Registered models whose tags are wrong, removed after the test."""
    import mlflow

    client = mlflow.MlflowClient(server.url)
    client.create_registered_model("bad-tags", tags={"aigov.provider": "acme"})
    client.create_model_version(
        "bad-tags",
        "s3://models/bad/1",
        tags={
            "aigov.license": "Apache 2.0 licence!",
            "aigov.weights": "downloadable",
            "aigov.licence": "MIT",
            "aigov.id": "other",
        },
    )
    client.create_model_version(
        "bad-tags",
        "s3://models/bad/2",
        tags={"aigov.base_model_relation": "trained_on", "aigov.gpai": "yes"},
    )
    client.set_registered_model_alias("bad-tags", "prod", "1")
    client.create_registered_model("bad name")
    client.create_model_version("bad name", "s3://models/bad-name/1")
    try:
        yield
    finally:
        client.delete_registered_model("bad-tags")
        client.delete_registered_model("bad name")


@pytest.mark.mlflow
@pytest.mark.usefixtures("bad_models")
def test_bad_tags_name_the_version_and_tag(server: Populated) -> None:
    batch = _read(server)
    v1, v2 = (f"{server.url}/#/models/bad-tags/versions/{v}" for v in (1, 2))
    known = (
        "aigov.base_model, aigov.base_model_relation, aigov.datasets, aigov.distributed, "
        "aigov.environment, aigov.exposure, aigov.family, aigov.gpai, aigov.id, aigov.license, "
        "aigov.owner, aigov.provider, aigov.region, aigov.weights"
    )
    assert batch.problems == [
        Problem(
            f"{server.url}/#/models/bad%20name",
            None,
            "the name 'bad name' cannot be a record id (letters, digits and ._:/@+#~-): tag "
            "the registered model with aigov.id, the id to use",
            record="registered model 'bad name'",
        ),
        Problem(
            v1,
            None,
            f"unknown tag 'aigov.licence' (the aigov tags: {known})",
            record="model 'bad-tags/v1'",
            field="aigov.licence",
        ),
        Problem(
            v1,
            None,
            "tag aigov.license: invalid licence expression 'Apache 2.0 licence!': "
            "character '!' in 'licence!'",
            record="model 'bad-tags/v1'",
            field="aigov.license",
        ),
        Problem(
            v1,
            None,
            "tag aigov.weights: expected one of open, gated, closed_api, got 'downloadable'",
            record="model 'bad-tags/v1'",
            field="aigov.weights",
        ),
        Problem(
            v1,
            None,
            "tag aigov.id names every version's id: set it on the registered model",
            record="model 'bad-tags/v1'",
            field="aigov.id",
        ),
        Problem(
            v2,
            None,
            "tag aigov.base_model_relation: expected one of finetune, adapter, quantized, "
            "merge, conversion, continued_pretraining, distillation, trained_on_outputs, "
            "got 'trained_on'",
            record="model 'bad-tags/v2'",
            field="aigov.base_model_relation",
        ),
        Problem(
            v2,
            None,
            "tag aigov.gpai: expected true or false, got 'yes'",
            record="model 'bad-tags/v2'",
            field="aigov.gpai",
        ),
    ]
    # the good versions are still read; the bad ones (and the alias to one) are not
    assert _data(batch.documents) == _expected(server)


# --------------------------------------------------------------------------- transport errors


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    batch = read_mlflow([url, "ftp://example.com/mlflow"])
    assert batch.problems == [
        Problem(
            url,
            None,
            f"cannot read {url}/api/2.0/mlflow/registered-models/search?max_results=1000: "
            "connection refused (is the MLflow server running?)",
        ),
        Problem(
            "ftp://example.com/mlflow",
            None,
            "not an MLflow tracking server URL: 'ftp://example.com/mlflow' (expected "
            "http://host:port or https://host/path)",
        ),
    ]
    assert batch.documents == batch.stubs == []


Respond = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def fake_server() -> Iterator[Callable[[Respond], str]]:
    """A local HTTP server answering every GET with ``respond``; yields a starter."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(respond: Respond) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                respond(self)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _answer(status: int, body: bytes, **headers: str) -> Respond:
    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return respond


SEARCH = "/api/2.0/mlflow/registered-models/search?max_results=1000"


@pytest.mark.parametrize(
    ("status", "body", "headers", "reason"),
    [
        (
            404,
            b'{"error_code": "ENDPOINT_NOT_FOUND", "message": "No such endpoint"}',
            {},
            "HTTP 404 Not Found: No such endpoint",
        ),
        (500, b"<html>oops</html>", {}, "HTTP 500 Internal Server Error"),
        (
            302,
            b"",
            {"Location": "https://login.example.com/"},
            "HTTP 302 Found: redirected to https://login.example.com/ (name the final URL)",
        ),
        (
            200,
            b"<html>login</html>",
            {},
            "not a JSON response (Expecting value: line 1 column 1 (char 0))",
        ),
        (200, b"[]", {}, "expected a JSON object"),
        (200, b'{"registered_models": {}}', {}, "field 'registered_models' is not a list"),
        (
            200,
            b'{"registered_models": [{"name": 7}]}',
            {},
            "field 'name' is not text (got 7)",
        ),
        (
            200,
            b'{"registered_models": [{"name": "m", "tags": [{"value": "x"}]}]}',
            {},
            "field 'key' is missing or empty",
        ),
        (
            200,
            b'{"registered_models": [], "next_page_token": "same"}',
            {},
            "the server repeats a page token",
        ),
    ],
)
def test_a_bad_answer_is_one_problem_naming_the_url(
    fake_server: Callable[[Respond], str],
    status: int,
    body: bytes,
    headers: dict[str, str],
    reason: str,
) -> None:
    url = fake_server(_answer(status, body, **headers))
    batch = read_mlflow([url])
    if reason == "the server repeats a page token":
        request = f"{url}{SEARCH}&page_token=same"
    else:
        request = f"{url}{SEARCH}"
    assert batch.problems == [Problem(url, None, f"cannot read {request}: {reason}")]
    assert batch.documents == batch.stubs == []


def test_an_alias_to_a_version_not_listed_is_a_problem(
    fake_server: Callable[[Respond], str],
) -> None:
    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        registered = {"name": "m", "aliases": [{"alias": "prod", "version": "9"}]}
        if "registered-models" in handler.path:
            _answer(200, json.dumps({"registered_models": [registered]}).encode())(handler)
        else:
            versions = [{"name": "m", "version": "1", "source": "s3://m/1"}]
            _answer(200, json.dumps({"model_versions": versions}).encode())(handler)

    url = fake_server(respond)
    batch = read_mlflow([url], provider="acme")
    assert batch.problems == [
        Problem(
            f"{url}/#/models/m",
            None,
            "alias 'prod' names version '9', which the server does not list",
            record="registered model 'm'",
            field="aliases",
        )
    ]
    assert [document.data["models"][0]["id"] for document in batch.documents] == ["m/v1"]
    assert "deployments" not in batch.documents[0].data


def test_an_oversized_answer_is_refused(
    fake_server: Callable[[Respond], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGOV_MAX_FILE_BYTES", "100")
    url = fake_server(_answer(200, b'{"registered_models": []}' + b" " * 100))
    batch = read_mlflow([url])
    assert batch.problems == [
        Problem(url, None, f"cannot read {url}{SEARCH}: the response exceeds 100 bytes")
    ]


def test_a_stalled_server_times_out(fake_server: Callable[[Respond], str]) -> None:
    def stall(handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(2)
        _answer(200, b'{"registered_models": []}')(handler)

    url = fake_server(stall)
    started = time.monotonic()
    batch = read_mlflow([url], timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert batch.problems == [
        Problem(url, None, f"cannot read {url}{SEARCH}: no answer within 0.3 s")
    ]


@pytest.mark.parametrize(
    ("env", "header"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "t0k3n"}, "Bearer t0k3n"),
        (
            {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"},
            "Basic YW5uOnB3",
        ),
        ({}, None),
    ],
)
def test_sends_the_credentials_mlflow_would(
    fake_server: Callable[[Respond], str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    header: str | None,
) -> None:
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[str | None] = []

    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(handler.headers.get("Authorization"))
        key = "registered_models" if "registered" in handler.path else "model_versions"
        _answer(200, json.dumps({key: []}).encode())(handler)

    batch = read_mlflow([fake_server(respond)])
    assert batch.problems == []
    assert seen == [header, header]


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(AigovError, match=r"page size must be between 1 and 1000 \(got 0\)"):
        read_mlflow([], page_size=0)
    with pytest.raises(AigovError, match="provider: 'a b' is not a record id"):
        read_mlflow([], provider="a b")


def test_the_importer_never_imports_mlflow() -> None:
    source = Path(mlflow_importer.__file__).read_text(encoding="utf-8")
    assert "import mlflow" not in source and "from mlflow" not in source
