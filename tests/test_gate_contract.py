"""The gate's and the audit's verdicts can be trusted: the gate decides on every finding the
deployment depends on (the same ones the audit reports for it), --deployment FILE takes
nothing else, every error is a parseable DENY, an empty registry is no pass, and a closed
output pipe is a quiet non-zero exit.

Everything drives the real CLI (in-process, or the installed script for the pipe tests)
against real SQLite files, and PostgreSQL where the item concerns the database.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.exit_codes import EXIT_BROKEN_PIPE
from aigov.registry.store import open_registry
from aigov.shipped import shipped
from aigov_testing.cli import AigovProcess, invoke_cli

AS_OF = "2025-06-01"
EXAMPLES = shipped("examples")
BLOCKING = {"fail", "review"}
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _example_deployments() -> list[dict[str, Any]]:
    """Every deployment record of the example registry, read from its files."""
    found = []
    for path in sorted(Path(EXAMPLES).rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict):
                found += document.get("deployments") or []
    return found


DEPLOYMENTS = _example_deployments()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The example registry in a real SQLite file, and its audit (JSON) as of AS_OF."""
    root = tmp_path_factory.mktemp("example")
    url = f"sqlite:///{root / 'aigov.db'}"
    imported = invoke_cli(root, "registry", "import", "--db", url, EXAMPLES)
    assert imported.exit_code == 0, imported.stderr
    audited = invoke_cli(
        root, "audit", "--db", url, "--as-of", AS_OF, "--no-record", "-q", "--format", "json"
    )
    assert audited.exit_code == 1, audited.stderr  # the example registry has findings
    return {"root": root, "url": url, "audit": json.loads(audited.stdout)}


def _audit_view(audit: dict[str, Any], deployment: dict[str, Any]) -> dict[str, list[str]]:
    """What the audit says a deployment relies on: the deployment, its model, its approval,
    and the waivers whose subject is one of those (they can waive its findings)."""
    relied = [deployment["id"], deployment["model"]]
    if deployment.get("approval"):
        relied.append(deployment["approval"])
    return {
        "deployment": [deployment["id"]],
        "model": [deployment["model"]],
        "approval": [deployment["approval"]] if deployment.get("approval") else [],
        "waiver": sorted(w["id"] for w in audit["waivers"] if w["subject"] in relied),
    }


def _concerns(finding: dict[str, Any], subjects: dict[str, list[str]]) -> bool:
    return finding["subject"] in subjects.get(finding["subject_kind"], [])


# ------------------------------------------------------------- item 2: gate and audit agree


@pytest.mark.parametrize("fail_on", ["high", "medium"])
@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["id"] for d in DEPLOYMENTS])
def test_gate_on_each_example_deployment_agrees_with_the_audit(
    example: dict[str, Any], deployment: dict[str, Any], fail_on: str, tmp_path: Path
) -> None:
    descriptor = tmp_path / "deployment.yaml"
    descriptor.write_text(yaml.safe_dump(deployment))
    result = invoke_cli(
        example["root"],
        "gate",
        "--deployment",
        descriptor,
        "--db",
        example["url"],
        "--as-of",
        AS_OF,
        "--fail-on",
        fail_on,
        "--format",
        "json",
    )
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    decision = json.loads(result.stdout)

    audit = example["audit"]
    subjects = _audit_view(audit, deployment)
    relevant = [f for f in audit["findings"] if _concerns(f, subjects)]
    blocking = sorted(
        (f["policy"], f["id"])
        for f in relevant
        if f["outcome"] in BLOCKING and SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[fail_on]
    )
    assert decision["depends_on"] == subjects
    assert decision["decision"] == ("DENY" if blocking else "ALLOW")
    assert result.exit_code == (1 if blocking else 0)
    assert sorted((f["policy"], f["id"]) for f in decision["blocking"]) == blocking
    # not only the blocking ones: every finding about what the deployment relies on
    shown = [
        f
        for key in ("blocking", "indeterminate", "waived", "below_threshold")
        for f in decision[key]
    ]
    assert sorted((f["id"], f["outcome"]) for f in shown) == sorted(
        (f["id"], f["outcome"]) for f in relevant
    )


