"""Baselines (`aigov audit --baseline RUN|FILE`, `aigov runs baseline`): adopting aigov on a
registry that already fails. Everything is reported; only findings the baseline does not cover
set the exit code; a finding that got worse, or whose entry expired, is never hidden; a bad
baseline file is an error naming file, line and field; no error passes because of a baseline.

The example registry (which has failures) in real databases, through the real CLI.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.shipped import shipped
from aigov_testing.cli import Cli

AS_OF = "2025-06-01"
EXAMPLES = shipped("examples")
SHIPPED_POLICIES = shipped("policies")
BLOCKING = {"fail", "review"}
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
NEW_DEPLOYMENT = "dep-acme-support-7b-bedrock-useast1-prod"
# One new violation: a production deployment that no approval covers (HOST-001, critical).
VIOLATION = {
    "deployments": [
        {
            "id": NEW_DEPLOYMENT,
            "model": "acme-support-7b",
            "platform": "aws-bedrock",
            "region": "us-east-1",
            "environment": "prod",
            "exposure": "customer_facing",
            "status": "active",
            "guardrails": ["bedrock-guardrails"],
        }
    ]
}


def _blocks(finding: dict[str, Any], fail_on: str = "high") -> bool:
    return finding["outcome"] in BLOCKING and RANK[finding["severity"]] >= RANK[fail_on]


def _adopt(cli: Cli, db_url: str) -> Any:
    """The example registry with one recorded audit run (which fails); returns a function
    running aigov against it, with the run's id as ``.run``."""
    assert cli("registry", "import", "--db", db_url, EXAMPLES).exit_code == 0

    def run(*args: str | Path, env: dict[str, str | None] | None = None) -> Any:
        common: list[str | Path] = ["--db", db_url]
        if args[0] == "audit":
            common += ["--as-of", AS_OF, "-q"]
        return cli(*args, *common, env=env)

    first = run("audit")
    assert first.exit_code == 1, first.stderr  # the example registry has failures
    runs = json.loads(run("runs", "list", "--format", "json").stdout)
    run.run = runs[-1]["id"]  # type: ignore[attr-defined]
    run.cli = cli  # type: ignore[attr-defined]
    return run


@pytest.fixture
def adopted(cli: Cli, db_url: str) -> Any:
    """:func:`_adopt` on each backend (for what concerns recorded runs)."""
    return _adopt(cli, db_url)


@pytest.fixture
def adopted_file(cli: Cli, sqlite_url: str) -> Any:
    """:func:`_adopt` on a SQLite file (for what does not concern the database)."""
    return _adopt(cli, sqlite_url)


def _json(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout)


def _counted(report: dict[str, Any], fail_on: str = "high") -> list[dict[str, Any]]:
    """The findings that set the exit code: blocking and not baselined."""
    hidden = {m["finding_id"] for m in report["baseline"]["matches"] if m["state"] == "baselined"}
    return [f for f in report["findings"] if _blocks(f, fail_on) and f["id"] not in hidden]


def _listed(text: str) -> list[str]:
    """The finding lines of a text report."""
    return [line for line in text.splitlines() if line.startswith("  ") and ": " in line]


# ------------------------------------------------------------------------ adoption


