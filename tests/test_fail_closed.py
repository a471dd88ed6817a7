"""The gate's fail-closed contract, in one place: no error ends in ALLOW or exit 0.

Every case starts from a deployment the gate ALLOWs (the control: acme-support-7b on Azure, an
approved model with clean provenance, on the example registry as of 2025-06-01) and breaks
exactly one thing: the policy set, the database, the descriptor, the engine, the output pipe.
The gate runs as a real process with a timeout, so a hang fails the test instead of stalling
it. Each error class must exit 2 and say ``DENY (error: …)``; JSON output must say DENY too.
The item-by-item tests live beside the code they cover (test_policy_safety, test_input_hardening,
test_registry_integrity, test_engine_integrity, test_gate_contract, test_workers); this module
states the contract across all of them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aigov.shipped import shipped
from aigov_testing.cli import AigovProcess
from aigov_testing.databases import corrupt_index

AS_OF = "2025-06-01"
CONTROL = (
    shipped("examples").parent / "ci" / "deployments" / "acme-support-7b-azure-eastus2-prod.yaml"
)
if not CONTROL.is_file():  # an installed wheel ships the example registry, not the CI examples
    CONTROL = Path(__file__).resolve().parent.parent / "examples/ci/deployments" / CONTROL.name
CONTROL_FIELDS = {
    "id": "dep-acme-support-7b-azure-eastus2-prod",
    "model": "acme-support-7b",
    "platform": "azure-ai-foundry",
    "region": "eastus2",
    "environment": "prod",
    "exposure": "customer_facing",
    "status": "planned",
    "guardrails": ["azure-content-safety"],
    "approval": "appr-acme-support-7b",
}
POLICY = """\
policies:
  - id: T-1
    title: test policy
    description: test
    family: governance
    severity: high
    remediation: fix it
    message: {message}
    subject: {{kind: model}}
    when: {when}
