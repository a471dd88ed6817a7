"""The README's main command (`aigov demo`) and the CI recipe in examples/ci."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CI_DIR = ROOT / "examples" / "ci"


def test_demo_runs_the_seed_case_end_to_end(cli, work_dir: Path) -> None:
    result = cli("demo")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Gate: may deepseek-r1 be deployed to azure-ai-foundry/eastus/prod?" in out
    assert "  DENY (" in out
    assert "INV-001" in out and "inv-garante-deepseek" in out
    assert "inv-msft-openai-deepseek-distillation" in out
    report = work_dir / "aigov-report.html"
    assert f"HTML report: {report}" in out
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "deepseek-r1" in html
    assert not (work_dir / "aigov.db").exists()  # the demo's registry is temporary


def _gate_script(db: Path, *manifests: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIGOV_DB": f"sqlite:///{db}",
        "AIGOV_GATE_ARGS": "--as-of 2025-06-01",
    }
    return subprocess.run(
        ["bash", str(CI_DIR / "gate.sh"), *map(str, manifests)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_ci_gate_script_denies_the_seed_case_and_allows_the_control(cli, tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    assert (
        cli(
            "registry", "import", "--db", f"sqlite:///{db}", ROOT / "examples" / "registry"
        ).exit_code
        == 0
    )
    r1 = CI_DIR / "deployments" / "deepseek-r1-azure-eastus-prod.yaml"
    control = CI_DIR / "deployments" / "acme-support-7b-azure-eastus2-prod.yaml"
    both = _gate_script(db, r1, control)
    assert both.returncode == 1, both.stdout + both.stderr
    assert "DENY deepseek-r1 -> azure-ai-foundry/eastus/prod" in both.stdout
    assert "ALLOW acme-support-7b -> azure-ai-foundry/eastus2/prod" in both.stdout
    alone = _gate_script(db, control)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    broken = _gate_script(tmp_path / "missing.db", control)  # fails closed
    assert broken.returncode == 1
    assert "DENY (error:" in broken.stdout and "could not decide" in broken.stderr


# --------------------------------------------------------------------------- the workflow's
# selection of manifests to gate, run as shipped on a real git repository

GATE_STEP = "Gate the deployment manifests changed by this pull request"


def _manifest(name: str, region: str = "eastus") -> str:
    return (
        f"id: dep-{name}\nmodel: {name}\nplatform: azure-ai-foundry\nregion: {region}\n"
        "environment: prod\nexposure: customer_facing\nstatus: planned\n"
        "guardrails: [azure-content-safety]\napproval: appr-" + name + "\n"
    )


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _gate_step_script() -> str:
    """The shipped workflow's gate step, with the pull request's base branch filled in."""
    workflow = yaml.safe_load((CI_DIR / "github-actions.yml").read_text(encoding="utf-8"))
    steps = [s for s in workflow["jobs"]["gate"]["steps"] if s.get("name") == GATE_STEP]
    assert len(steps) == 1, "the workflow's gate step was renamed: update this test"
    assert "shell" not in steps[0]  # GitHub's default: bash -e
    return steps[0]["run"].replace("${{ github.base_ref }}", "main")


@pytest.fixture
def pull_request(tmp_path: Path) -> Path:
    """A repository whose branch, against origin/main, adds, modifies, renames-and-edits and
    deletes deployment manifests (and leaves one alone)."""
    repo = tmp_path / "repo"
    models = repo / "deploy" / "models"
    models.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for name in ("kept", "edited", "moved", "deleted"):
        (models / f"{name}.yaml").write_text(_manifest(name), encoding="utf-8")
    (repo / "README.md").write_text("manifests\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "checkout", "-q", "-b", "change")
    (models / "added.yaml").write_text(_manifest("added"), encoding="utf-8")
    (models / "added too.yml").write_text(_manifest("added-too"), encoding="utf-8")
    (models / "edited.yaml").write_text(_manifest("edited", "westeurope"), encoding="utf-8")
    _git(repo, "mv", "deploy/models/moved.yaml", "deploy/models/renamed.yaml")
    (models / "renamed.yaml").write_text(_manifest("moved", "westeurope"), encoding="utf-8")
    _git(repo, "rm", "-q", "deploy/models/deleted.yaml")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "change")
    # the premise: git itself sees the rename-with-edit as a rename
    status = _git(repo, "diff", "--name-status", "-M", "origin/main...HEAD")
    assert "R" in {line.split("\t")[0][:1] for line in status.splitlines()}, status
    return repo


def _run_gate_step(repo: Path, tmp_path: Path, deny: str = "") -> tuple[int, list[str], str]:
    """Run the shipped step with a stand-in ``aigov`` that records the manifests it is asked
    to gate (and denies those whose path contains ``deny``, when given)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "gated.log"
    log.write_text("", encoding="utf-8")
    fake = bin_dir / "aigov"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1" = gate ] && [ "$2" = --deployment ] || exit 2\n'
        f'printf "%s\\n" "$3" >> "{log}"\n'
        f'[ -n "{deny}" ] && [[ "$3" == *"{deny}"* ]] && exit 1\n'
        "exit 0\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RUNNER_TEMP": str(runner_temp),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", _gate_step_script()],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    gated = log.read_text(encoding="utf-8").splitlines()
    return done.returncode, gated, done.stdout + done.stderr


def test_ci_workflow_gates_added_modified_and_renamed_manifests(
    pull_request: Path, tmp_path: Path
) -> None:
    code, gated, output = _run_gate_step(pull_request, tmp_path)
    assert code == 0, output
    assert sorted(gated) == [
        "deploy/models/added too.yml",
        "deploy/models/added.yaml",
        "deploy/models/edited.yaml",
        "deploy/models/renamed.yaml",  # renamed and edited: gated under its new path
    ]


def test_ci_workflow_fails_on_any_deny_after_gating_every_manifest(
    pull_request: Path, tmp_path: Path
) -> None:
    code, gated, output = _run_gate_step(pull_request, tmp_path, deny="added.yaml")
    assert code != 0, output
    assert len(gated) == 4  # the DENY did not stop the others from being gated


def test_ci_workflow_fails_when_the_base_cannot_be_compared(
    pull_request: Path, tmp_path: Path
) -> None:
    _git(pull_request, "update-ref", "-d", "refs/remotes/origin/main")
    code, gated, output = _run_gate_step(pull_request, tmp_path)
    assert code != 0, output  # never a pass with nothing gated
    assert gated == []
