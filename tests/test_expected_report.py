"""The JSON report of the example registry, byte for byte.

Guards refactorings ("no change of behaviour") and determinism across checkouts: the stored
report was made in another directory, so any absolute path or location-dependent digest
in the output fails this test. When a change is meant to alter the report, regenerate it with
``AIGOV_UPDATE_EXPECTED=1 python -m pytest tests/test_expected_report.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from aigov.shipped import shipped
from aigov_testing.cli import invoke_cli

EXPECTED = Path(__file__).parent / "expected" / "example-audit-2025-06-01.json"


def test_example_registry_json_report_is_byte_identical(tmp_path: Path) -> None:
    imported = invoke_cli(tmp_path, "registry", "import", shipped("examples"))
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "report.json"
    audit = invoke_cli(tmp_path, "audit", "--as-of", "2025-06-01", "--format", "json", "-o", out)
    assert audit.exit_code == 1, audit.output  # the example registry holds blocking findings
    if os.environ.get("AIGOV_UPDATE_EXPECTED"):
        EXPECTED.write_bytes(out.read_bytes())
    assert out.read_bytes() == EXPECTED.read_bytes()
