"""Acceptance tests of the shipped policy library (``policies/``) on the example registry.

Everything goes through the real CLI (``aigov.cli:main`` in click's CliRunner) against a
real SQLite file into which ``examples/registry`` is imported, always ``--as-of 2025-06-01``
so that approval and waiver dates do not drift. The expectations are the story told in
``examples/registry/README.md``: the DeepSeek-R1 Azure listing is flagged for the two
investigations its approval does not acknowledge, the R1 distills are not blamed for
OpenAI's terms, the Llama-based distill owes the Llama naming duty, the clean control
passes everything.

``python tests/test_shipped_library.py`` regenerates ``policies/POLICIES.md`` (the table
pasted into docs/policy-library.md); ``test_policies_md_is_in_sync`` fails when it is stale.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from aigov_testing.cli import invoke_cli
from aigov_testing.env import CLEAN_ENV

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
EXAMPLES = REPO / "examples" / "registry"
POLICIES_MD = POLICIES / "POLICIES.md"
AS_OF = "2025-06-01"
FAMILY_DIRS = {
    "tos": "tos",
    "provenance": "provenance",
    "lineage": "lineage",
    "hosting": "hosting",
    "investigation": "investigations",
    "regulatory": "regulatory",
    "governance": "governance",
}
ID_PREFIX = {
    "tos": "TOS",
    "provenance": "PROV",
    "lineage": "LIN",
    "hosting": "HOST",
    "investigation": "INV",
    "regulatory": "REG",
    "governance": "GOV",
}

R1 = "deepseek-r1"
R1_AZURE = "dep-r1-azure-eastus-prod"
INVESTIGATIONS = {"inv-msft-openai-deepseek-distillation", "inv-garante-deepseek"}
CONTROL = "acme-support-7b"
DISTILLS = (
    "deepseek-r1-distill-qwen-32b",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-llama-70b",
)


def evidence_ids(finding: dict[str, Any]) -> set[str]:
    """Every record id, lineage edge and path node in a finding's evidence (as policytest)."""
    ids: set[str] = set()
    for match in finding["evidence"]:
        ids |= {record["id"] for record in match["records"]}
        for steps in [match["path"], *match.get("paths", {}).values()]:
            ids |= {step["edge"] for step in steps} | {step["parent"] for step in steps}
    if finding.get("waiver"):
        ids.add(finding["waiver"]["id"])
    return ids


def paths(finding: dict[str, Any]) -> list[list[str]]:
    return [[step["edge"] for step in match["path"]] for match in finding["evidence"]]


# ----------------------------------------------------------------------------- fixtures

Aigov = Callable[..., Result]


@pytest.fixture(scope="module")
def aigov(tmp_path_factory: pytest.TempPathFactory) -> Aigov:
    """``aigov(*args)``: run ``aigov ARGS...`` in-process in a scratch working directory (a
    command writing ./aigov.db writes there, not into the repository), with the developer's
    AIGOV_* settings unset (module-scoped fixtures run before conftest's per-test clean-up)."""
    cwd = tmp_path_factory.mktemp("cwd")
    return lambda *args: invoke_cli(cwd, *args, env=CLEAN_ENV)


@pytest.fixture(scope="module")
def db_url(aigov: Aigov, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real SQLite registry holding examples/registry (imported once per module)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('shipped') / 'examples.db'}"
    result = aigov("registry", "import", "--db", url, EXAMPLES)
    assert result.exit_code == 0, result.output
    assert "imported" in result.output
    return url