def test_the_agreement_test_covers_approvals_and_waivers(example: dict[str, Any]) -> None:
    """The example registry exercises the rule: a deployment blocked only by its approval's
    finding, and a waiver relied on whose own finding blocks at --fail-on medium."""
    audit = example["audit"]
    by_id = {d["id"]: d for d in DEPLOYMENTS}
    r1 = _audit_view(audit, by_id["dep-r1-distill-qwen-32b-bedrock-useast1-dev"])
    kinds = {
        f["subject_kind"]
        for f in audit["findings"]
        if _concerns(f, r1) and f["outcome"] in BLOCKING and f["severity"] == "high"
    }
    assert kinds == {"approval"}
    llama = _audit_view(audit, by_id["dep-llama33-70b-azure-eastus2-prod"])
    assert llama["waiver"] == ["waiver-llama33-70b-approval-renewal"]
    assert any(f["subject_kind"] == "waiver" and _concerns(f, llama) for f in audit["findings"])


def test_gate_denies_on_the_approvals_missing_safety_evidence(example: dict[str, Any]) -> None:
    """The reported case: the flags form of the gate ALLOWed although the audit blocks the
    model on HOST-006 (its approval lacks red-team evidence)."""
    args = ["deepseek-r1-distill-qwen-32b", "--platform", "aws-bedrock", "--region"]
    args += ["us-east-1", "--environment", "dev", "--approval", "appr-r1-distill-qwen-32b"]
    args += ["--guardrail", "bedrock-guardrails", "--as-of", AS_OF, "--db", example["url"]]
    result = invoke_cli(example["root"], "gate", *args)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout.startswith("DENY deepseek-r1-distill-qwen-32b -> aws-bedrock/us-east-1")
    assert "HOST-006 (blocking, fail)" in result.stdout
    as_json = json.loads(invoke_cli(example["root"], "gate", *args, "--format", "json").stdout)
    [finding] = as_json["blocking"]
    assert (finding["subject_kind"], finding["subject"]) == ("approval", "appr-r1-distill-qwen-32b")
    assert as_json["depends_on"]["approval"] == ["appr-r1-distill-qwen-32b"]
    # without the approval the deployment relies on none, and HOST-006 is not its finding
    alone = invoke_cli(example["root"], "gate", *args[:6], "--as-of", AS_OF, "--db", example["url"])
    assert "HOST-006" not in alone.stdout


# -------------------------------------------------- test policies for the remaining items

POLICIES = {
    "investigation.yaml": """
    policies:
      - id: INV-T1
        title: Externally exposed deployment of a model whose provider is under investigation
        description: test
        family: investigation
        severity: high
        remediation: Acknowledge the investigation or keep the deployment internal.
        message: "{{ dep.id }} of {{ model.id }} while {{ inv.authority }} investigates"
        subject:
          as: dep
          kind: deployment
          where: {status: {in: [active, planned]}, exposure: {in: [customer_facing, public_catalog]}}
        when:
          exists:
            as: inv
            kind: investigation
            where: {subject: {ref: model.provider}, status: {in: [open, reported]}}
    """,
}


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for name, text in POLICIES.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def seeded(cli, db_url: str, tmp_path: Path, policies: Path, sample_registry: dict[str, Any]):
    """The sample registry (deepseek-r1, whose provider a regulator investigates) in the
    database; returns a function running aigov against it with the test policies."""
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(sample_registry))
    imported = cli("registry", "import", "--db", db_url, path)
    assert imported.exit_code == 0, imported.stderr

    def run(*args: str | Path):
        common: list[str | Path] = ["--db", db_url]
        if args[0] in ("audit", "gate"):
            common += ["--policies", policies, "--as-of", AS_OF]
        return cli(*args, *common)

    run.db_url = db_url  # type: ignore[attr-defined]
    return run