def test_adopting_a_failing_registry_passes_with_its_findings_listed_as_baselined(
    adopted: Any, tmp_path: Path
) -> None:
    plain = adopted("audit", "--no-record", "--format", "json")
    assert plain.exit_code == 1
    base = _json(plain)
    assert "baseline" not in base  # no baseline: the report is what it always was
    assert any(_blocks(f) for f in base["findings"])

    result = adopted("audit", "--no-record", "--baseline", "latest", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = _json(result)
    baseline = report.pop("baseline")
    assert report == base  # everything is still reported
    recorded = {f["id"] for f in base["findings"] if f["outcome"] in (*BLOCKING, "indeterminate")}
    assert baseline["source"] == f"run {adopted.run}"
    assert baseline["entries"] == len(recorded)
    assert {m["finding_id"] for m in baseline["matches"]} == recorded
    assert {m["state"] for m in baseline["matches"]} == {"baselined"}

    text = adopted("audit", "--no-record", "--baseline", adopted.run)
    assert text.exit_code == 0, text.stderr
    for line in _listed(text.stdout):
        if re.search(r"^  \S+\s+(fail|review)\s", line):
            assert line.endswith("[baselined]"), line
    blocking = sum(1 for f in base["findings"] if _blocks(f))
    assert "PASS: 0 findings at or above high" in text.stdout
    assert f"{blocking} at or above high baselined" in text.stdout
    assert "Blocked models: 0 of" in text.stdout

    # the same from a baseline file, in either format
    for name in ("baseline.yaml", "baseline.json"):
        path = tmp_path / name
        written = adopted("runs", "baseline", "latest", "-o", path)
        assert written.exit_code == 0, written.stderr
        from_file = adopted("audit", "--no-record", "--baseline", path, "--format", "json")
        assert from_file.exit_code == 0, from_file.stderr
        assert _json(from_file)["baseline"]["source"] == f"file {path}"
        assert _json(from_file)["baseline"]["matches"] == baseline["matches"]
    assert json.loads((tmp_path / "baseline.json").read_text())["run"] == adopted.run
    assert yaml.safe_load((tmp_path / "baseline.yaml").read_text())["run"] == adopted.run


def test_a_new_violation_fails_naming_only_it(adopted: Any, tmp_path: Path) -> None:
    baseline_file = tmp_path / "baseline.yaml"
    assert adopted("runs", "baseline", adopted.run, "-o", baseline_file).exit_code == 0
    violation = tmp_path / "violation.yaml"
    violation.write_text(yaml.safe_dump(VIOLATION))
    assert adopted("registry", "import", violation).exit_code == 0

    for baseline in (adopted.run, str(baseline_file)):
        result = adopted("audit", "--no-record", "--baseline", baseline, "--format", "json")
        assert result.exit_code == 1, result.stderr
        counted = _counted(_json(result))
        assert [(f["policy"], f["subject"]) for f in counted] == [("HOST-001", NEW_DEPLOYMENT)]

        text = adopted("audit", "--no-record", "--baseline", baseline)
        assert text.exit_code == 1
        failing = [
            line
            for line in _listed(text.stdout)
            if re.search(r"^  (high|critical)\s+(fail|review)\s", line)
            and not line.endswith("[baselined]")
        ]
        assert len(failing) == 1 and NEW_DEPLOYMENT in failing[0] and "HOST-001" in failing[0]
        assert "FAIL: 1 finding at or above high" in text.stdout
        assert "Blocked models: 1 of" in text.stdout


def test_a_finding_that_got_worse_is_not_hidden(adopted_file: Any, tmp_path: Path) -> None:
    """The policies change after the baseline: GOV-004 is raised from medium to high, and
    TOS-001 loses its review_if (its reviews become fails). Those findings count again;
    every other one stays baselined."""
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    gov = policies / "governance" / "gov-004-approval-without-licence-review.yaml"
    text = gov.read_text(encoding="utf-8")
    assert "\nseverity: medium\n" in text
    gov.write_text(text.replace("\nseverity: medium\n", "\nseverity: high\n"), encoding="utf-8")
    tos = policies / "tos" / "tos-001-competing-use-of-outputs.yaml"
    text = tos.read_text(encoding="utf-8")
    tos.write_text(text[: text.index("\nreview_if:")] + "\n", encoding="utf-8")

    result = adopted_file(
        "audit", "--no-record", "--policies", policies, "--baseline", adopted_file.run,
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    report = _json(result)
    by_id = {f["id"]: f for f in report["findings"]}
    worse = {m["finding_id"]: m for m in report["baseline"]["matches"] if m["state"] == "worse"}
    assert {by_id[i]["policy"] for i in worse} == {"GOV-004", "TOS-001"}
    for finding_id, match in worse.items():
        finding = by_id[finding_id]
        if finding["policy"] == "GOV-004":
            assert (match["severity"], finding["severity"]) == ("medium", "high")
        else:
            assert (match["outcome"], finding["outcome"]) == ("review", "fail")
    assert {f["policy"] for f in _counted(report)} == {"GOV-004", "TOS-001"}
    others = [m for m in report["baseline"]["matches"] if m["finding_id"] not in worse]
    assert others and {m["state"] for m in others} == {"baselined"}

    listed = adopted_file(
        "audit", "--no-record", "--policies", policies, "--baseline", adopted_file.run
    )
    notes = [line for line in _listed(listed.stdout) if "[worse than its baseline: " in line]
    assert len(notes) == len(worse)


def test_an_expired_baseline_entry_no_longer_hides(adopted_file: Any, tmp_path: Path) -> None:
    expired, valid = tmp_path / "expired.yaml", tmp_path / "valid.yaml"
    for path, expires in ((expired, "2025-05-31"), (valid, AS_OF)):
        written = adopted_file("runs", "baseline", "latest", "-o", path, "--expires-at", expires)
        assert written.exit_code == 0, written.stderr
    gone = adopted_file("audit", "--no-record", "--baseline", expired, "--format", "json")
    assert gone.exit_code == 1
    report = _json(gone)
    assert {m["state"] for m in report["baseline"]["matches"]} == {"expired"}
    assert len(_counted(report)) == sum(1 for f in report["findings"] if _blocks(f))
    text = adopted_file("audit", "--no-record", "--baseline", expired)
    assert "[baseline entry expired 2025-05-31]" in text.stdout
    # valid up to and including expires_at, like a waiver
    kept = adopted_file("audit", "--no-record", "--baseline", valid)
    assert kept.exit_code == 0, kept.stdout


# ------------------------------------------------------------------- bad baseline files


def _first_line_with(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _mutations(text: str) -> dict[str, tuple[str, int, str]]:
    """name: (the broken file's text, the line the error must name, what it must say)."""
    lines = text.splitlines(keepends=True)
    outcome = _first_line_with(text, "outcome: ")
    first_id = _first_line_with(text, "- id: ")
    entries = _first_line_with(text, "entries:")
    version = _first_line_with(text, "schema_version: ")
    item = next(line for line in lines if line.startswith("- id: "))
    block = lines[first_id - 1 : outcome + 2]  # the first entry's id, outcome and severity
    return {
        "bad-outcome": (
            "".join([*lines[: outcome - 1], "  outcome: failed\n", *lines[outcome:]]),
            outcome,
            "field 'entries[0].outcome'",
        ),
        "unknown-field": (
            "".join([*lines[:first_id], "  colour: red\n", *lines[first_id:]]),
            first_id + 1,
            "field 'entries[0].colour': unknown field",
        ),
        "bad-id": (
            text.replace(item, "- id: not-a-finding-id\n", 1),
            first_id,
            "field 'entries[0].id'",
        ),
        "listed-twice": (text + "".join(block), len(lines) + 1, "is listed twice"),
        "no-entries": (
            "".join(lines[: entries - 1]),
            version,
            "field 'entries': required field is missing",
        ),
        "newer-format": (
            text.replace("schema_version: 1", "schema_version: 2"),
            version,
            "field 'schema_version'",
        ),
        "not-a-mapping": ("- just\n- a list\n", 1, "baseline: "),
        "invalid-yaml": (text + "entries: [\n", len(lines) + 2, "invalid YAML"),
        "two-documents": (text + "---\nentries: []\n", len(lines) + 2, "one YAML document"),
    }


MUTATIONS = [
    "bad-outcome",
    "unknown-field",
    "bad-id",
    "listed-twice",
    "no-entries",
    "newer-format",
    "not-a-mapping",
    "invalid-yaml",
    "two-documents",
]


@pytest.mark.parametrize("case", MUTATIONS)
def test_a_bad_baseline_file_is_an_error_naming_file_and_line(
    adopted_file: Any, tmp_path: Path, case: str
) -> None:
    good = tmp_path / "good.yaml"
    assert adopted_file("runs", "baseline", "latest", "-o", good).exit_code == 0
    text, line, message = _mutations(good.read_text(encoding="utf-8"))[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    runs_before = adopted_file("runs", "list", "--format", "json").stdout
    result = adopted_file("audit", "--baseline", bad)
    assert result.exit_code == 2, result.stdout
    assert f"{bad}:{line}: " in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
    assert (
        adopted_file("runs", "list", "--format", "json").stdout == runs_before
    )  # nothing recorded


def test_a_bad_json_baseline_names_its_line(adopted_file: Any, tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert adopted_file("runs", "baseline", "latest", "-o", path).exit_code == 0
    text = path.read_text(encoding="utf-8")
    line = _first_line_with(text, '"severity": ')
    path.write_text(text.replace('"severity": "', '"severity": "very ', 1), encoding="utf-8")
    result = adopted_file("audit", "--no-record", "--baseline", path)
    assert result.exit_code == 2
    assert f"{path}:{line}: baseline: field 'entries[0].severity'" in result.stderr


# ------------------------------------------------------------ errors never pass


def test_no_error_passes_because_of_a_baseline(adopted_file: Any, tmp_path: Path) -> None:
    broken = tmp_path / "policies"
    broken.mkdir()
    (broken / "p.yaml").write_text("policies:\n  - id: T-1\n    title: [unclosed\n")
    cases: list[tuple[list[str | Path], dict[str, str | None] | None, str]] = [
        ([], {"AIGOV_INJECT_FAULT": "deepseek-r1"}, "deepseek-r1"),
        (["--policies", broken], None, "p.yaml"),
        (["--baseline", "no-such-run"], None, "no run 'no-such-run'"),
        (["--baseline", tmp_path / "missing.yaml"], None, "missing.yaml"),
        (["--since", "latest"], None, "--since and --baseline"),
    ]
    for extra, env, message in cases:
        args: list[str | Path] = ["audit", "--no-record"]
        if "--baseline" not in extra:
            args += ["--baseline", "latest"]
        result = adopted_file(*args, *extra, env=env)
        assert result.exit_code == 2, (extra, result.stdout, result.stderr)
        assert message in result.stderr, (extra, result.stderr)
    # a baseline does not make an audit of nothing pass
    baseline = tmp_path / "baseline.yaml"
    assert adopted_file("runs", "baseline", "latest", "-o", baseline).exit_code == 0
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert adopted_file.cli("init", "--db", empty).exit_code == 0
    nothing = adopted_file.cli("audit", "--db", empty, "--no-record", "--baseline", baseline)
    assert nothing.exit_code == 2 and "holds no models" in nothing.stderr