@pytest.fixture(scope="module")
def audit(aigov: Aigov, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON audit report of the example registry under the shipped library."""
    out = tmp_path_factory.mktemp("audit") / "audit.json"
    result = aigov(
        "audit",
        "--db",
        db_url,
        "--policies",
        POLICIES,
        "--as-of",
        AS_OF,
        "--no-record",
        "--quiet",
        "--workers",
        "1",
        "--format",
        "json",
        "-o",
        out,
    )
    # high and critical findings exist in the example, so the audit exits 1 (not 2: no error)
    assert result.exit_code == 1, result.output
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def findings(audit: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    by_key = {(f["policy"], f["subject"]): f for f in audit["findings"]}
    assert len(by_key) == len(audit["findings"])  # one finding per (policy, subject)
    return by_key


@pytest.fixture(scope="module")
def catalogue(aigov: Aigov) -> list[dict[str, Any]]:
    result = aigov("policy", "list", "--policies", POLICIES, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


Gate = Callable[..., Result]


@pytest.fixture(scope="module")
def gate(aigov: Aigov, db_url: str) -> Gate:
    """``gate(model, *args, fmt="text")``: the gate on the example registry."""

    def run(model: str, *args: str, fmt: str = "text") -> Result:
        return aigov(
            "gate",
            model,
            "--db",
            db_url,
            "--policies",
            POLICIES,
            "--as-of",
            AS_OF,
            "--format",
            fmt,
            *args,
        )

    return run


# ----------------------------------------------------------------------------- the library


def test_policy_validate_passes(aigov: Aigov) -> None:
    result = aigov("policy", "validate", POLICIES)
    assert result.exit_code == 0, result.output
    assert re.search(r"\d+ policies and \d+ derivations are valid", result.output)


def test_policy_tests_pass_with_require_tests(aigov: Aigov) -> None:
    result = aigov("policy", "test", POLICIES, "--require-tests")
    assert result.exit_code == 0, result.output
    passed = re.search(r"(\d+) of (\d+) cases passed", result.output)
    assert passed and passed.group(1) == passed.group(2), result.output
    assert int(passed.group(2)) >= 2 * 25  # a failing and a passing case per policy at least
    assert "FAIL" not in result.output


def test_library_has_25_policies_across_all_seven_families(catalogue: list[dict]) -> None:
    shipped = [p for p in catalogue if not p["builtin"]]
    assert len(shipped) >= 25
    assert {p["family"] for p in shipped} == set(FAMILY_DIRS)
    builtin_ids = {p["id"] for p in catalogue if p["builtin"]}
    assert builtin_ids == {"AIGOV-WAIVER-EXPIRED", "AIGOV-LINEAGE-CYCLE"}


def test_every_policy_is_filed_by_family_with_references_and_tests(catalogue: list[dict]) -> None:
    problems = []
    for policy in (p for p in catalogue if not p["builtin"]):
        pid, family = policy["id"], policy["family"]
        source = Path(policy["source"].rsplit(":", 1)[0])
        if not source.is_absolute():
            source = REPO / source
        if source.parent.name != FAMILY_DIRS[family]:
            problems.append(f"{pid}: family {family} but filed in {source.parent.name}/")
        if not re.fullmatch(rf"{ID_PREFIX[family]}-\d{{3}}", pid):
            problems.append(f"{pid}: id does not follow {ID_PREFIX[family]}-NNN")
        test_file = source.with_name(source.name.replace(".yaml", ".test.yaml"))
        if not test_file.is_file():
            problems.append(f"{pid}: no test file {test_file.name} next to it")
        if not policy["references"] or not all(
            r["url"].startswith(("http://", "https://")) and r.get("section")
            for r in policy["references"]
        ):
            problems.append(f"{pid}: references need a section and an http(s) url")
        if "severity" not in policy["description"].lower():
            problems.append(f"{pid}: the description does not say why this severity")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- POLICIES.md


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_policies_md(catalogue: list[dict[str, Any]]) -> str:
    """The policy table pasted into docs/policy-library.md: id, title, severity, reference."""
    lines = [
        "# Shipped policies",
        "",
        "Generated from `policies/` by `python tests/test_shipped_library.py`; "
        "`tests/test_shipped_library.py` fails when this file is stale. "
        "Reference: the section and the instrument behind each policy (the first of its "
        "references; `aigov policy list` shows all).",
        "",
        "| id | title | severity | reference |",
        "|---|---|---|---|",
    ]
    families = list(FAMILY_DIRS)
    ordered = sorted(catalogue, key=lambda p: (p["builtin"], families.index(p["family"]), p["id"]))
    for policy in ordered:
        ref = policy["references"][0] if policy["references"] else None
        reference = (
            f"{_cell(ref.get('section') or '')} [{_cell(ref['title'])}]({ref['url']})".strip()
            if ref
            else ""
        )
        title = _cell(policy["title"]) + (" (built-in)" if policy["builtin"] else "")
        lines.append(f"| {policy['id']} | {title} | {policy['severity']} | {reference} |")
    return "\n".join(lines) + "\n"


def test_policies_md_is_in_sync(catalogue: list[dict[str, Any]]) -> None:
    expected = render_policies_md(catalogue)
    assert POLICIES_MD.is_file(), "run: python tests/test_shipped_library.py"
    assert POLICIES_MD.read_text(encoding="utf-8") == expected, (
        "policies/POLICIES.md is stale; run: python tests/test_shipped_library.py"
    )
    rows = [line for line in expected.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) - 1 == len(catalogue)  # a header plus one row per policy
    assert library_policy_table() == table_lines(expected), (
        "docs/policy-library.md's policy table is stale; run: python tests/test_shipped_library.py"
    )


LIBRARY_DOC = REPO / "docs" / "policy-library.md"
LIBRARY_MARKERS = ("<!-- policies:start -->", "<!-- policies:end -->")


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def library_policy_table() -> list[str]:
    text = LIBRARY_DOC.read_text(encoding="utf-8")
    start, end = (text.index(marker) for marker in LIBRARY_MARKERS)
    return table_lines(text[start:end])


# ----------------------------------------------------------------------------- the seed case


def test_r1_azure_deployment_is_flagged_with_both_investigations(findings: dict) -> None:
    finding = findings[("INV-001", R1_AZURE)]
    assert finding["outcome"] == "fail"
    assert finding["severity"] == "high"
    assert finding["model"] == R1
    ids = evidence_ids(finding)
    assert ids >= INVESTIGATIONS
    assert {R1_AZURE, R1} <= ids
    assert "appr-r1-azure" in finding["message"]
    assert any(inv in finding["message"] for inv in INVESTIGATIONS)
    # the absence is part of the evidence: the approval does not acknowledge them
    assert any("acknowledged_investigations" in text for text in finding["absent"])


def test_deployment_whose_approval_acknowledges_the_investigations_passes(
    findings: dict, audit: dict
) -> None:
    dep = "dep-r1-distill-qwen-32b-bedrock-useast1-dev"
    assert ("INV-001", dep) not in findings
    # the model has this one deployment, so its INV-001 outcome is that deployment's
    assert audit_outcomes(audit, "deepseek-r1-distill-qwen-32b")["INV-001"] == "pass"


def test_gate_denies_r1_on_azure_naming_the_investigations(gate: Gate) -> None:
    result = gate(
        R1, "--platform", "azure-ai-foundry", "--region", "eastus", "--environment", "prod"
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("DENY")
    assert "INV-001" in result.stdout
    for inv in INVESTIGATIONS:
        assert inv in result.stdout

    as_json = gate(
        R1,
        "--platform",
        "azure-ai-foundry",
        "--region",
        "eastus",
        "--environment",
        "prod",
        fmt="json",
    )
    assert as_json.exit_code == 1
    decision = json.loads(as_json.stdout)
    assert decision["decision"] == "DENY"
    blocking = {f["policy"]: f for f in decision["blocking"]}
    assert evidence_ids(blocking["INV-001"]) >= INVESTIGATIONS
    assert blocking["INV-001"]["hypothetical"] is True  # the proposed deployment


def test_gate_allows_the_clean_control_on_its_approved_target(gate: Gate) -> None:
    args = (
        "--platform",
        "azure-ai-foundry",
        "--region",
        "eastus2",
        "--environment",
        "prod",
        "--exposure",
        "customer_facing",
    )
    result = gate(CONTROL, *args, "--guardrail", "azure-content-safety")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ALLOW")
    # the approval's guardrail condition is part of the decision: without it, DENY
    bare = gate(CONTROL, *args)
    assert bare.exit_code == 1, bare.output
    assert "HOST-003" in bare.stdout and "azure-content-safety" in bare.stdout
    # and outside the approved region there is no covering approval
    elsewhere = gate(
        CONTROL,
        "--platform",
        "azure-ai-foundry",
        "--region",
        "westeurope",
        "--environment",
        "prod",
        "--guardrail",
        "azure-content-safety",
    )
    assert elsewhere.exit_code == 1
    assert "HOST-001" in elsewhere.stdout


def audit_outcomes(audit: dict, model: str) -> dict[str, str]:
    (result,) = [m for m in audit["models"] if m["id"] == model]
    return result["outcomes"]


def test_control_model_has_no_finding_at_all(audit: dict) -> None:
    mine = [f for f in audit["findings"] if f["model"] == CONTROL]
    assert mine == []
    outcomes = audit_outcomes(audit, CONTROL)
    assert set(outcomes.values()) <= {"pass"}
    assert len(outcomes) >= 20  # most of the library applied to it, and passed


# ----------------------------------------------------------------------------- OpenAI outputs


def test_openai_output_use_is_never_a_fail(audit: dict) -> None:
    tos001 = [f for f in audit["findings"] if f["policy"] == "TOS-001"]
    assert all(f["outcome"] == "review" for f in tos001), tos001
    assert {f["subject"] for f in tos001} == {"deepseek-v3", R1, "acme-helpdesk-alpaca-7b"}


def test_r1_distills_are_not_blamed_for_openai_outputs(audit: dict, findings: dict) -> None:
    for distill in DISTILLS:
        assert ("TOS-001", distill) not in findings
        assert audit_outcomes(audit, distill)["TOS-001"] == "pass"


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("deepseek-v3", ["deepseek-v3~trained_on_outputs~openai-gpt-4o"]),
        (R1, ["deepseek-r1~finetune~deepseek-v3", "deepseek-v3~trained_on_outputs~openai-gpt-4o"]),
    ],
)
def test_v3_and_r1_get_a_review_with_the_alleged_path(
    findings: dict, model: str, path: list
) -> None:
    finding = findings[("TOS-001", model)]
    assert finding["outcome"] == "review"
    assert path in paths(finding)
    ids = evidence_ids(finding)
    assert {"openai-gpt-4o", "deepseek-v3~trained_on_outputs~openai-gpt-4o"} <= ids
    assert any(i.startswith("openai-") and "#clauses[" in i for i in ids)  # the OpenAI clause
    last_hops = [match["path"][-1] for match in finding["evidence"] if match["path"]]
    assert last_hops and all(h["confidence"] == "alleged" for h in last_hops)


# ----------------------------------------------------------------------------- Llama naming


def test_llama_based_distill_owes_the_llama_naming_duty(findings: dict) -> None:
    finding = findings[("TOS-004", "deepseek-r1-distill-llama-8b")]
    assert finding["outcome"] == "fail"
    assert finding["severity"] == "high"
    assert {"llama-3.1-8b", "meta-llama-3.1-community-license#clauses[0]"} <= evidence_ids(finding)
    assert ["deepseek-r1-distill-llama-8b~finetune~llama-3.1-8b"] in paths(finding)
    assert '"Llama"' in finding["message"]
    assert findings[("TOS-004", "deepseek-r1-distill-llama-70b")]["outcome"] == "fail"


def test_correctly_named_llama_derivative_and_the_qwen_distill_pass(audit: dict) -> None:
    assert audit_outcomes(audit, "acme-llama-3.1-sales-8b")["TOS-004"] == "pass"
    assert audit_outcomes(audit, "acme-llama-3.1-sales-8b")["TOS-005"] == "pass"
    assert audit_outcomes(audit, "deepseek-r1-distill-qwen-32b")["TOS-004"] == "pass"


# ----------------------------------------------------------------------------- other violations

# (policy, subject, outcome, evidence ids that must be present, lineage path or None)
INTENDED = [
    ("INV-002", R1_AZURE, "review", {"inv-garante-deepseek"}, None),
    (
        "TOS-003",
        "acme-summarizer-7b",
        "fail",
        {"llama-2-7b-chat", "meta-llama-2-community-license#clauses[0]"},
        [
            "acme-summarizer-7b~trained_on~ds-acme-llama2-summaries",
            "ds-acme-llama2-summaries~generated_by~llama-2-7b-chat",
        ],
    ),
    (
        "TOS-006",
        "acme-edge-classifier-3b",
        "fail",
        {"dep-edge-classifier-azure-eastus2-prod", "acme-edge-classifier-3b"},
        None,
    ),
    (
        "TOS-007",
        "acme-llama-3.1-sales-8b",
        "fail",
        {"qwen2.5-72b-instruct", "qwen-license-agreement-2024#clauses[0]"},
        [
            "acme-llama-3.1-sales-8b~trained_on~ds-acme-sales-qwen72b",
            "ds-acme-sales-qwen72b~generated_by~qwen2.5-72b-instruct",
        ],
    ),
    (
        "PROV-001",
        "acme-helpdesk-alpaca-7b",
        "fail",
        {"ds-stanford-alpaca"},
        ["acme-helpdesk-alpaca-7b~trained_on~ds-stanford-alpaca"],
    ),
    (
        "PROV-003",
        "acme-faq-assistant-7b",
        "fail",
        {"ds-acme-faq-synthetic"},
        ["acme-faq-assistant-7b~trained_on~ds-acme-faq-synthetic"],
    ),
    (
        "PROV-004",
        "acme-helpdesk-alpaca-7b",
        "fail",
        {"ds-stanford-alpaca"},
        ["acme-helpdesk-alpaca-7b~trained_on~ds-stanford-alpaca"],
    ),
    (
        "HOST-001",
        "dep-llama33-70b-azure-eastus2-prod",
        "fail",
        {"dep-llama33-70b-azure-eastus2-prod", "waiver-llama33-70b-approval-renewal"},
        None,
    ),
    (
        "HOST-002",
        "dep-faq-assistant-azure-westeurope-staging",
        "fail",
        {"dep-faq-assistant-azure-westeurope-staging"},
        None,
    ),
    (
        "HOST-003",
        "dep-r1-distill-llama-8b-bedrock-uswest2-staging",
        "waived",
        {"waiver-r1-distill-llama-8b-guardrail", "appr-r1-distill-llama-8b"},
        None,
    ),
    ("HOST-006", "appr-r1-distill-qwen-32b", "fail", {"appr-r1-distill-qwen-32b"}, None),
    (
        "AIGOV-WAIVER-EXPIRED",
        "waiver-llama33-70b-approval-renewal",
        "fail",
        {"waiver-llama33-70b-approval-renewal"},
        None,
    ),
]


@pytest.mark.parametrize(
    ("policy", "subject", "outcome", "evidence", "path"),
    INTENDED,
    ids=[f"{p}-{s}" for p, s, *_ in INTENDED],
)
def test_intended_violations_of_the_example_registry(
    findings: dict, policy: str, subject: str, outcome: str, evidence: set, path: list | None
) -> None:
    finding = findings.get((policy, subject))
    assert finding is not None, f"no {policy} finding on {subject}"
    assert finding["outcome"] == outcome, finding["message"]
    assert evidence <= evidence_ids(finding), evidence_ids(finding)
    if path is not None:
        assert path in paths(finding), paths(finding)


def test_expired_waiver_reopens_its_finding_and_valid_waiver_holds(findings: dict) -> None:
    expired = findings[("HOST-001", "dep-llama33-70b-azure-eastus2-prod")]
    assert expired["waiver"]["expired"] is True
    valid = findings[("HOST-003", "dep-r1-distill-llama-8b-bedrock-uswest2-staging")]
    assert valid["waiver"]["expired"] is False
    assert valid["waiver"]["expires_at"] == "2025-07-31"


def test_no_indeterminate_findings_and_no_unexpected_blocking_models(audit: dict) -> None:
    assert audit["counts"]["indeterminate"] == 0
    blocked = {m["id"] for m in audit["models"] if m["status"] == "blocked"}
    assert CONTROL not in blocked
    assert {R1, "deepseek-r1-distill-llama-8b", "acme-summarizer-7b"} <= blocked
    # upstream third-party models with nothing of their own to answer for stay clean
    for clean in ("openai-gpt-4o", "qwen2.5-7b-instruct", "llama-3.1-8b"):
        assert not [f for f in audit["findings"] if f["model"] == clean]


def write_policies_md() -> Path:
    """Regenerate policies/POLICIES.md from the library (``python tests/test_shipped_library.py``)."""
    with tempfile.TemporaryDirectory() as cwd:
        result = invoke_cli(
            Path(cwd), "policy", "list", "--policies", POLICIES, "--format", "json", env=CLEAN_ENV
        )
    if result.exit_code != 0:
        raise SystemExit(result.output)
    markdown = render_policies_md(json.loads(result.stdout))
    POLICIES_MD.write_text(markdown, encoding="utf-8")
    text = LIBRARY_DOC.read_text(encoding="utf-8")
    start = text.index(LIBRARY_MARKERS[0]) + len(LIBRARY_MARKERS[0])
    end = text.index(LIBRARY_MARKERS[1])
    block = "\n" + "\n".join(table_lines(markdown)) + "\n"
    LIBRARY_DOC.write_text(text[:start] + block + text[end:], encoding="utf-8")
    return POLICIES_MD


if __name__ == "__main__":
    print(f"wrote {write_policies_md().relative_to(REPO)}", file=sys.stderr)