def _export(run) -> str:
    result = run("registry", "export", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return result.stdout


# ------------------------------------------------ item 3: --deployment FILE takes no flags

INTERNAL = {
    "id": "dep-r1-internal",
    "model": "deepseek-r1",
    "platform": "azure-ai-foundry",
    "region": "eastus",
    "environment": "prod",
    "exposure": "internal",
    "status": "planned",
}


def test_the_internal_descriptor_allows_and_public_flags_deny(seeded, tmp_path: Path) -> None:
    """The premise of the flag tests: the file alone ALLOWs, the same deployment with
    --exposure public_catalog DENYs."""
    descriptor = tmp_path / "deploy.yaml"
    descriptor.write_text(yaml.safe_dump(INTERNAL))
    assert seeded("gate", "--deployment", descriptor).exit_code == 0
    flags = ["deepseek-r1", "--platform", "azure-ai-foundry", "--region", "eastus"]
    assert seeded("gate", *flags, "--exposure", "public_catalog").exit_code == 1


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--exposure", "public_catalog"], "--exposure"),
        (["--approval", "appr-r1"], "--approval"),
        (["--guardrail", "azure-content-safety"], "--guardrail"),
        (["--environment", "dev"], "--environment"),
        (["--environment", "prod"], "--environment"),  # even the default, given explicitly
        (["--exposure", "internal"], "--exposure"),
        (["--platform", "aws-bedrock"], "--platform"),
        (["--region", "us-east-1"], "--region"),
        (["deepseek-r1"], "MODEL"),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_gate_flags_beside_a_descriptor_are_a_usage_error(
    seeded, tmp_path: Path, extra: list[str], named: str, fmt: str
) -> None:
    descriptor = tmp_path / "deploy.yaml"
    descriptor.write_text(yaml.safe_dump(INTERNAL))
    result = seeded("gate", "--deployment", descriptor, *extra, "--format", fmt)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"{named} cannot be given with --deployment FILE" in result.stderr
    if fmt == "json":
        verdict = json.loads(result.stdout)
        assert verdict["decision"] == "DENY" and verdict["exit_code"] == 2
        assert f"{named} cannot be given with --deployment FILE" in verdict["error"]
    else:
        assert result.stdout.startswith(f"DENY (error: {named} cannot be given")


def test_gate_names_every_clashing_flag(seeded, tmp_path: Path) -> None:
    descriptor = tmp_path / "deploy.yaml"
    descriptor.write_text(yaml.safe_dump(INTERNAL))
    extra = ["--exposure", "public_catalog", "--guardrail", "g", "--approval", "a"]
    result = seeded("gate", "--deployment", descriptor, *extra)
    assert result.exit_code == 2
    assert "--exposure, --guardrail, --approval cannot be given" in result.stderr


@pytest.mark.parametrize(
    ("text", "located"),
    [
        (  # another section beside deployments: not partly read
            """\
            schema_version: 1
            models:
              - {id: other, name: Other, provider: deepseek}
            deployments:
              - id: dep-r1-internal
                model: deepseek-r1
                platform: azure-ai-foundry
                region: eastus
                environment: prod
            """,
            "deploy.yaml:2: unexpected section 'models': a deployment descriptor holds one "
            "deployment and nothing else",
        ),
        (  # a key that is no registry section at all
            """\
            deployments:
              - id: dep-r1-internal
                model: deepseek-r1
                platform: azure-ai-foundry
                region: eastus
                environment: prod
            exposure: public_catalog
            """,
            "deploy.yaml:7: unexpected section 'exposure'",
        ),
        (
            """\
            deployments:
              - {id: a, model: deepseek-r1, platform: p, region: r, environment: dev}
              - {id: b, model: deepseek-r1, platform: p, region: r, environment: dev}
            """,
            "deploy.yaml:1: field 'deployments': a deployment descriptor holds exactly one "
            "deployment (found 2 records)",
        ),
        (
            """\
            schema_version: 7
            deployments:
              - {id: a, model: deepseek-r1, platform: p, region: r, environment: dev}
            """,
            "deploy.yaml:1: unsupported schema_version 7",
        ),
        (
            """\
            approvals:
              - {id: a, model: deepseek-r1, approver: x, granted_at: 2025-01-01}
            """,
            "deploy.yaml:1: unexpected section 'approvals'",
        ),
        (
            """\
            id: a
            model: deepseek-r1
            platform: p
            region: r
            environment: dev
            exposure_level: public
            """,
            "deploy.yaml:6: deployment 'a': field 'exposure_level'",
        ),
    ],
    ids=["models-beside", "stray-key", "two-deployments", "schema-version", "approvals", "field"],
)
def test_gate_rejects_a_descriptor_that_is_more_than_one_deployment(
    seeded, tmp_path: Path, text: str, located: str
) -> None:
    descriptor = tmp_path / "deploy.yaml"
    descriptor.write_text(textwrap.dedent(text))
    before = _export(seeded)
    result = seeded("gate", "--deployment", descriptor)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout.startswith("DENY (error: invalid deployment descriptor")
    assert located in result.stderr
    assert _export(seeded) == before


# -------------------------------------------------- item 20: every error is parseable JSON


def _json_deny(result) -> dict[str, Any]:
    assert result.exit_code == 2, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["decision"] == "DENY"
    assert verdict["exit_code"] == 2
    assert verdict["reason"].startswith("error: ")
    assert verdict["error"]
    return verdict


def test_gate_json_error_on_an_unknown_model(seeded) -> None:
    result = seeded("gate", "no-such-model", "--platform", "p", "--region", "r", "--format", "json")
    verdict = _json_deny(result)
    assert verdict["error"] == "unknown model: 'no-such-model'"
    assert "unknown model: 'no-such-model'" in result.stderr


def test_gate_json_error_on_invalid_policies(seeded, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "p.yaml").write_text("policies:\n  - id: X\n    title: [unclosed\n")
    result = seeded(
        "gate", "deepseek-r1", "--platform", "p", "--region", "r", "--format", "json",
        "--policies", broken,
    )  # fmt: skip
    verdict = _json_deny(result)
    assert verdict["reason"].startswith("error: invalid policies")
    [problem] = verdict["problems"]
    assert problem["file"].endswith("broken/p.yaml") and problem["line"] == 4
    assert "invalid YAML" in problem["message"]


def test_gate_json_error_on_an_invalid_descriptor(seeded, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: dep-r1-internal\nmodel: deepseek-r1\nplatform: p\nregion: r\nenvironment: production\n"
    )
    verdict = _json_deny(seeded("gate", "--deployment", bad, "--format", "json"))
    [problem] = verdict["problems"]
    assert (problem["line"], problem["field"]) == (5, "environment")
    assert problem["record"] == "deployment 'dep-r1-internal'"


def test_gate_json_error_on_a_usage_error(seeded) -> None:
    verdict = _json_deny(seeded("gate", "--format", "json"))
    assert "MODEL and --platform are required" in verdict["error"]
    parse = seeded("gate", "m", "--platform", "p", "--region", "r", "--environment=qa",
                   "--format=json")  # fmt: skip
    assert "Invalid value for '--environment'" in _json_deny(parse)["error"]


def test_gate_text_usage_error_is_a_deny_line(seeded) -> None:
    result = seeded("gate", "--platform", "p")
    assert result.exit_code == 2
    assert result.stdout == (
        "DENY (error: MODEL and --platform are required (or --deployment FILE))\n"
    )


def test_gate_json_error_on_a_missing_database(cli, tmp_path: Path, policies: Path) -> None:
    missing = tmp_path / "nope" / "aigov.db"
    result = cli(
        "gate", "m", "--platform", "p", "--region", "r", "--db", f"sqlite:///{missing}",
        "--policies", policies, "--format", "json",
    )  # fmt: skip
    assert _json_deny(result)["error"].startswith("registry database")
    assert not missing.exists() and not missing.parent.exists()


def test_gate_json_error_on_an_unreadable_database(cli, tmp_path: Path, policies: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database\n" * 100)
    result = cli(
        "gate", "m", "--platform", "p", "--region", "r", "--db", f"sqlite:///{garbage}",
        "--policies", policies, "--format", "json",
    )  # fmt: skip
    _json_deny(result)
    assert garbage.read_bytes() == b"this is not a database\n" * 100
    unreachable = cli(
        "gate", "m", "--platform", "p", "--region", "r",
        "--db", "postgresql+psycopg://postgres@127.0.0.1:1/aigov", "--policies", policies,
        "--format", "json",
    )  # fmt: skip
    _json_deny(unreachable)


# ---------------------------------------------------- item 7 (audit): no models, no pass


def test_audit_of_a_registry_without_models_is_an_error(cli, db_url: str, policies: Path) -> None:
    with open_registry(db_url, create=True):
        pass  # the schema, and no records
    audit = ["audit", "--db", db_url, "--policies", policies, "--as-of", AS_OF]
    result = cli(*audit)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "holds no models: nothing to audit" in result.stderr
    assert "--allow-empty" in result.stderr
    assert result.stdout == ""
    runs = cli("runs", "list", "--db", db_url, "--format", "json")
    assert runs.exit_code == 0 and json.loads(runs.stdout) == [], runs.stdout  # none recorded
    for fmt in ("json", "sarif"):
        assert cli(*audit, "--format", fmt).exit_code == 2
    allowed = cli(*audit, "--allow-empty", "--no-record")
    assert allowed.exit_code == 0, allowed.stderr


def test_audit_of_a_registry_with_records_but_no_models_is_an_error(
    cli, db_url: str, policies: Path, tmp_path: Path
) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text(yaml.safe_dump({"providers": [{"id": "acme", "name": "Acme"}]}))
    assert cli("registry", "import", "--db", db_url, providers).exit_code == 0
    result = cli("audit", "--db", db_url, "--policies", policies, "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "holds no models" in result.stderr


# -------------------------------------------------------- item 17: a closed output pipe

AUDIT_OUTPUTS = {
    "audit-json": ["audit", "--as-of", AS_OF, "--no-record", "-q", "--format", "json"],
    "audit-sarif": ["audit", "--as-of", AS_OF, "--no-record", "-q", "--format", "sarif"],
    "audit-html": ["audit", "--as-of", AS_OF, "--no-record", "-q", "--format", "html"],
}


@pytest.mark.parametrize("command", AUDIT_OUTPUTS.values(), ids=AUDIT_OUTPUTS.keys())
def test_a_pipe_closed_after_one_line_is_a_quiet_non_zero_exit(
    aigov_process: AigovProcess, example: dict[str, Any], command: list[str]
) -> None:
    """`aigov audit | head -1`: no traceback, no 'internal error', exit 141 (what a shell
    reports for a process killed by SIGPIPE); never 0, never the 2 of a real error."""
    process = aigov_process.start(*command, "--db", example["url"])
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    code = process.wait(timeout=300)
    assert first.strip(), stderr
    assert code == EXIT_BROKEN_PIPE, stderr
    assert stderr == ""


def test_the_pipe_tests_write_more_than_a_pipe_holds(example: dict[str, Any]) -> None:
    """A pipe buffers 64 KiB: output that fits would all be written before the reader closes
    it, and the test above would test nothing."""
    for command in AUDIT_OUTPUTS.values():
        result = invoke_cli(example["root"], *command, "--db", example["url"])
        assert len(result.stdout.encode()) > 2 * 65536, command


@pytest.mark.parametrize(
    ("deployment", "verdict"),
    [("dep-acme-support-7b-azure-eastus2-prod", 0), ("dep-r1-azure-eastus-prod", 1)],
)
def test_a_gate_verdict_nobody_reads_is_never_a_pass(
    aigov_process: AigovProcess,
    example: dict[str, Any],
    tmp_path: Path,
    deployment: str,
    verdict: int,
) -> None:
    """An ALLOW written to a closed pipe is not an ALLOW: exit 141, like every unseen
    output, quietly."""
    descriptor = tmp_path / "deployment.yaml"
    descriptor.write_text(yaml.safe_dump(next(d for d in DEPLOYMENTS if d["id"] == deployment)))
    gate = ["gate", "--deployment", descriptor, "--db", example["url"], "--as-of", AS_OF]
    assert aigov_process.run(*gate).returncode == verdict  # read: the real verdict
    for fmt in ("text", "json"):
        process = aigov_process.start(*gate, "--format", fmt)
        process.stdout.close()  # the reader is gone before the verdict is written
        stderr = process.stderr.read()
        assert process.wait(timeout=300) == EXIT_BROKEN_PIPE, stderr
        assert stderr == ""


@pytest.mark.parametrize("args", [["--help"], ["audit", "--help"], ["--version"]])
def test_help_into_a_closed_pipe_exits_the_same_way(
    aigov_process: AigovProcess, args: list[str]
) -> None:
    process = aigov_process.start(*args)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == EXIT_BROKEN_PIPE, stderr
    assert stderr == ""
