"""Hostile and malformed input files, through the real CLI (issue #10, items 4, 10, 14, 19).

Every rejected file must exit 2 with a message naming the file (and line, and field, where
the input has them), change nothing in the database (``registry export`` before and after),
and never let the gate ALLOW what the file would have hidden. The import cases run on every
backend of the ``db_url`` fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from aigov_testing.cli import AigovProcess

AS_OF = "2025-06-01"

POLICY = """
policies:
  - id: INV-T1
    title: Deployment of a model whose provider is under investigation
    description: test
    family: investigation
    severity: high
    remediation: Resolve the investigation.
    message: "{{ dep.id }} of {{ model.id }} while {{ inv.authority }} investigates"
    subject: {as: dep, kind: deployment, where: {status: {in: [active, planned]}}}
    when:
      exists:
        as: inv
        kind: investigation
        where: {subject: {ref: model.provider}, status: {in: [open, reported]}}
"""

# The good registry every test starts from: an open investigation blocks deepseek-r1.
GOOD = {
    "providers": [{"id": "deepseek", "name": "DeepSeek"}],
    "terms": [
        {
            "id": "ds-licence",
            "provider": "deepseek",
            "kind": "licence",
            "title": "DeepSeek licence",
            "clauses": [{"section": "1", "type": "mau_threshold", "params": {"mau": 700000000}}],
        }
    ],
    "models": [
        {
            "id": "deepseek-r1",
            "name": "DeepSeek-R1",
            "provider": "deepseek",
            "training_compute_flop": 4.0e24,
        }
    ],
    "investigations": [
        {
            "id": "inv-1",
            "subject": "deepseek",
            "authority": "Garante",
            "authority_type": "regulator",
            "allegation": "privacy",
            "status": "open",
            "opened_at": "2025-01-30",
        }
    ],
}

GATE = ("gate", "deepseek-r1", "--platform", "p", "--region", "r", "--environment", "prod")

INVESTIGATION_JSON = (
    '{"id": "inv-1", "subject": "deepseek", "authority": "Garante", '
    '"authority_type": "regulator", "allegation": "privacy", "opened_at": "2025-01-30", '
    '"status": "open"}'
)


class Registry:
    """Runs aigov against one database, with the test policy and a fixed as-of date."""

    def __init__(self, cli, db_url: str, root: Path):
        self.cli, self.db_url, self.root = cli, db_url, root
        self.policies = root / "policies"
        self.policies.mkdir(exist_ok=True)
        (self.policies / "inv.yaml").write_text(textwrap.dedent(POLICY))

    def __call__(self, *args: str | Path, env: dict[str, str] | None = None):
        common: list[str | Path] = ["--db", self.db_url]
        if args[0] in ("audit", "gate"):
            common += ["--policies", self.policies, "--as-of", AS_OF]
        return self.cli(*args, *common, env=env)

    def write(self, name: str, text: str) -> Path:
        path = self.root / "input" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def export(self) -> str:
        result = self("registry", "export", "--format", "json")
        assert result.exit_code == 0, result.stderr
        return result.stdout

    def gate(self):
        return self(*GATE)


@pytest.fixture
def fresh(cli, db_url: str, tmp_path: Path) -> Registry:
    """An empty registry database."""
    return Registry(cli, db_url, tmp_path)


@pytest.fixture
def seeded(fresh: Registry) -> Registry:
    """The GOOD registry, imported; the gate DENYs deepseek-r1."""
    path = fresh.write("good.json", json.dumps(GOOD, indent=2))
    result = fresh("registry", "import", path)
    assert result.exit_code == 0, result.stderr
    assert fresh.gate().exit_code == 1
    return fresh


def assert_rejected(registry: Registry, path: Path, *fragments: str) -> str:
    """Import ``path``: exit 2, every fragment in the message, the database unchanged and
    the gate still DENYing. Returns stderr."""
    before = registry.export()
    result = registry("registry", "import", path)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "nothing was imported" in result.stderr, result.stderr
    assert "internal error" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert registry.export() == before
    gate = registry.gate()
    assert gate.exit_code == 1, gate.stdout + gate.stderr
    assert gate.stdout.startswith("DENY deepseek-r1")
    return result.stderr


# --------------------------------------------------------------------------- item 4


def test_json_duplicate_section_cannot_wipe_an_investigation(fresh: Registry) -> None:
    """A second "investigations": [] used to replace the first: the investigation vanished
    and the gate said ALLOW."""
    text = (
        "{\n"
        '  "providers": [{"id": "deepseek", "name": "DeepSeek"}],\n'
        '  "models": [{"id": "deepseek-r1", "name": "DeepSeek-R1", "provider": "deepseek"}],\n'
        f'  "investigations": [{INVESTIGATION_JSON}],\n'
        '  "investigations": []\n'
        "}\n"
    )
    path = fresh.write("dup.json", text)
    result = fresh("registry", "import", path)
    assert result.exit_code == 2
    assert f"{path.name}:5: duplicate key 'investigations'" in result.stderr
    assert "nothing was imported" in result.stderr
    gate = fresh.gate()  # nothing was imported (the model is unknown): never ALLOW
    assert gate.exit_code == 2
    assert gate.stdout.startswith("DENY (error")


@pytest.mark.parametrize(
    ("record", "line", "key"),
    [
        # the last "status" would close the open investigation
        (
            '    {"id": "inv-1", "subject": "deepseek", "authority": "Garante",\n'
            '     "authority_type": "regulator", "allegation": "privacy",\n'
            '     "opened_at": "2025-01-30", "status": "open",\n'
            '     "status": "closed_unsubstantiated"}\n',
            7,
            "status",
        ),
        # the same key twice inside a nested object
        (
            f"    {INVESTIGATION_JSON[:-1]},\n"
            '     "confirmation": "reported", "source": "a",\n'
            '     "source": "b"}\n',
            6,
            "source",
        ),
    ],
)
def test_json_duplicate_field_is_rejected_with_its_line(
    seeded: Registry, record: str, line: int, key: str
) -> None:
    text = '{\n  "schema_version": 1,\n  "investigations": [\n' + record + "  ]\n}\n"
    path = seeded.write("inv.json", text)
    assert_rejected(seeded, path, f"{path.name}:{line}: duplicate key '{key}'")


def test_json_duplicate_key_in_clause_params(seeded: Registry) -> None:
    text = json.dumps({"terms": GOOD["terms"]}, indent=2).replace(
        '"mau": 700000000', '"mau": 700000000,\n "mau": 1'
    )
    path = seeded.write("terms.json", text)
    line = text.splitlines().index(' "mau": 1') + 1
    assert_rejected(seeded, path, f"{path.name}:{line}: duplicate key 'mau'")


def test_json_deployment_descriptor_with_duplicate_key(seeded: Registry) -> None:
    path = seeded.write(
        "deploy.json",
        '{"id": "d", "model": "deepseek-r1", "platform": "p", "region": "r",\n'
        ' "environment": "prod",\n "environment": "dev"}\n',
    )
    result = seeded("gate", "--deployment", path)
    assert result.exit_code == 2
    assert f"{path.name}:3: duplicate key 'environment'" in result.stderr


def test_json_policy_with_duplicate_key(seeded: Registry) -> None:
    policy = {
        "policies": [
            {
                "id": "GOV-J1",
                "title": "t",
                "description": "d",
                "family": "governance",
                "severity": "low",
                "remediation": "r",
                "message": "m",
                "subject": {"kind": "model"},
                "requires": ["model.owner"],
            }
        ]
    }
    text = json.dumps(policy, indent=2).replace(
        '"severity": "low",', '"severity": "low",\n      "severity": "critical",'
    )
    (seeded.policies / "gov.json").write_text(text)
    line = text.splitlines().index('      "severity": "critical",') + 1
    result = seeded("audit", "--no-record")
    assert result.exit_code == 2
    assert f"gov.json:{line}: duplicate key 'severity'" in result.stderr


# --------------------------------------------------------------------------- item 10


def _model_json(flop: str) -> str:
    return (
        '{"models": [\n'
        '  {"id": "deepseek-r1", "name": "DeepSeek-R1", "provider": "deepseek",\n'
        f'   "training_compute_flop": {flop}}}\n'
        "]}\n"
    )


def _model_yaml(flop: str) -> str:
    return (
        "models:\n"
        "  - id: deepseek-r1\n"
        "    name: DeepSeek-R1\n"
        "    provider: deepseek\n"
        f"    training_compute_flop: {flop}\n"
    )


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("inf.json", _model_json("Infinity"), 3),
        ("neg-inf.json", _model_json("-Infinity"), 3),
        ("nan.json", _model_json("NaN"), 3),
        ("overflow.json", _model_json("1e400"), 3),
        ("inf.yaml", _model_yaml(".inf"), 5),
        ("nan.yaml", _model_yaml(".nan"), 5),
        ("overflow.yaml", _model_yaml("1.0e+400"), 5),
        ("text.yaml", _model_yaml("'1e400'"), 5),
    ],
)
def test_non_finite_number_in_a_record_is_rejected(
    seeded: Registry, name: str, text: str, line: int
) -> None:
    path = seeded.write(name, text)
    assert_rejected(
        seeded,
        path,
        f"{name}:{line}: model 'deepseek-r1': field 'training_compute_flop': "
        "Input should be a finite number",
    )


def _params_yaml(value: str) -> str:
    return (
        "terms:\n"
        "  - id: ds-licence\n"
        "    provider: deepseek\n"
        "    kind: licence\n"
        "    title: DeepSeek licence\n"
        "    clauses:\n"
        "      - section: '1'\n"
        "        type: mau_threshold\n"
        "        params:\n"
        "          note: fine\n"
        f"          mau: {value}\n"
    )


def _params_json(value: str) -> str:
    return (
        '{"terms": [{"id": "ds-licence", "provider": "deepseek", "kind": "licence",\n'
        '  "title": "DeepSeek licence", "clauses": [{"section": "1", "type": "mau_threshold",\n'
        f'  "params": {{"note": "fine",\n    "mau": {value}}}}}]}}]}}\n'
    )


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("inf.yaml", _params_yaml(".inf"), 11, "number must be finite (got inf)"),
        ("nan.yaml", _params_yaml(".NaN"), 11, "number must be finite (got nan)"),
        ("inf.json", _params_json("Infinity"), 4, "number must be finite (got inf)"),
        ("nan.json", _params_json("NaN"), 4, "number must be finite (got nan)"),
        ("overflow.json", _params_json("-1e400"), 4, "number must be finite (got -inf)"),
        ("huge.json", _params_json("9" * 400), 4, "number too large"),
    ],
)
def test_non_finite_number_in_clause_params_is_rejected(
    seeded: Registry, name: str, text: str, line: int, message: str
) -> None:
    path = seeded.write(name, text)
    assert_rejected(
        seeded,
        path,
        f"{name}:{line}: terms 'ds-licence': field 'clauses[0].params.mau': {message}",
    )


def test_finite_numbers_still_import(seeded: Registry) -> None:
    path = seeded.write("fine.yaml", _params_yaml("1.5e+300"))
    assert seeded("registry", "import", path).exit_code == 0
    assert '"mau": 1.5e+300' in seeded.export()


def test_stored_non_finite_number_is_never_exported_or_allowed(seeded: Registry) -> None:
    """A database written by an older aigov may hold infinity: export refuses it (no bare
    `Infinity`, which is not JSON) and the gate fails closed."""
    engine = sa.create_engine(seeded.db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE model SET training_compute_flop = :v WHERE id = 'deepseek-r1'"),
            {"v": float("inf")},
        )
    engine.dispose()
    for fmt in ("json", "yaml"):
        result = seeded("registry", "export", "--format", fmt)
        assert result.exit_code == 2
        assert "Infinity" not in result.stdout and ".inf" not in result.stdout
        assert "training_compute_flop" in result.stderr
    gate = seeded.gate()
    assert gate.exit_code == 2, gate.stdout
    assert gate.stdout.startswith("DENY (error")


# --------------------------------------------------------------------------- item 14


def _run(process: AigovProcess, *args: str | Path, env: dict[str, str] | None = None):
    """The real aigov process, which must finish: a blocked read is a failure, not a hang."""
    try:
        return process.run(*args, env=env, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"aigov {' '.join(map(str, args))} did not finish (blocked on its input)")


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@needs_fifo
def test_import_of_a_fifo_is_refused(aigov_process, seeded: Registry) -> None:
    fifo = seeded.root / "input" / "pipe.yaml"
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    before = seeded.export()
    result = _run(aigov_process, "registry", "import", "--db", seeded.db_url, fifo)
    assert result.returncode == 2
    assert "pipe.yaml: a FIFO (named pipe), not a regular file" in result.stderr
    assert seeded.export() == before


@needs_fifo
def test_gate_deployment_from_a_fifo_is_refused(aigov_process, seeded: Registry) -> None:
    fifo = seeded.root / "deploy.yaml"
    os.mkfifo(fifo)
    result = _run(
        aigov_process,
        "gate",
        "--deployment",
        fifo,
        "--db",
        seeded.db_url,
        "--policies",
        seeded.policies,
    )
    assert result.returncode == 2
    assert "DENY (error" in result.stdout
    assert "deploy.yaml: a FIFO (named pipe), not a regular file" in result.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_device_is_refused_whatever_its_size(aigov_process, seeded: Registry) -> None:
    """/dev/zero reports size 0, so the size cap alone never stopped it."""
    env = {"AIGOV_MAX_FILE_BYTES": "4096"}
    gate = _run(
        aigov_process,
        "gate",
        "--deployment",
        "/dev/zero",
        "--db",
        seeded.db_url,
        "--policies",
        seeded.policies,
        env=env,
    )
    assert gate.returncode == 2
    assert "/dev/zero: a character device, not a regular file" in gate.stderr
    imported = _run(aigov_process, "registry", "import", "--db", seeded.db_url, "/dev/zero")
    assert imported.returncode == 2
    assert "a character device, not a regular file" in imported.stderr


@pytest.mark.parametrize("kind", ["fifo", "device-link", "broken-link"])
def test_special_file_inside_a_directory_rejects_the_import(
    aigov_process, seeded: Registry, kind: str
) -> None:
    """A directory entry with a registry name that is not a regular file is an error, not
    silently skipped: its records would be missing from the registry without a word."""
    folder = seeded.root / "input" / "dir"
    folder.mkdir(parents=True)
    # a valid change beside it, which must not be imported either
    closed = {**GOOD["investigations"][0], "status": "closed_unsubstantiated"}
    (folder / "a-valid.yaml").write_text(json.dumps({"investigations": [closed]}))
    special = folder / "b-special.yaml"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(special)
        expected = "a FIFO (named pipe), not a regular file"
    elif kind == "device-link":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero")
        special.symlink_to("/dev/zero")
        expected = "a character device, not a regular file"
    else:
        special.symlink_to(folder / "missing.yaml")
        expected = "a broken symbolic link, not a regular file"
    before = seeded.export()
    result = _run(aigov_process, "registry", "import", "--db", seeded.db_url, folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"b-special.yaml: {expected}" in result.stderr
    assert seeded.export() == before
    assert seeded.gate().exit_code == 1


# --------------------------------------------------------------------------- item 19


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("deep.json", '{"providers": ' + "[" * 100_000 + "]" * 100_000 + "}", 1),
        ("deep-params.json", _params_json("[" * 900 + "]" * 900), 4),
        ("deep.yaml", "providers:\n  - " + "[" * 500 + "]" * 500 + "\n", 2),
        ("deep-params.yaml", _params_yaml("[" * 150 + "]" * 150), 11),
    ],
)
def test_deep_nesting_is_an_input_error_with_its_line(
    seeded: Registry, name: str, text: str, line: int
) -> None:
    path = seeded.write(name, text)
    assert_rejected(seeded, path, f"{name}:{line}: lists and mappings nested more than 100")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("digits.json", _params_json("9" * 5000), 4),
        ("digits.yaml", _params_yaml("9" * 5000), 11),
        ("digits-flop.json", _model_json("-" + "1" * 5000), 3),
    ],
)
def test_overlong_integer_is_an_input_error(
    seeded: Registry, name: str, text: str, line: int
) -> None:
    path = seeded.write(name, text)
    stderr = assert_rejected(seeded, path, f"{name}:{line}: number too long")
    assert "9" * 300 not in stderr and "1" * 300 not in stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        # a 10,000-character id
        ("id.yaml", "providers:\n  - id: " + "a" * 10_000 + "\n    name: P\n"),
        # a 10,000-character unknown field and section (JSON: YAML keys stop at 1,024)
        ("field.json", '{"providers": [{"id": "p", "name": "P", "' + "f" * 10_000 + '": 1}]}'),
        ("section.json", '{"' + "s" * 10_000 + '": [{"id": "p"}]}'),
        # a 10,000-character duplicate key
        (
            "key.json",
            '{"providers": [{"id": "p", "' + "k" * 10_000 + '": 1, "' + "k" * 10_000 + '": 2}]}',
        ),
        # a 10,000-character invalid date and enum value
        (
            "date.yaml",
            "investigations:\n  - " + INVESTIGATION_JSON.replace("2025-01-30", "d" * 10_000),
        ),
        (
            "enum.yaml",
            "investigations:\n  - "
            + INVESTIGATION_JSON.replace('"open"', '"' + "o" * 10_000 + '"'),
        ),
    ],
)
def test_huge_values_are_not_echoed_in_full(seeded: Registry, name: str, text: str) -> None:
    path = seeded.write(name, text)
    stderr = assert_rejected(seeded, path, f"{name}:", "(10,000 characters)")
    assert len(stderr) < 2_000, len(stderr)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("true", "true"), ("1.0", "1.0"), ("'2'", "'2'"), ("3", "3"), ("0", "0"), ("null", "null")],
)
def test_schema_version_is_exactly_the_integer_1_or_2(
    seeded: Registry, value: str, shown: str
) -> None:
    closed = {**GOOD["investigations"][0], "status": "closed_unsubstantiated"}
    path = seeded.write(
        "v.yaml",
        f"schema_version: {value}\n" + json.dumps({"investigations": [closed]})[1:-1] + "\n",
    )
    assert_rejected(seeded, path, f"v.yaml:1: unsupported schema_version {shown} (this aigov")


@pytest.mark.parametrize("version", [1, 2])
def test_schema_versions_1_and_2_are_accepted(seeded: Registry, version: int) -> None:
    text = f"schema_version: {version}\nproviders: [{{id: acme, name: Acme}}]\n"
    path = seeded.write("v.yaml", text)
    assert seeded("registry", "import", path).exit_code == 0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("object.json", "{}"),
        ("nulls.json", '{"providers": null, "investigations": null}'),
        ("empty-lists.json", '{"schema_version": 1, "investigations": []}'),
        ("header.yaml", "schema_version: 1\n"),
        ("null.yaml", "providers:\n"),
        ("nulls.yaml", "---\nproviders:\n---\ninvestigations: []\n"),
        ("blank.yaml", "\n# nothing\n"),
    ],
)
def test_a_file_holding_no_records_is_an_empty_file(seeded: Registry, name: str, text: str) -> None:
    folder = seeded.root / "input" / "dir"
    # beside a valid change, which is not imported either
    closed = {**GOOD["investigations"][0], "status": "closed_unsubstantiated"}
    seeded.write("dir/a-valid.json", json.dumps({"investigations": [closed]}))
    seeded.write(f"dir/{name}", text)
    assert_rejected(seeded, folder, f"{name}: empty file: it holds no records")
