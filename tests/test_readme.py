"""The README is short, its set-up is the one CI runs, and its demo and tour print what it
shows: every ``console`` block is run (rules in :mod:`aigov_testing.doc_blocks`), so the
verdicts, exit codes and policy ids it shows cannot drift from what the commands print.
The links of the README and of docs/ lead to files that exist.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aigov_testing.doc_blocks import fenced_blocks, page_steps, run_page

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
MAX_LINES = 250


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def setup_commands() -> list[str]:
    """The set-up block's commands: the first ``sh`` block of the Set-up section."""
    blocks = fenced_blocks(_section(README.read_text(encoding="utf-8"), "Set-up"))
    sh = [b for b in blocks if b.info == "sh"]
    assert sh, "the Set-up section has no sh block"
    return [line for line in sh[0].lines if line.strip()]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES})"


def test_setup_is_two_commands_the_main_job_and_the_tests_ci_runs() -> None:
    install, tests = setup_commands()
    # the main job on the embedded defaults: the demo needs no registry, policies or flags
    assert install.endswith("&& aigov demo"), install
    assert "pip install" in install and "-e '.[test]'" in install, install
    cppflags = re.search(r"CPPFLAGS=(\S+)", install)
    assert cppflags, install
    ci = CI_RUN.read_text(encoding="utf-8")
    # .ci/run builds durable-rules with the same flag, installs the same extras, and runs
    # the README's test command as its test step
    assert cppflags.group(1) in ci
    assert "-e '.[test]'" in ci
    assert re.search(rf"^{re.escape(tests)}(\s|$)", ci, re.M), (
        f".ci/run does not run the README's test command {tests!r}"
    )
    assert tests == "python -m pytest"


def test_demo_and_tour_print_what_the_readme_shows(tmp_path: Path) -> None:
    steps = page_steps(README.read_text(encoding="utf-8"))
    commands = [c.argv[0] for s in steps if s.kind == "console" for c in s.commands]
    assert commands[0] == "demo" and {"registry", "audit", "gate", "explain"} <= set(commands)
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    shutil.copytree(REPO / "examples", cwd / "examples")
    run_page(README, cwd)
    assert (cwd / "aigov-report.html").is_file() and (cwd / "report.sarif").is_file()


_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _pages() -> list[Path]:
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page."""
    anchors = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"^#{1,6} (.*)$", line)):
            text = re.sub(r"[^\w\- ]", "", match[1].strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_links_lead_to_files_and_headings_that_exist() -> None:
    broken = []
    for page in _pages():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)  # code spans show links, they are none
        for match in _LINK.finditer(text):
            target = match["target"]
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
