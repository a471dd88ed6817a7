"""Registry text never reaches a terminal, a CI log or a PR comment raw.

A record whose name, description or other text holds ANSI escape sequences, a backspace, a
carriage return or bidi overrides could recolour a log, overwrite the verdict line or make a
comment read other than it is. Every text output shows such characters escaped (``\\x1b``,
``\\u202e``): the text audit, the Markdown summary, ``aigov explain``, ``aigov runs diff``,
``aigov registry show`` and ``aigov registry list``.
"""

from __future__ import annotations

import copy
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from aigov.console import printable

# What a hostile record brings: colour and cursor movement, erase-line, backspace, carriage
# return, bell, a right-to-left override and isolate, left-to-right mark, zero-width space, a
# line separator, a C1 control (CSI) and a newline that would start a forged line.
EVIL = (
    "Evil\x1b[31m RED\x1b[0m\x1b[2K\b\b\r\x07"
    "\u202eTFEL\u202c\u2067iso\u2069\u200e\u200b\u2028\x9b31m"
    "\nPASS: 0 findings at or above high"
)
BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
AS_OF = "2025-06-01"
POLICY = """
policies:
  - id: HYG-001
    title: Every model is reviewed
    description: output hygiene test
    family: governance
    severity: high
    remediation: review the model
    message: "{{ model.name }}: {{ model.description }}"
    subject: {kind: model}
    when:
      test: {model.name: {exists: true}}
"""


def raw_controls(text: str) -> list[str]:
    """Characters in ``text`` that no output may hold raw: controls other than newline and
    tab, and the bidi controls."""
    return sorted(
        {
            c
            for c in text
            if (unicodedata.category(c) == "Cc" and c not in "\n\t")
            or c in BIDI
            or unicodedata.category(c) in ("Zl", "Zp")
        }
    )


def assert_clean(text: str, escape: str = "\\x1b") -> None:
    assert text, "the output is empty"
    assert raw_controls(text) == [], f"raw control characters in output: {text!r}"
    assert escape in text and "\\u202e" in text, "the characters are shown, escaped"
    assert "\nPASS: 0 findings" not in text, "a value started a line of its own"


def _registry(sample_registry: dict[str, Any], *, evil: bool) -> dict[str, Any]:
    data = copy.deepcopy(sample_registry)
    if evil:
        model = next(m for m in data["models"] if m["id"] == "gpt-4o")
        model["name"] = EVIL
        model["description"] = EVIL
        model["owner"] = EVIL
        data["providers"][0]["name"] = EVIL
    return data


@pytest.fixture
def hostile(cli, sample_registry, write_registry, tmp_path: Path) -> dict[str, str]:
    """A registry with the hostile text; run 1 (the shipped policies, no HYG-001 findings)
    recorded before it arrived."""
    db = f"sqlite:///{tmp_path / 'hygiene.db'}"
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(POLICY), encoding="utf-8")
    clean = write_registry("clean/registry.yaml", _registry(sample_registry, evil=False))
    assert cli("registry", "import", "--db", db, clean).exit_code == 0
    assert cli("audit", "--db", db, "--as-of", AS_OF, "-q").exit_code in (0, 1)
    evil = write_registry("evil/registry.yaml", _registry(sample_registry, evil=True))
    imported = cli("registry", "import", "--db", db, evil)
    assert imported.exit_code == 0, imported.stderr
    return {"db": db, "policy": str(policy)}


def _audit(cli: Any, hostile: dict[str, Any], *args: str) -> Any:
    """``aigov audit`` of the hostile registry with its policy, as of AS_OF."""
    return cli(
        "audit", "--db", hostile["db"], "--policies", hostile["policy"], "--as-of", AS_OF, *args
    )


def test_printable_escapes_controls_and_bidi_and_keeps_the_rest() -> None:
    assert printable("a\x1b[31mb\u202ec\nd\te\b") == "a\\x1b[31mb\\u202ec\\x0ad\\x09e\\x08"
    assert printable("line\n\tnext\x1b", keep_layout=True) == "line\n\tnext\\x1b"
    for ordinary in ("plain", "Déjà vu", "深度求索", "emoji 😀", "back\\slash", "a b"):
        assert printable(ordinary) == ordinary
    assert raw_controls(printable(EVIL)) == []
    assert raw_controls(printable(EVIL, keep_layout=True)) == []


def test_text_audit_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    result = _audit(cli, hostile, "-q")
    assert result.exit_code == 1, result.stderr
    assert "HYG-001" in result.stdout
    assert_clean(result.stdout)


def test_markdown_summary_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    result = _audit(cli, hostile, "-q", "--format", "markdown")
    assert result.exit_code == 1, result.stderr
    assert "| HYG\\-001 |" in result.stdout
    # escaped twice over: for the terminal (\x1b) and for Markdown (the backslash itself)
    assert raw_controls(result.stdout) == [], repr(result.stdout)
    assert "\\\\x1b" in result.stdout and "\\\\u202e" in result.stdout


def test_explain_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    result = cli(
        "explain",
        "gpt-4o",
        "--db",
        hostile["db"],
        "--policies",
        hostile["policy"],
        "--as-of",
        AS_OF,
    )
    assert result.exit_code in (0, 1), result.stderr
    assert "HYG-001" in result.stdout
    assert_clean(result.stdout)


def test_runs_diff_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    second = _audit(cli, hostile, "-q")
    assert second.exit_code in (0, 1), second.stderr
    result = cli("runs", "diff", "--db", hostile["db"], "latest~1", "latest")
    assert result.exit_code == 0, result.stderr
    assert "new" in result.stdout and "HYG-001 gpt-4o" in result.stdout
    assert_clean(result.stdout)


def test_audit_since_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    result = _audit(cli, hostile, "--since", "latest", "-q")
    assert result.exit_code == 1, result.stderr
    assert "HYG-001 gpt-4o" in result.stdout
    assert_clean(result.stdout)


@pytest.mark.parametrize("record", ["gpt-4o", "openai"])
def test_registry_show_shows_hostile_registry_text_escaped(cli, hostile, record: str) -> None:
    result = cli("registry", "show", record, "--db", hostile["db"])
    assert result.exit_code == 0, result.stderr
    assert_clean(result.stdout, escape="\\e[31m")  # YAML's own escape of ESC


def test_registry_list_shows_hostile_registry_text_escaped(cli, hostile) -> None:
    result = cli("registry", "list", "--db", hostile["db"])
    assert result.exit_code == 0, result.stderr
    assert_clean(result.stdout)
