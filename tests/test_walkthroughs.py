"""The walkthroughs in docs/ are run: their files written, their commands and Python code
executed, and their outputs and exit codes compared with what the pages show (the rules are
in :mod:`aigov_testing.doc_blocks`).

Each page runs in an empty scratch directory holding copies of ``policies/`` and
``examples/``, as a checkout's root would, so that nothing a page writes lands in the
repository.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from aigov.policy.metadata import PolicyDoc
from aigov.results.severity import Family
from aigov_testing.cli import invoke_cli
from aigov_testing.doc_blocks import Step, output_problems, page_steps, run_page

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"

# The pages whose blocks run, and the steps each must have (so that a page cannot lose its
# blocks, or a block its marker, and still pass with nothing run).
PAGES = {
    "first-policy.md": {"file": 3, "console": 5},
    "own-registry.md": {"file": 4, "console": 7},
    "gate.md": {"console": 1},
    "python-api.md": {"console": 1, "python": 2},
}


def checkout_copy(tmp_path: Path) -> Path:
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    shutil.copytree(REPO / "policies", cwd / "policies")
    shutil.copytree(REPO / "examples", cwd / "examples")
    return cwd


def _counts(steps: list[Step]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.kind] = counts.get(step.kind, 0) + 1
    return counts


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_runs_as_shown(page: str, tmp_path: Path) -> None:
    path = DOCS / page
    assert _counts(page_steps(path.read_text(encoding="utf-8"))) == PAGES[page]
    run_page(path, checkout_copy(tmp_path))


def test_own_registry_starts_from_nothing(tmp_path: Path) -> None:
    """The walkthrough's first import fails and writes nothing: no database appears."""
    cwd = checkout_copy(tmp_path)
    steps = page_steps((DOCS / "own-registry.md").read_text(encoding="utf-8"))
    first_file = next(s for s in steps if s.kind == "file")
    (cwd / first_file.path).parent.mkdir(parents=True)
    (cwd / first_file.path).write_text(first_file.content, encoding="utf-8")
    assert invoke_cli(cwd, "registry", "import", "registry").exit_code == 2
    assert not (cwd / "aigov.db").exists()


def test_first_policy_explains_every_field_of_a_policy() -> None:
    text = (DOCS / "first-policy.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \| (?:yes|no) \|", text, re.M))
    assert rows == set(PolicyDoc.model_fields), (
        f"docs/first-policy.md's field table lacks {sorted(set(PolicyDoc.model_fields) - rows)}"
        f" and has unknown {sorted(rows - set(PolicyDoc.model_fields))}"
    )
    required = {name for name, info in PolicyDoc.model_fields.items() if info.is_required()}
    marked = set(re.findall(r"^\| `(\w+)` \| yes \|", text, re.M))
    assert marked == required
    families = set(re.findall(r"^\| `(\w+)` \| (?!yes|no)", text, re.M))
    assert {f.value for f in Family} <= families


# --------------------------------------------------------------------------- the matcher


def test_matcher_catches_a_wrong_verdict_count_and_missing_findings() -> None:
    printed = (
        "DENY m -> p/r/prod (3 finding(s) at or above high; as of 2025-06-01)\n"
        "  [high] HOST-003 (blocking, fail): no guardrail\n"
        "      evidence: x\n"
        "  [high] INV-001 (blocking, fail): investigation\n"
        "  [high] TOS-001 (blocking, review): outputs\n"
    )
    shown = [
        "DENY m -> p/r/prod (3 findings at or above high; as of 2025-06-01)",
        "  [high] HOST-003 (blocking, fail): ...",
        "...",
        "  [high] INV-001 (blocking, fail): ...",
        "  [high] TOS-001 (blocking, review): ...",
    ]
    assert output_problems(shown, printed) == []
    two = [shown[0].replace("3 findings", "2 findings"), *shown[1:]]
    assert output_problems(two, printed)  # the wrong count
    assert output_problems([shown[0], shown[1], shown[3]], printed)  # a finding left out
    assert output_problems([shown[0], shown[3], shown[1], shown[4]], printed)  # out of order
