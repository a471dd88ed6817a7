"""`aigov audit`, `aigov gate`, `aigov explain` and run history, through the real CLI.

Runs on every backend of the ``db_url`` fixture (SQLite file and PostgreSQL).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from aigov.shipped import shipped

AS_OF = "2025-06-01"

POLICIES = {
    "investigation.yaml": """
    policies:
      - id: INV-T1
        title: Active deployment of a model whose provider is under investigation
        description: test
        family: investigation
        severity: high
        remediation: Acknowledge the investigation in the approval or withdraw the deployment.
        message: "{{ dep.id }} of {{ model.id }} while {{ inv.authority }} investigates ({{ inv.id }})"
        subject: {as: dep, kind: deployment, where: {status: {in: [active, planned]}}}
        when:
          exists:
            as: inv
            kind: investigation
            where: {subject: {ref: model.provider}, status: {in: [open, reported]}}
    """,
    "lineage.yaml": """
    policies:
      - id: LIN-T1
        title: Lineage includes outputs of a restricted teacher
        description: test
        family: tos
        severity: medium
        remediation: Review the teacher's terms.
        message: "{{ model.id }} uses outputs of {{ teacher.id }}"
        subject: {kind: model}
        when:
          all:
            - lineage: {as: teacher, kind: model,
                        via: [distillation, finetune, quantized, merge, generated_by, trained_on]}
            - exists: {as: clause, kind: clause,
                       where: {type: prohibits_competing_use_of_outputs,
                               provider: {ref: teacher.provider}}}
    """,
    "owner.yaml": """
    policies:
      - id: GOV-T1
        title: Model owner recorded
        description: test
        family: governance
        severity: low
        remediation: Record an owner.
        message: "{{ model.id }} has an owner"
        subject: {kind: model}
        requires: [model.owner]
    """,
}

REGISTRY = {
    "providers": [
        {"id": "openai", "name": "OpenAI"},
        {"id": "deepseek", "name": "DeepSeek"},
        {"id": "acme", "name": "Acme"},
    ],
    "terms": [
        {
            "id": "openai-tou",
            "provider": "openai",
            "kind": "tos",
            "title": "OpenAI ToU",
            "clauses": [{"section": "2(c)(iii)", "type": "prohibits_competing_use_of_outputs"}],
        }
    ],
    "models": [
        {"id": "gpt-4o", "name": "GPT-4o", "provider": "openai", "owner": "o"},
        {"id": "deepseek-v3", "name": "DeepSeek-V3", "provider": "deepseek", "owner": "o"},
        {"id": "deepseek-r1", "name": "DeepSeek-R1", "provider": "deepseek", "owner": "o"},
        {"id": "acme-7b", "name": "Acme 7B", "provider": "acme", "owner": "o"},
        {"id": "orphan", "name": "Orphan", "provider": "acme"},
    ],
    "lineage": [
        {
            "id": "e-v3-gpt",
            "child": "deepseek-v3",
            "parent": "gpt-4o",
            "relation": "distillation",
            "confidence": "alleged",
        },
        {"id": "e-r1-v3", "child": "deepseek-r1", "parent": "deepseek-v3", "relation": "finetune"},
    ],
    "investigations": [
        {
            "id": "inv-garante",
            "subject": "deepseek",
            "authority": "Garante",
            "authority_type": "regulator",
            "allegation": "privacy",
            "status": "open",
            "opened_at": "2025-01-30",
        },
    ],
}


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for name, text in POLICIES.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def seeded(cli, db_url: str, tmp_path: Path, policies: Path):
    """A registry with the REGISTRY records; returns a function running aigov against it."""
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    assert cli("registry", "import", "--db", db_url, path).exit_code == 0

    def run(*args: str | Path, env: dict[str, str] | None = None):
        common = ["--db", db_url]
        if args[0] in ("audit", "gate", "explain"):
            common += ["--policies", str(policies), "--as-of", AS_OF]
        return cli(*args, *common, env=env)

    run.db_url = db_url  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    return run


def _export(run) -> str:
    result = run("registry", "export", "--format", "json")
    assert result.exit_code == 0
    return result.stdout


# ----------------------------------------------------------------------------- gate


def test_gate_denies_a_model_under_investigation(seeded) -> None:
    before = _export(seeded)
    result = seeded(
        "gate",
        "deepseek-r1",
        "--platform",
        "azure-ai-foundry",
        "--region",
        "eastus",
        "--environment",
        "prod",
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout.startswith("DENY deepseek-r1 -> azure-ai-foundry/eastus/prod")
    assert "INV-T1" in result.stdout and "inv-garante" in result.stdout
    assert "Garante" in result.stdout
    assert "remediation: Acknowledge the investigation" in result.stdout
    assert _export(seeded) == before  # the hypothetical deployment was not stored


def test_gate_json_names_the_blocking_finding(seeded) -> None:
    result = seeded(
        "gate",
        "deepseek-r1",
        "--platform",
        "azure-ai-foundry",
        "--region",
        "eastus",
        "--format",
        "json",
    )
    assert result.exit_code == 1
    decision = json.loads(result.stdout)
    assert decision["decision"] == "DENY"
    [finding] = decision["blocking"]
    assert finding["policy"] == "INV-T1"
    assert finding["hypothetical"] is True
    records = {r["id"] for m in finding["evidence"] for r in m["records"]}
    assert "inv-garante" in records


def test_gate_allows_with_a_waiver_and_shows_it(seeded, tmp_path: Path) -> None:
    waiver = tmp_path / "waiver.yaml"
    waiver.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "id": "w-r1",
                        "policy": "INV-T1",
                        "subject": "deepseek-r1",
                        "reason": "security review cleared hosting pending the investigation",
                        "approved_by": "CISO",
                        "granted_at": "2025-02-01",
                        "expires_at": "2025-12-31",
                    }
                ]
            }
        )
    )
    assert seeded("registry", "import", waiver).exit_code == 0
    result = seeded("gate", "deepseek-r1", "--platform", "azure-ai-foundry", "--region", "eastus")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("ALLOW")
    assert "waiver: w-r1 approved by CISO" in result.stdout


def test_gate_fail_on_critical_lets_a_high_finding_pass(seeded) -> None:
    result = seeded(
        "gate", "deepseek-r1", "--platform", "p", "--region", "r", "--fail-on", "critical"
    )
    assert result.exit_code == 0
    assert "INV-T1 (below threshold" in result.stdout


def test_gate_indeterminate_exit_3(seeded) -> None:
    plain = seeded("gate", "orphan", "--platform", "p", "--region", "r", "--fail-on", "low")
    assert plain.exit_code == 0
    strict = seeded(
        "gate",
        "orphan",
        "--platform",
        "p",
        "--region",
        "r",
        "--fail-on",
        "low",
        "--fail-on-indeterminate",
    )
    assert strict.exit_code == 3
    assert "GOV-T1" in strict.stdout and "model.owner" in strict.stdout


def test_gate_reads_a_deployment_descriptor(seeded, tmp_path: Path) -> None:
    descriptor = tmp_path / "deploy.yaml"
    descriptor.write_text(
        yaml.safe_dump(
            {
                "id": "dep-acme-prod",
                "model": "acme-7b",
                "platform": "aws-bedrock",
                "region": "us-east-1",
                "environment": "prod",
                "status": "planned",
            }
        )
    )
    result = seeded("gate", "--deployment", descriptor)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ALLOW acme-7b -> aws-bedrock/us-east-1/prod")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "id": "x",
                "model": "acme-7b",
                "platform": "p",
                "region": "r",
                "environment": "production",
            }
        )
    )
    result = seeded("gate", "--deployment", bad)
    assert result.exit_code == 2
    assert result.stdout.startswith("DENY (error:")
    assert "bad.yaml:1: deployment 'x': field 'environment'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate", "no-such-model", "--platform", "p", "--region", "r"], "unknown model"),
    ],
)
def test_gate_fails_closed_on_unknown_model(seeded, args: list[str], message: str) -> None:
    result = seeded(*args)
    assert result.exit_code == 2
    assert result.stdout.startswith("DENY (error:") and message in result.stdout


def test_gate_fails_closed_on_an_approval_that_is_not_one(seeded, tmp_path: Path) -> None:
    approval = tmp_path / "approval.yaml"
    approval.write_text(
        yaml.safe_dump(
            {
                "approvals": [
                    {
                        "id": "appr-r1",
                        "model": "deepseek-r1",
                        "status": "approved",
                        "approver": "CISO",
                        "granted_at": "2025-02-01",
                        "expires_at": "2025-12-31",
                        "scope": {"platforms": ["p"], "regions": ["r"], "environments": ["prod"]},
                    }
                ]
            }
        )
    )
    assert seeded("registry", "import", approval).exit_code == 0
    gate = ["gate", "deepseek-r1", "--platform", "p", "--region", "r", "--approval"]
    known = seeded(*gate, "appr-r1")
    assert known.exit_code == 1, known.stdout + known.stderr  # INV-T1 still blocks
    assert known.stdout.startswith("DENY deepseek-r1")
    unknown = seeded(*gate, "no-such-approval")
    expected = (
        "DENY (error: deployment names approval '{}', which is not an approval of model "
        "'deepseek-r1')"
    )
    assert unknown.exit_code == 2
    assert unknown.stdout.startswith(expected.format("no-such-approval"))
    # Records in the model's partition that are not approvals: its provider, an ancestor,
    # a lineage edge, an investigation. Each is rejected exactly as an unknown id is.
    for record in ("deepseek", "deepseek-v3", "e-r1-v3", "inv-garante"):
        result = seeded(*gate, record)
        assert result.exit_code == 2, (record, result.stdout)
        assert result.stdout.startswith(expected.format(record)), result.stdout
        assert result.stderr == unknown.stderr.replace("no-such-approval", record)


def test_gate_fails_closed_on_missing_database(cli, tmp_path: Path, policies: Path) -> None:
    missing = tmp_path / "nope" / "aigov.db"
    result = cli(
        "gate",
        "m",
        "--platform",
        "p",
        "--region",
        "r",
        "--db",
        f"sqlite:///{missing}",
        "--policies",
        policies,
    )
    assert result.exit_code == 2
    assert result.stdout.startswith("DENY (error: registry database")
    assert not missing.exists() and not missing.parent.exists()


def test_gate_fails_closed_on_broken_policies_and_engine_faults(
    cli, seeded, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "p.yaml").write_text("policies:\n  - id: X\n    title: [unclosed\n")
    result = cli(
        "gate",
        "acme-7b",
        "--platform",
        "p",
        "--region",
        "r",
        "--db",
        seeded.db_url,
        "--policies",
        broken,
        "--as-of",
        AS_OF,
    )
    assert result.exit_code == 2
    assert result.stdout.startswith("DENY (error: invalid policies")
    assert "broken/p.yaml:4: invalid YAML" in result.stderr
    faulty = seeded(
        "gate", "acme-7b", "--platform", "p", "--region", "r", env={"AIGOV_INJECT_FAULT": "acme-7b"}
    )
    assert faulty.exit_code == 2
    assert faulty.stdout.startswith("DENY (error: injected fault")


# ----------------------------------------------------------------------------- audit


def test_audit_summary_exit_codes_and_json(seeded) -> None:
    result = seeded("audit", "--no-record")
    assert result.exit_code == 0  # LIN-T1 is medium, GOV-T1 low: nothing at/above high
    assert "Blocked models: 0 of 5" in result.stdout
    assert "LIN-T1" in result.stdout and "deepseek-r1" in result.stdout
    strict = seeded("audit", "--no-record", "--fail-on", "medium")
    assert strict.exit_code == 1
    indeterminate = seeded(
        "audit", "--no-record", "--fail-on", "low", "--model", "orphan", "--fail-on-indeterminate"
    )
    assert indeterminate.exit_code == 3
    first = seeded("audit", "--no-record", "--format", "json")
    second = seeded("audit", "--no-record", "--format", "json")
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert data["schema_version"] == 1 and data["as_of"] == AS_OF
    outcomes = {(f["policy"], f["subject"]): f["outcome"] for f in data["findings"]}
    # every path to the teacher crosses an alleged edge: a review, naming the weak facts
    assert outcomes[("LIN-T1", "deepseek-r1")] == "review"
    (lin,) = [
        f for f in data["findings"] if (f["policy"], f["subject"]) == ("LIN-T1", "deepseek-r1")
    ]
    assert any("(alleged)" in fact for fact in lin["weak_facts"]), lin["weak_facts"]
    assert outcomes[("GOV-T1", "orphan")] == "indeterminate"


def test_audit_unknown_model_is_an_error(seeded) -> None:
    result = seeded("audit", "--no-record", "--model", "nope")
    assert result.exit_code == 2
    assert "unknown model: 'nope'" in result.stderr
    assert "did you mean" not in result.stderr  # nothing close


def test_an_unknown_model_id_gets_the_nearest_ones(seeded) -> None:
    result = seeded("audit", "--no-record", "--model", "deepseek-r2", "--model", "orphan")
    assert result.exit_code == 2
    assert "unknown model: 'deepseek-r2' (did you mean deepseek-r1, deepseek-v3?)" in result.stderr
    gated = seeded("gate", "deepsek-r1", "--platform", "p", "--region", "r")
    assert gated.exit_code == 2
    assert "(did you mean deepseek-r1" in gated.stderr


def test_audit_injected_fault_exits_2(seeded) -> None:
    result = seeded("audit", "--no-record", env={"AIGOV_INJECT_FAULT": "deepseek-v3"})
    assert result.exit_code == 2
    assert "deepseek-v3" in result.stderr


def test_explain_lists_every_hop_of_the_lineage_path(seeded) -> None:
    result = seeded("explain", "deepseek-r1", "--policy", "LIN-T1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "LIN-T1 [medium] REVIEW - model deepseek-r1" in out
    assert "lineage path" in out and "2 hop(s)" in out
    assert "1. deepseek-r1 (model) --finetune--> deepseek-v3 (model)" in out
    assert "2. deepseek-v3 (model) --distillation--> gpt-4o (model) [alleged]" in out
    assert "remediation: Review the teacher's terms." in out


def test_explain_absence_says_what_would_pass(cli, db_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "p"
    policy.mkdir()
    (policy / "host.yaml").write_text(
        textwrap.dedent("""
    id: HOST-T1
    title: no covering approval
    description: test
    family: hosting
    severity: critical
    remediation: Get an approval.
    message: "{{ dep.id }} is not covered"
    subject: {as: dep, kind: deployment, where: {environment: prod}}
    when:
      absent:
        as: appr
        kind: approval
        where:
          expires_at: {ge: as_of}
          scope.platforms: {contains: {ref: dep.platform}}
          scope.regions: {contains: {ref: dep.region}}
    """)
    )
    registry = tmp_path / "r.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "providers": [{"id": "acme", "name": "Acme"}],
                "models": [{"id": "m", "name": "M", "provider": "acme"}],
                "deployments": [
                    {
                        "id": "d",
                        "model": "m",
                        "platform": "azure-ai-foundry",
                        "region": "eastus",
                        "environment": "prod",
                    }
                ],
            }
        )
    )
    assert cli("registry", "import", "--db", db_url, registry).exit_code == 0
    result = cli("explain", "m", "--db", db_url, "--policies", policy, "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "would pass if there were approval with" in result.stdout
    assert "dep.platform (= azure-ai-foundry)" in result.stdout
    assert "dep.region (= eastus)" in result.stdout


# ----------------------------------------------------------------------------- runs


def test_runs_record_diff_and_since(seeded, tmp_path: Path) -> None:
    first = seeded("audit", "--quiet")
    assert first.exit_code == 0
    repeat = seeded("audit", "--quiet")
    assert repeat.exit_code == 0
    change = tmp_path / "change.yaml"
    change.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"id": "orphan", "name": "Orphan", "provider": "acme", "owner": "team"},
                    {
                        "id": "deepseek-r1",
                        "name": "DeepSeek-R1",
                        "provider": "deepseek",
                        "owner": "o",
                    },
                ],
                "lineage": [
                    {
                        "id": "e-acme-gpt",
                        "child": "acme-7b",
                        "parent": "gpt-4o",
                        "relation": "distillation",
                    }
                ],
            }
        )
    )
    assert seeded("registry", "import", change).exit_code == 0
    third = seeded("audit", "--quiet")
    assert third.exit_code == 0
    listing = seeded("runs", "list", "--format", "json")
    runs = json.loads(listing.stdout)
    assert len(runs) == 3
    assert runs[0]["policy_digest"] == runs[1]["policy_digest"] == runs[2]["policy_digest"]
    assert runs[0]["registry_digest"] == runs[1]["registry_digest"] != runs[2]["registry_digest"]

    unchanged = json.loads(
        seeded("runs", "diff", runs[0]["id"], runs[1]["id"], "--format", "json").stdout
    )
    assert [e for e in unchanged["entries"] if e["change"] != "persisting"] == []

    diff = json.loads(
        seeded("runs", "diff", runs[1]["id"], runs[2]["id"], "--format", "json").stdout
    )
    changes = {
        (e["change"], e["policy"], e["subject"])
        for e in diff["entries"]
        if e["change"] != "persisting"
    }
    assert changes == {("new", "LIN-T1", "acme-7b"), ("resolved", "GOV-T1", "orphan")}

    shown = seeded("runs", "show", runs[0]["id"][:-2], "--format", "json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["run"]["id"] == runs[0]["id"]
    latest = seeded("runs", "show", "latest~1", "--format", "json")
    assert json.loads(latest.stdout)["run"]["id"] == runs[1]["id"]
    ambiguous = seeded("runs", "show", runs[0]["id"][:8])
    assert ambiguous.exit_code == 2 and "ambiguous run id" in ambiguous.stderr

    since = seeded("audit", "--quiet", "--since", runs[1]["id"])
    assert since.exit_code == 0  # the new finding is medium, below --fail-on high
    assert "1 new" in since.stdout and "1 resolved" in since.stdout
    assert "acme-7b" in since.stdout and "Blocked models" not in since.stdout
    strict = seeded(
        "audit", "--quiet", "--no-record", "--since", runs[1]["id"], "--fail-on", "medium"
    )
    assert strict.exit_code == 1
    report = tmp_path / "since.html"
    with_html = seeded(
        "audit",
        "--quiet",
        "--no-record",
        "--since",
        runs[1]["id"],
        "--format",
        "html",
        "-o",
        report,
        "--format",
        "json",
    )
    assert f"Changes since {runs[1]['id']}" in report.read_text(encoding="utf-8")
    changes = json.loads(with_html.stdout)["changes"]
    assert {(c["change"], c["subject"]) for c in changes if c["change"] != "persisting"} == {
        ("new", "acme-7b"),
        ("resolved", "orphan"),
    }

    # Against the latest run nothing is new: findings that only persist (LIN-T1, medium, is
    # at/above low) do not fail a --since audit, whatever the output format; without --since
    # they do.
    sarif = tmp_path / "persisting.sarif"
    for formats in (
        (),
        ("--format", "json"),
        ("--format", "sarif", "-o", sarif, "--format", "text"),
    ):
        persisting = seeded(
            "audit",
            "--quiet",
            "--no-record",
            "--since",
            runs[2]["id"],
            "--fail-on",
            "low",
            *formats,
        )
        assert persisting.exit_code == 0, (formats, persisting.output)
    whole = seeded("audit", "--quiet", "--no-record", "--fail-on", "low", "--format", "json")
    assert whole.exit_code == 1


def test_rerun_on_unchanged_inputs_reproduces_finding_ids(seeded) -> None:
    a = json.loads(seeded("audit", "--no-record", "--format", "json").stdout)
    b = json.loads(seeded("audit", "--no-record", "--format", "json").stdout)
    assert [f["id"] for f in a["findings"]] == [f["id"] for f in b["findings"]]
    assert a["registry_digest"] == b["registry_digest"]


def test_since_fails_on_a_model_imported_after_the_earlier_run(cli, tmp_path: Path) -> None:
    """A model the earlier run never saw brings its findings as new: `audit --since latest`
    after importing a model with a critical failure exits 1 and names it (it used to leave
    the new model out and pass)."""
    examples = shipped("examples")
    assert cli("registry", "import", str(examples)).exit_code == 0
    assert cli("audit", "--quiet", "--as-of", "2025-06-01").exit_code == 1  # recorded
    quiet = cli("audit", "--quiet", "--no-record", "--as-of", "2025-06-01", "--since", "latest")
    assert quiet.exit_code == 0, quiet.output  # nothing new since that run
    newcomer = tmp_path / "newcomer.yaml"
    newcomer.write_text(
        "models:\n"
        "  - {id: newcomer-7b, name: Newcomer 7B, provider: meta, licence: mit,"
        " owner: ml-team}\n"
        "deployments:\n"
        "  - {id: dep-newcomer, model: newcomer-7b, platform: on-prem, region: eastus,"
        " environment: prod, exposure: internal, status: active}\n",
        encoding="utf-8",
    )
    assert cli("registry", "import", str(newcomer)).exit_code == 0
    since = cli(
        "audit",
        "--quiet",
        "--no-record",
        "--as-of",
        "2025-06-01",
        "--since",
        "latest",
        "--format",
        "json",
    )
    assert since.exit_code == 1, since.output
    new = [c for c in json.loads(since.stdout)["changes"] if c["change"] == "new"]
    assert new and {c["model"] for c in new} == {"newcomer-7b"}
    assert any(c["policy"] == "HOST-001" for c in new)


def test_an_audit_that_writes_only_files_says_what_it_did(cli, tmp_path: Path) -> None:
    """`audit --format html -o r.html` used to print only "recorded run ...": the verdict
    goes to stdout and one "wrote" line per file to stderr (not with --quiet)."""
    assert cli("registry", "import", str(shipped("examples"))).exit_code == 0
    args = ["audit", "--as-of", AS_OF, "--no-record", "--format", "html", "-o", "r.html"]
    result = cli(*args, "--format", "json", "-o", "r.json")
    assert result.exit_code == 1
    assert result.stdout.startswith("FAIL: ") and "findings at or above high" in result.stdout
    assert len(result.stdout.splitlines()) == 1
    kb = round((cli.cwd / "r.html").stat().st_size / 1024)
    assert f"wrote r.html ({kb} KB)" in result.stderr and "wrote r.json (" in result.stderr
    quiet = cli(*args, "--quiet")
    assert quiet.stdout == result.stdout and "wrote" not in quiet.stderr
    # with --since the verdict is that of the regressions, which set the exit code
    assert cli("audit", "--as-of", AS_OF, "-q").exit_code == 1  # a recorded run
    since = cli(*args, "--since", "latest")
    assert since.exit_code == 0, since.output
    assert since.stdout.startswith("PASS: 0 new or regressed findings at or above high since ")
    # a report on stdout is the output itself: no verdict line added to it
    assert cli(
        "audit", "--as-of", AS_OF, "--no-record", "-q", "--format", "json"
    ).stdout.startswith("{")
