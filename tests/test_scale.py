"""Team and scale behaviour: partition-parallel audits, worker failures, concurrent runs.

Uses the benchmark's synthetic registry generator (bench/generate.py) at a size where
``--workers 2`` really splits the work (more than one chunk of partitions).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aigov.evaluate.pipeline import PARTITION_CHUNK
from aigov_testing.registry_data import SYNTHETIC_POLICIES as POLICIES

ROOT = Path(__file__).resolve().parent.parent
MODELS = 2 * PARTITION_CHUNK + 50
AS_OF = "2025-06-01"


@pytest.fixture
def synthetic(cli, db_url: str, tmp_path: Path, bench_generator):
    generator = bench_generator
    files = tmp_path / "registry"
    generator.write(generator.generate(MODELS, seed=3), files)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text(textwrap.dedent(POLICIES))
    result = cli("registry", "import", "--db", db_url, files)
    assert result.exit_code == 0, result.stderr
    return {"db": db_url, "policies": policies}


def _audit(cli, synthetic, *extra: str, env: dict[str, str] | None = None):
    return cli(
        "audit",
        "--db",
        synthetic["db"],
        "--policies",
        synthetic["policies"],
        "--as-of",
        AS_OF,
        "--no-record",
        "--quiet",
        *extra,
        env=env,
    )


def test_workers_give_byte_identical_json(cli, synthetic) -> None:
    one = _audit(cli, synthetic, "--workers", "1", "--format", "json")
    two = _audit(cli, synthetic, "--workers", "2", "--format", "json")
    assert one.exit_code == two.exit_code == 1
    assert one.stdout == two.stdout
    data = json.loads(one.stdout)
    assert len(data["models"]) == MODELS
    policies = {f["policy"] for f in data["findings"]}
    assert {"HOST-S1", "LIN-S1", "GOV-S1"} <= policies  # the synthetic shape exercises all three
    sarif_one = _audit(cli, synthetic, "--workers", "1", "--format", "sarif")
    sarif_two = _audit(cli, synthetic, "--workers", "2", "--format", "sarif")
    assert sarif_one.stdout == sarif_two.stdout


def test_a_failing_worker_fails_the_run_naming_the_partition(cli, synthetic) -> None:
    victim = f"model-{PARTITION_CHUNK + 7:06d}"  # in the second chunk: a worker evaluates it
    result = _audit(cli, synthetic, "--workers", "2", env={"AIGOV_INJECT_FAULT": victim})
    assert result.exit_code == 2
    assert victim in result.stderr
    assert result.stdout == ""  # no partial report


def test_concurrent_audits_record_both_runs(aigov_process, synthetic) -> None:
    args = [
        "audit",
        "--db",
        synthetic["db"],
        "--policies",
        str(synthetic["policies"]),
        "--as-of",
        AS_OF,
        "--quiet",
        "--workers",
        "1",
        "--format",
        "json",
    ]
    first = aigov_process.start(*args)
    second = aigov_process.start(*args)
    out_first, err_first = first.communicate(timeout=600)
    out_second, err_second = second.communicate(timeout=600)
    assert first.returncode == 1, err_first
    assert second.returncode == 1, err_second
    assert out_first == out_second
    listing = aigov_process.run("runs", "list", "--db", synthetic["db"], "--format", "json")
    runs = json.loads(listing.stdout)
    assert len(runs) == 2
    assert runs[0]["registry_digest"] == runs[1]["registry_digest"]
    assert runs[0]["counts"] == runs[1]["counts"]