"""


class Setup:
    """One broken thing: the extra gate arguments, environment and files of a case."""

    def __init__(self, tmp: Path, db: Path):
        self.tmp = tmp
        self.db = db
        self.args: list[str] = ["--deployment", str(CONTROL)]
        self.global_args: list[str] = ["--db", f"sqlite:///{db}"]
        self.env: dict[str, str] = {}

    def policies(self, files: dict[str, str]) -> None:
        folder = self.tmp / "policies"
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        self.args += ["--policies", str(folder)]

    def descriptor(self, name: str, text: str | None = None) -> Path:
        path = self.tmp / name
        if text is not None:
            path.write_text(text)
        self.args = ["--deployment", str(path)]
        return path

    def sql(self, statement: str) -> None:
        with sqlite3.connect(self.db) as conn:
            conn.execute(statement)


def no_policy_files(s: Setup) -> None:
    s.policies({})


def only_policy_tests(s: Setup) -> None:
    s.policies({"p.test.yaml": "cases: []\n"})


def broken_policy_yaml(s: Setup) -> None:
    s.policies({"p.yaml": "policies:\n  - id: T-1\n    title: [unclosed\n"})


def regex_re2_cannot_run(s: Setup) -> None:
    s.policies(
        {"p.yaml": POLICY.format(message="m", when='{test: {model.name: {regex: "(?<=x)a"}}}')}
    )


def template_over_budget(s: Setup) -> None:
    s.policies(
        {
            "p.yaml": POLICY.format(
                message="\"{{ 'x' * 1000000000 }}\"", when="{exists: {as: o, kind: model}}"
            )
        }
    )


def template_typo(s: Setup) -> None:
    s.policies(
        {
            "p.yaml": POLICY.format(
                message='"{{ model.nmae }}"', when="{exists: {as: o, kind: model}}"
            )
        }
    )


def missing_database(s: Setup) -> None:
    s.global_args = ["--db", f"sqlite:///{s.tmp / 'nosuch.db'}"]


def not_a_database(s: Setup) -> None:
    garbage = s.tmp / "garbage.db"
    garbage.write_bytes(b"not a database\n" * 100)
    s.global_args = ["--db", f"sqlite:///{garbage}"]


def stored_value_outside_its_enum(s: Setup) -> None:
    s.sql("UPDATE approval SET status = 'Approved' WHERE id = 'appr-acme-support-7b'")


def damaged_sqlite_index(s: Setup) -> None:
    corrupt_index(s.db, "ix_approval_model")  # the model's approval vanishes from lookups


def unknown_model(s: Setup) -> None:
    s.descriptor("d.json", json.dumps({**CONTROL_FIELDS, "model": "no-such-model"}))


def approval_of_another_model(s: Setup) -> None:
    s.descriptor("d.json", json.dumps({**CONTROL_FIELDS, "approval": "appr-r1-azure"}))


def descriptor_with_other_sections(s: Setup) -> None:
    s.descriptor("d.json", json.dumps({"models": [], "deployments": [CONTROL_FIELDS]}))


def descriptor_with_a_duplicate_key(s: Setup) -> None:
    text = json.dumps(CONTROL_FIELDS)[:-1] + ', "exposure": "internal"}'
    s.descriptor("d.json", text)


def descriptor_nested_too_deeply(s: Setup) -> None:
    s.descriptor("d.json", '{"id": ' + "[" * 100_000 + "]" * 100_000 + "}")


def descriptor_with_a_huge_id(s: Setup) -> None:
    s.descriptor("d.json", json.dumps({**CONTROL_FIELDS, "id": "d" * 100_000}))


def descriptor_is_a_fifo(s: Setup) -> None:
    os.mkfifo(s.descriptor("pipe.yaml"))


def descriptor_is_a_device(s: Setup) -> None:
    s.args = ["--deployment", "/dev/zero"]
    s.env["AIGOV_MAX_FILE_BYTES"] = "4096"


def flags_beside_the_descriptor(s: Setup) -> None:
    s.args += ["--exposure", "internal"]


def engine_fault(s: Setup) -> None:
    s.env["AIGOV_INJECT_FAULT"] = "acme-support-7b"


ERRORS: list[Callable[[Setup], None]] = [
    no_policy_files,
    only_policy_tests,
    broken_policy_yaml,
    regex_re2_cannot_run,
    template_over_budget,
    template_typo,
    missing_database,
    not_a_database,
    stored_value_outside_its_enum,
    damaged_sqlite_index,
    unknown_model,
    approval_of_another_model,
    descriptor_with_other_sections,
    descriptor_with_a_duplicate_key,
    descriptor_nested_too_deeply,
    descriptor_with_a_huge_id,
    descriptor_is_a_fifo,
    descriptor_is_a_device,
    flags_beside_the_descriptor,
    engine_fault,
]


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("example")
    db = folder / "example.db"
    imported = AigovProcess(folder).run(
        "--db", f"sqlite:///{db}", "registry", "import", shipped("examples")
    )
    assert imported.returncode == 0, imported.stderr
    return db


@pytest.fixture
def setup(example_db: Path, tmp_path: Path) -> Setup:
    db = tmp_path / "registry.db"
    db.write_bytes(example_db.read_bytes())  # each case may break its own copy
    return Setup(tmp_path, db)


def gate(aigov_process: AigovProcess, s: Setup, *extra: str) -> subprocess.CompletedProcess[str]:
    return aigov_process.run(
        *s.global_args, "gate", *s.args, "--as-of", AS_OF, *extra, env=s.env, timeout=120
    )


def test_the_control_deployment_is_allowed(aigov_process: AigovProcess, setup: Setup) -> None:
    """Without this, every case below could pass for the wrong reason."""
    allowed = gate(aigov_process, setup)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert allowed.stdout.startswith("ALLOW")


@pytest.mark.parametrize("break_one_thing", ERRORS, ids=lambda f: f.__name__)
def test_an_error_is_never_allow(
    aigov_process: AigovProcess, setup: Setup, break_one_thing: Callable[[Setup], None]
) -> None:
    break_one_thing(setup)
    text = gate(aigov_process, setup)
    assert text.returncode == 2, text.stdout + text.stderr
    assert text.stdout.startswith("DENY (error:"), text.stdout
    assert "ALLOW" not in text.stdout
    assert "Traceback" not in text.stderr and "internal error" not in text.stderr, text.stderr
    assert len(text.stderr) < 5_000  # a huge input is not echoed back

    machine = gate(aigov_process, setup, "--format", "json")
    assert machine.returncode == 2, machine.stdout + machine.stderr
    verdict = json.loads(machine.stdout)
    assert verdict["decision"] == "DENY" and verdict["exit_code"] == 2 and verdict["error"]


def test_a_verdict_nobody_reads_is_never_a_pass(aigov_process: AigovProcess, setup: Setup) -> None:
    process = subprocess.Popen(
        [aigov_process.script, *setup.global_args, "gate", *setup.args, "--as-of", AS_OF],
        cwd=aigov_process.cwd,
        env=aigov_process.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes away before the ALLOW is written
    assert process.wait(timeout=120) == 141
    process.stderr.close()
