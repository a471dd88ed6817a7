"""The README's main command (`aigov demo`) and the CI recipe in examples/ci."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
