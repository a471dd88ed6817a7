"""Which policies a command loads: the shipped library, a project's .aigov/policies folder,
--add-policies on top, --policies instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aigov.shipped import PROJECT_POLICIES, policy_roots, shipped
from aigov_testing.cli import invoke_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "registry"

CUSTOM = """\
id: ACME-900
title: Model without an owner
description: Every registered model names the team that owns it.
family: governance
severity: high
remediation: Record the owning team in the model's owner field.
message: "{{ model.name }} names no owner."
subject: {kind: model}
when:
  test: {model.owner: {missing: true}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = invoke_cli(tmp_path, "registry", "import", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    return tmp_path


def _policies_run(cwd: Path, *args: str) -> tuple[int, set[str], set[str]]:
    """The exit code, the ids of the policies evaluated, and of the policies with findings."""
    result = invoke_cli(
        cwd, "audit", "--as-of", "2025-06-01", "--no-record", "--format", "json", *args
    )
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        return 2, set(), set()
    report = json.loads(result.stdout)
    evaluated = {p["id"] for p in report["policies"]}
    return result.exit_code, evaluated, {f["policy"] for f in report["findings"]}


def _write(folder: Path, text: str = CUSTOM) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acme-900.yaml").write_text(text, encoding="utf-8")
    return folder


def test_add_policies_loads_on_top_of_the_shipped_library(project: Path) -> None:
    mine = _write(project / "mine")
    _, shipped_only, _ = _policies_run(project)
    code, evaluated, failing = _policies_run(project, "--add-policies", str(mine))
    assert code == 1
    assert evaluated == shipped_only | {"ACME-900"}
    assert "ACME-900" in failing and "TOS-001" in failing


def test_policies_replaces_the_library(project: Path) -> None:
    mine = _write(project / "mine")
    _, evaluated, failing = _policies_run(project, "--policies", str(mine))
    assert {p for p in evaluated if not p.startswith("AIGOV-")} == {"ACME-900"}
    assert "TOS-001" not in failing


def test_project_folder_is_loaded_without_options(project: Path) -> None:
    _, before, _ = _policies_run(project)
    assert "ACME-900" not in before
    _write(project / PROJECT_POLICIES)
    _, evaluated, failing = _policies_run(project)
    assert evaluated == before | {"ACME-900"}
    assert "ACME-900" in failing
    # --policies replaces the project folder together with the library
    other = _write(project / "other", CUSTOM.replace("ACME-900", "ACME-901"))
    _, replaced, _ = _policies_run(project, "--policies", str(other))
    assert {p for p in replaced if not p.startswith("AIGOV-")} == {"ACME-901"}


def test_a_shipped_id_on_top_of_the_library_is_an_error(project: Path) -> None:
    mine = _write(project / "mine", CUSTOM.replace("ACME-900", "TOS-001"))
    result = invoke_cli(project, "audit", "--no-record", "--add-policies", str(mine))
    assert result.exit_code == 2
    assert "duplicate policy id" in result.stderr and "TOS-001" in result.stderr


def test_gate_takes_add_policies(project: Path) -> None:
    mine = _write(project / "mine")
    args = ("gate", "qwen2.5-7b-instruct", "--platform", "aws-bedrock", "--region", "us-east-1")
    args += ("--as-of", "2025-06-01", "--no-record", "--format", "json")
    plain = json.loads(invoke_cli(project, *args).stdout)
    added = json.loads(invoke_cli(project, *args, "--add-policies", str(mine)).stdout)
    assert "ACME-900" not in {f["policy"] for f in plain["blocking"]}
    assert "ACME-900" in {f["policy"] for f in added["blocking"]}


def test_policy_roots(tmp_path: Path) -> None:
    library = shipped("policies")
    assert policy_roots(cwd=tmp_path) == [library]
    (tmp_path / PROJECT_POLICIES).mkdir(parents=True)
    assert policy_roots(cwd=tmp_path) == [library, tmp_path / PROJECT_POLICIES]
    mine = tmp_path / "mine"
    assert policy_roots([mine], cwd=tmp_path) == [mine]
    assert policy_roots((), [mine, library], cwd=tmp_path) == [
        library,
        tmp_path / PROJECT_POLICIES,
        mine,
    ]
