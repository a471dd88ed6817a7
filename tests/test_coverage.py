"""Framework coverage: control catalogues, policy mappings, ``aigov coverage`` and OSCAL.

The mappings are checked when policies load (an unknown framework or control is a policy
error with its line); the coverage of a real audit of the example registry is checked against
that audit's own JSON report; the OSCAL documents are parsed back with compliance-trestle's
models, which validate them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

from aigov.api.coverage import coverage
from aigov.errors import InputError
from aigov.policy.loader import load_policies
from aigov.reports.html import render as render_html
from aigov.results.coverage import FRAMEWORKS_DIR, load_frameworks
from aigov.results.findings import AuditResult
from aigov_testing.cli import Cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "registry"
AS_OF = "2025-06-01"
GOV_001 = REPO / "policies" / "governance" / "gov-001-deployment-model-owner.yaml"


# --------------------------------------------------------------------------- catalogues


def test_every_shipped_policy_names_controls_that_exist() -> None:
    policies = [p for p in load_policies().policies if not p.builtin]
    assert len(policies) >= 40
    unmapped = [p.id for p in policies if not p.doc.controls]
    assert unmapped == []
    catalogues = load_frameworks()
    for policy in policies:
        for fid, ids in policy.doc.controls.items():
            assert set(ids) <= catalogues[fid].ids(), policy.id


def test_catalogues_list_what_they_claim() -> None:
    catalogues = load_frameworks()
    assert list(catalogues) == ["eu-ai-act", "iso-42001", "nist-ai-600-1", "nist-ai-rmf"]
    # the complete ones: NIST AI RMF 1.0 has 72 subcategories, ISO/IEC 42001 Annex A 38 controls
    assert (catalogues["nist-ai-rmf"].framework.scope, len(catalogues["nist-ai-rmf"].controls)) == (
        "complete",
        72,
    )
    assert (catalogues["iso-42001"].framework.scope, len(catalogues["iso-42001"].controls)) == (
        "complete",
        38,
    )
    eu = catalogues["eu-ai-act"]
    assert eu.framework.scope == "selection"
    for letter in "abcd":
        assert f"Art. 53(1)({letter})" in eu.ids()
        assert f"Art. 55(1)({letter})" in eu.ids()
    gpai = [c for c in eu.controls if c.id.startswith(("Art. 52", "Art. 53", "Art. 54", "Art. 55"))]
    assert {str(c.applies_from) for c in gpai} == {"2025-08-02"}
    oscal_ids = [c.oscal_id for f in catalogues.values() for c in f.controls]
    assert "art-53-1-c" in oscal_ids and "govern-1-6" in oscal_ids and "a-7-5" in oscal_ids


def test_a_policy_naming_an_unknown_control_or_framework_is_an_error_with_its_line(
    cli: Cli, tmp_path: Path
) -> None:
    text = GOV_001.read_text(encoding="utf-8").replace(
        "  nist-ai-rmf: [GOVERN 1.6, GOVERN 2.1]\n",
        "  nist-ai-rmf: [GOVERN 1.6, GOVERN 9.9]\n  eu-aiact: [Art. 4]\n",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    bad_control = next(i for i, line in enumerate(lines, 1) if "GOVERN 9.9" in line)
    bad_framework = next(i for i, line in enumerate(lines, 1) if "eu-aiact" in line)
    result = cli("policy", "validate", path)
    assert result.exit_code == 2
    assert (
        f"policy.yaml:{bad_control}: policy 'GOV-001': field 'controls.nist-ai-rmf.1': "
        "unknown control 'GOVERN 9.9' of nist-ai-rmf"
    ) in result.stderr
    assert (
        f"policy.yaml:{bad_framework}: policy 'GOV-001': field 'controls.eu-aiact': unknown "
        "framework 'eu-aiact'"
    ) in result.stderr


def test_a_control_listed_twice_is_an_error(tmp_path: Path) -> None:
    text = GOV_001.read_text(encoding="utf-8").replace(
        "[GOVERN 1.6, GOVERN 2.1]", "[GOVERN 1.6, GOVERN 1.6]"
    )
    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_policies([tmp_path])
    assert [p.message for p in caught.value.problems] == ["control 'GOVERN 1.6' is listed twice"]


def test_a_broken_catalogue_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    shutil.copy(FRAMEWORKS_DIR / "iso-42001.yaml", tmp_path / "iso-42001.yaml")
    text = (tmp_path / "iso-42001.yaml").read_text(encoding="utf-8")
    text = text.replace("{id: A.2.3,", "{id: A.2.2,").replace(
        "  scope: complete\n", "  scope: all\n"
    )
    (tmp_path / "iso-42001.yaml").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    with pytest.raises(InputError) as caught:
        load_frameworks(tmp_path)
    problems = {(p.line, p.field) for p in caught.value.problems}
    assert (next(i for i, s in enumerate(lines, 1) if "scope: all" in s), "framework.scope") in (
        problems
    )
    text = text.replace("  scope: all\n", "  scope: complete\n")
    (tmp_path / "iso-42001.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught_again:
        load_frameworks(tmp_path)
    [problem] = caught_again.value.problems
    second = [i for i, s in enumerate(text.splitlines(), 1) if "{id: A.2.2," in s][1]
    assert (problem.line, problem.message) == (second, "duplicate control id 'A.2.2'")


# --------------------------------------------------------------------------- coverage of a run


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, dict[str, Any]]:
    """The example registry imported and audited (the run recorded), with its JSON report."""
    cwd = tmp_path_factory.mktemp("coverage")
    cli = Cli(cwd)
    assert cli("registry", "import", EXAMPLES).exit_code == 0
    result = cli("audit", "--as-of", AS_OF, "--format", "json", "-o", "audit.json", "-q")
    assert result.exit_code == 1, result.stderr  # the example registry has blocking findings
    return cli, json.loads((cwd / "audit.json").read_text(encoding="utf-8"))


def _control(report: dict[str, Any], framework: str, control: str) -> dict[str, Any]:
    [fw] = [f for f in report["frameworks"] if f["id"] == framework]
    [row] = [c for c in fw["controls"] if c["id"] == control]
    return row


def test_coverage_counts_agree_with_the_audit(audited: tuple[Cli, dict[str, Any]]) -> None:
    cli, audit = audited
    result = cli("coverage", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mapping"] == "run"
    assert report["run"]["as_of"] == AS_OF
    assert report["run"]["policy_digest"] == audit["policy_digest"]
    controls_of = {p["id"]: p["controls"] for p in audit["policies"]}
    for framework in report["frameworks"]:
        for row in framework["controls"]:
            expected = sorted(
                pid for pid, c in controls_of.items() if row["id"] in c.get(framework["id"], [])
            )
            assert row["policies"] == expected
            if not expected:  # not covered: nothing is claimed about it
                assert (row["outcome"], row["models"], row["findings"]) == (None, {}, {})
                continue
            assert sum(row["models"].values()) == len(audit["models"])
            findings = [f for f in audit["findings"] if f["policy"] in expected]
            by_outcome: dict[str, int] = {}
            for f in findings:
                by_outcome[f["outcome"]] = by_outcome.get(f["outcome"], 0) + 1
            assert row["findings"] == by_outcome
            for model in audit["models"]:
                seen = [model["outcomes"][p] for p in expected if p in model["outcomes"]]
                if "fail" in seen:
                    assert row["outcome"] == "fail"
    # GOVERN 6.1 (third-party rights): the licence and terms findings of the example registry
    govern = _control(report, "nist-ai-rmf", "GOVERN 6.1")
    assert govern["outcome"] == "fail" and govern["models"]["fail"] >= 1
    assert _control(report, "eu-ai-act", "Art. 4")["policies"] == []
    assert _control(report, "eu-ai-act", "Art. 53(1)(c)")["policies"] == ["REG-004", "REG-006"]


def test_coverage_text_lists_controls_not_covered(audited: tuple[Cli, dict[str, Any]]) -> None:
    cli, _audit = audited
    result = cli("coverage", "--framework", "eu-ai-act")
    assert result.exit_code == 0
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "not covered" in rows["Art. 4"]
    assert rows["Art. 53(1)(c)"].rstrip().endswith("REG-004, REG-006")
    assert "EU AI Act: 6 of 22 controls covered" in result.stdout
    assert "NIST AI RMF" not in result.stdout


def test_coverage_without_a_database_shows_the_mapping(cli: Cli) -> None:
    result = cli("coverage", "--framework", "iso-42001", "--format", "json")
    assert result.exit_code == 0
    assert "no registry database" in result.stderr
    report = json.loads(result.stdout)
    assert report["run"] is None and report["mapping"] == "policy set"
    assert report["policy_digest"] == load_policies().digest
    assert _control(report, "iso-42001", "A.7.5")["policies"] == [
        "LIN-004",
        "PROV-001",
        "PROV-002",
        "PROV-003",
        "PROV-005",
    ]
    assert cli("coverage", "--format", "oscal").exit_code == 2
    assert cli("coverage", "--run", "latest").exit_code == 2  # a run was asked for: no database


def test_unknown_run_or_framework_is_an_error(audited: tuple[Cli, dict[str, Any]]) -> None:
    cli, _audit = audited
    result = cli("coverage", "--run", "no-such-run")
    assert result.exit_code == 2 and "no run 'no-such-run'" in result.stderr
    assert cli("coverage", "--framework", "sox").exit_code == 2


def test_mapping_falls_back_to_the_policy_set_for_a_run_without_controls(
    audited: tuple[Cli, dict[str, Any]],
) -> None:
    _cli, audit = audited
    old = AuditResult.model_validate(audit)
    old.policies = [p.model_copy(update={"controls": {}}) for p in old.policies]
    found = coverage(old, frameworks=["eu-ai-act"])
    assert found.report.mapping == "policy set"
    assert _control(found.report.model_dump(mode="json"), "eu-ai-act", "Art. 52(1)")[
        "policies"
    ] == ["REG-001"]


# --------------------------------------------------------------------------- OSCAL


def test_oscal_assessment_results_parse_with_trestle_and_are_deterministic(
    audited: tuple[Cli, dict[str, Any]],
) -> None:
    cli, audit = audited
    for name in ("ar-1.json", "ar-2.json"):
        result = cli("coverage", "--format", "oscal", "-o", name)
        assert result.exit_code == 0, result.stderr
    first, second = (cli.cwd / "ar-1.json").read_bytes(), (cli.cwd / "ar-2.json").read_bytes()
    assert first == second
    document = AssessmentResults.oscal_read(cli.cwd / "ar-1.json")
    assert document is not None
    report = json.loads(cli("coverage", "--format", "json").stdout)
    by_framework = {r.props[0].value: r for r in document.results}
    assert set(by_framework) == {f["id"] for f in report["frameworks"] if f["covered"]}
    rmf = by_framework["nist-ai-rmf"]
    covered = [c for f in report["frameworks"] if f["id"] == "nist-ai-rmf" for c in f["controls"]]
    covered = [c for c in covered if c["policies"]]
    selected = rmf.reviewed_controls.control_selections[0].include_controls
    assert [s.control_id for s in selected] == [c["oscal_id"] for c in covered]
    observations = {o.uuid: o for o in rmf.observations or []}
    finding = next(f for f in rmf.findings or [] if f.title == "GOVERN 6.1")
    assert finding.target.status is not None
    assert finding.target.status.state.value == "not-satisfied"
    related = [observations[r.observation_uuid] for r in finding.related_observations or []]
    policies = set(_control(report, "nist-ai-rmf", "GOVERN 6.1")["policies"])
    expected = sorted(f["id"] for f in audit["findings"] if f["policy"] in policies)
    finding_ids = sorted(
        next(p.value for p in o.props or [] if p.name == "finding-id") for o in related
    )
    assert finding_ids == expected
    passing = next(f for f in rmf.findings or [] if f.title == "GOVERN 1.6")
    assert passing.target.status is not None
    assert (passing.target.status.state.value, passing.target.status.reason) == (
        "satisfied",
        "pass",
    )
    assert "GOVERN 2.2" in (rmf.remarks or "")  # not covered, named as not assessed
    raw = json.loads(first)
    assert raw["assessment-results"]["metadata"]["last-modified"].startswith(
        report["run"]["started_at"][:19]  # the run's start, not the time of writing
    )


def test_oscal_component_definition_parses_with_trestle(
    audited: tuple[Cli, dict[str, Any]],
) -> None:
    cli, _audit = audited
    result = cli("coverage", "--no-run", "--format", "oscal-component", "-o", "cd.json")
    assert result.exit_code == 0, result.stderr
    document = ComponentDefinition.oscal_read(cli.cwd / "cd.json")
    assert document is not None and document.components
    [component] = document.components
    implementations = {i.props[0].value: i for i in component.control_implementations or []}
    assert set(implementations) == {"eu-ai-act", "iso-42001", "nist-ai-600-1", "nist-ai-rmf"}
    eu = implementations["eu-ai-act"]
    assert eu.source == "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"
    requirement = next(r for r in eu.implemented_requirements if r.control_id == "art-53-1-c")
    assert [p.value for p in requirement.props or []] == ["REG-004", "REG-006"]
    again = cli("coverage", "--no-run", "--format", "oscal-component")
    assert again.stdout == (cli.cwd / "cd.json").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- HTML


def test_the_compliance_report_has_a_framework_section(
    audited: tuple[Cli, dict[str, Any]],
) -> None:
    _cli, audit = audited
    html = render_html(AuditResult.model_validate(audit))
    assert '<section id="frameworks">' in html and 'href="#frameworks"' in html
    assert '<a href="#policy-REG-004"><code class="nowrap">REG-004</code></a>' in html
    assert "controls not covered</summary>" in html
    # a result whose policies name no control (an older run) has no such section
    plain = AuditResult.model_validate(audit)
    plain.policies = [p.model_copy(update={"controls": {}}) for p in plain.policies]
    assert 'id="frameworks"' not in render_html(plain)


def test_the_coverage_page_runs_no_script_and_loads_nothing(
    audited: tuple[Cli, dict[str, Any]],
) -> None:
    cli, _audit = audited
    result = cli("coverage", "--format", "html", "-o", "coverage.html")
    assert result.exit_code == 0, result.stderr
    page = (cli.cwd / "coverage.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "default-src &#39;none&#39;; style-src &#39;sha256-" in page  # (attribute-escaped)
    assert 'id="framework-eu-ai-act"' in page and 'id="framework-iso-42001"' in page
    assert '<code class="nowrap">REG-004</code>' in page
