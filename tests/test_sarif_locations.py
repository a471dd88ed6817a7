"""SARIF that GitHub code scanning can display: every result points at the registry file and
line of the record it is about, kept from the import (``record_origin``).

A copy of the example registry (one file of it rewritten as indented JSON) is imported and
audited through the CLI; the SARIF log of the recorded run, with the locations of
:func:`aigov.api.locations.source_locations`, must validate against the SARIF 2.1.0 schema and
every physical location must name a line that really holds its record.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest
import yaml

from aigov.api.locations import source_locations
from aigov.api.runs import load_run
from aigov.registry.store import open_registry
from aigov.reports.sarif import render
from aigov.results.findings import AuditResult
from aigov_testing.cli import Cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "registry"
SARIF_SCHEMA = Path(__file__).with_name("sarif-2.1.0.schema.json")
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
AS_OF = "2025-06-01"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256, "schema file was changed"
    return jsonschema.Draft4Validator(json.loads(raw), format_checker=jsonschema.FormatChecker())


def _checkout(root: Path) -> Path:
    """A repository holding the example registry, hosting.yaml rewritten as indented JSON."""
    registry = root / "registry"
    registry.mkdir(parents=True)
    for path in EXAMPLES.glob("*.yaml"):
        if path.name == "hosting.yaml":
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            text = json.dumps(data, indent=2, default=str)
            (registry / "hosting.json").write_text(text + "\n", encoding="utf-8")
        else:
            (registry / path.name).write_bytes(path.read_bytes())
    return registry


def _audit(cli: Cli) -> AuditResult:
    result = cli("audit", "--as-of", AS_OF, "-q", "--format", "json", "-o", "audit.json")
    assert result.exit_code == 1, result.stderr
    with open_registry(f"sqlite:///{cli.cwd / 'aigov.db'}") as registry:
        return load_run(registry, "latest")


def _sarif(cli: Cli, result: AuditResult, root: Path | None = None) -> dict[str, Any]:
    with open_registry(f"sqlite:///{cli.cwd / 'aigov.db'}") as registry:
        locations = source_locations(registry, result.findings, root or cli.cwd)
    return json.loads(render(result, locations))


def _valid(log: dict[str, Any], validator: jsonschema.Draft4Validator) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _holds(line: str, record_id: str) -> bool:
    return f"id: {record_id}" in line or f'"id": "{record_id}"' in line


def test_every_result_points_at_the_line_of_its_record(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    cli = Cli(tmp_path)
    _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    result = _audit(cli)
    log = _sarif(cli, result)
    _valid(log, validator)
    results = log["runs"][0]["results"]
    assert len(results) == len(result.findings) > 10
    kinds = set()
    for entry in results:
        [location] = entry["locations"]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert uri.startswith("registry/") and not uri.startswith("/")
        line = physical["region"]["startLine"]
        text = (tmp_path / unquote(uri)).read_text(encoding="utf-8").splitlines()[line - 1]
        subject = entry["properties"]["subject"]
        assert _holds(text, subject), (uri, line, text, subject)
        kinds.add((entry["properties"]["subjectKind"], uri.rsplit(".", 1)[1]))
    # the subjects: models, deployments and approvals, from YAML and from the JSON file
    assert {"model", "deployment", "approval"} <= {kind for kind, _suffix in kinds}
    assert ("deployment", "json") in kinds and ("model", "yaml") in kinds


def test_fingerprints_survive_a_record_moving_within_its_file(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    registry = _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    before = _sarif(cli, _audit(cli))["runs"][0]["results"]
    models = registry / "models.yaml"
    models.write_text(
        "# moved down by three lines\n#\n#\n" + models.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    again = cli("registry", "import", "registry")
    assert again.exit_code == 0 and "0 changes" in again.stdout  # the records did not change
    after = _sarif(cli, _audit(cli))["runs"][0]["results"]

    def by_fingerprint(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["partialFingerprints"]["aigovFindingId/v1"]: r for r in results}

    old, new = by_fingerprint(before), by_fingerprint(after)
    assert set(old) == set(new)
    moved = 0
    for fingerprint, entry in new.items():
        region = entry["locations"][0]["physicalLocation"]["region"]["startLine"]
        was = old[fingerprint]["locations"][0]["physicalLocation"]
        uri = was["artifactLocation"]["uri"]
        shift = 3 if uri == "registry/models.yaml" else 0
        assert region == was["region"]["startLine"] + shift
        moved += bool(shift)
    assert moved > 0


def test_reimporting_the_same_files_writes_no_origin(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    db = tmp_path / "aigov.db"

    def origins() -> list[tuple[Any, ...]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT kind, id, file, path, line FROM record_origin").fetchall()

    first = origins()
    assert len(first) == 84 and all(Path(row[3]).is_absolute() for row in first)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE origin_writes (n INTEGER)")
        conn.execute(
            "CREATE TRIGGER origin_insert AFTER INSERT ON record_origin "
            "BEGIN INSERT INTO origin_writes VALUES (1); END"
        )
    assert cli("registry", "import", "registry").exit_code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM origin_writes").fetchone() == (0,)
    assert origins() == first


def test_a_database_from_before_origins_still_works_and_gains_them(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    cli = Cli(tmp_path)
    _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    with sqlite3.connect(tmp_path / "aigov.db") as conn:
        conn.execute("DROP TABLE record_origin")  # as a registry made by an older aigov
    result = _audit(cli)
    log = _sarif(cli, result)
    _valid(log, validator)
    locations = [r["locations"][0] for r in log["runs"][0]["results"]]
    assert locations and all(set(loc) == {"logicalLocations"} for loc in locations)
    assert cli("registry", "import", "registry").exit_code == 0  # creates the table again
    relocated = _sarif(cli, result)["runs"][0]["results"]
    assert all("physicalLocation" in r["locations"][0] for r in relocated)


def test_a_file_outside_the_root_gets_an_absolute_uri(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    cli = Cli(tmp_path)
    _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    elsewhere = tmp_path / "other-root"
    elsewhere.mkdir()
    log = _sarif(cli, _audit(cli), elsewhere)
    _valid(log, validator)
    for entry in log["runs"][0]["results"]:
        artifact = entry["locations"][0]["physicalLocation"]["artifactLocation"]
        assert "uriBaseId" not in artifact
        assert artifact["uri"].startswith(f"{(tmp_path / 'registry').as_uri()}/")


def test_audit_and_report_locate_results_relative_to_sarif_root(tmp_path: Path) -> None:
    """The CLI path: ``audit --format sarif`` and ``report --format sarif`` give every
    result its record's file, relative to --sarif-root (default: the current directory)."""
    cli = Cli(tmp_path)
    _checkout(tmp_path)
    assert cli("registry", "import", "registry").exit_code == 0
    audited = cli("audit", "--as-of", AS_OF, "-q", "--format", "sarif", "-o", "audit.sarif")
    assert audited.exit_code == 1, audited.stderr
    reported = cli("report", "latest", "--format", "sarif", "--sarif-root", "registry")
    assert reported.exit_code == 0, reported.stderr
    for log, root in (
        (json.loads((tmp_path / "audit.sarif").read_text(encoding="utf-8")), tmp_path),
        (json.loads(reported.stdout), tmp_path / "registry"),
    ):
        results = log["runs"][0]["results"]
        assert len(results) > 10
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
        folders = {uri.split("/")[0] for uri in uris}
        assert folders == ({"registry"} if root == tmp_path else {u for u in uris}), uris
        assert all((root / unquote(uri)).is_file() for uri in uris)
