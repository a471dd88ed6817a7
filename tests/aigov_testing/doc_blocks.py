"""The documentation as tests: the code blocks of README.md and docs/*.md, run.

A page is read top to bottom as a list of steps, run in one scratch working directory:

``# file: PATH`` blocks
    A fenced block (YAML, JSON, ...) whose first line is ``# file: PATH`` is written to PATH,
    relative to the working directory (a later block with the same PATH replaces it).
``console`` blocks
    ``$ aigov ARGS...`` lines are commands (a trailing ``\\`` continues one; leading
    ``NAME=value`` words set environment variables). A comment ``# exit N`` on a command is
    its expected exit code (default 0). The lines after a command are output it must print,
    in that order (stdout and stderr together, as a terminal shows them):

    - ``...`` alone stands for any number of lines;
    - a line ending in ``...`` matches a printed line that starts with what comes before;
    - any other line must equal a printed line.

    Lines are compared with runs of spaces collapsed and grammatical number ignored
    (``3 finding(s)``, ``3 findings``; ``1 file``, ``1 files``). And the findings shown are
    all the findings printed: when a command's output shows finding lines of a kind (the
    gate's ``[high] INV-001 ...``, explain's ``INV-001 [high] FAIL ...``, the audit's
    ``high fail INV-001 ...``), their policy ids, in order, are those the command printed.
``python`` blocks
    Run with this Python in the working directory; they must exit 0. The next fenced block,
    if it is a ``text`` block, is output the code must print (the same rules).

Commands run in-process through :func:`aigov_testing.cli.invoke_cli`, with ``NO_COLOR=1``.
Other blocks (``sh``, ``yaml`` without a ``# file:`` line, ``text`` after prose) are
illustrations and are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aigov_testing.cli import invoke_cli
from aigov_testing.env import AIGOV_ENV

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`]*)$")
_FILE = re.compile(r"^#\s*file:\s*(?P<path>\S+)\s*$")
_EXIT = re.compile(r"\bexit (?P<code>\d+)\b")
_ENV_WORD = re.compile(r"^[A-Z_][A-Z0-9_]*=")

_SEVERITY = r"(?:critical|high|medium|low|info)"
_ID = r"(?P<id>[A-Za-z][A-Za-z0-9._-]*)(?=[\s:]|$)"
# Finding lines by kind, matched on normalised lines: each yields the policy id.
FINDING_LINES = {
    "gate": re.compile(rf"^\[{_SEVERITY}\] {_ID}"),
    "explain": re.compile(rf"^{_ID} \[{_SEVERITY}\] [A-Z_]+\b"),
    "audit": re.compile(rf"^{_SEVERITY} (?:fail|review|indeterminate|waived) {_ID}"),
}


@dataclass
class Block:
    """One fenced code block: its info string (``console``, ``yaml`` ...), its lines, and
    the line of the page its first line is on."""

    info: str
    lines: list[str]
    line: int


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str]
    exit_code: int
    expected: list[str]
    line: int
    text: str


@dataclass
class Step:
    """A file to write, commands to run, or Python code to run (with its expected output)."""

    kind: str  # "file" | "console" | "python"
    line: int
    path: str = ""
    content: str = ""
    commands: list[Command] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)


def fenced_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    open_fence: tuple[str, str, int] | None = None
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if open_fence is None:
            if match:
                open_fence = (match["fence"], match["info"].strip(), number + 1)
                body = []
            continue
        fence, info, first = open_fence
        if match and match["fence"] == fence and not match["info"].strip():
            blocks.append(Block(info.split()[0] if info else "", body, first))
            open_fence = None
            continue
        body.append(line)
    assert open_fence is None, f"unclosed code block at line {open_fence[2] - 1}"
    return blocks


def parse_console(block: Block) -> list[Command]:
    commands: list[Command] = []
    index = 0
    lines = block.lines
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            assert commands, f"line {block.line + index}: output before the first command"
            commands[-1].expected.append(line)
            index += 1
            continue
        start = index
        text = line[2:]
        while text.endswith("\\"):
            index += 1
            text = text[:-1] + " " + lines[index].strip()
        index += 1
        words = shlex.split(text, comments=True)
        comment_match = re.search(r"(?:^|\s)#(.*)$", text)
        comment = comment_match[1] if comment_match else ""
        env: dict[str, str] = {}
        while words and _ENV_WORD.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words and words[0] == "aigov", (
            f"line {block.line + start}: only aigov commands are run, not {text!r}"
        )
        exit_match = _EXIT.search(comment)
        commands.append(
            Command(
                argv=words[1:],
                env=env,
                exit_code=int(exit_match["code"]) if exit_match else 0,
                expected=[],
                line=block.line + start,
                text=text,
            )
        )
    return commands


def page_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    blocks = fenced_blocks(text)
    for index, block in enumerate(blocks):
        if block.lines and (match := _FILE.match(block.lines[0])):
            content = "\n".join(block.lines[1:]) + "\n"
            steps.append(Step("file", block.line, path=match["path"], content=content))
        elif block.info == "console":
            steps.append(Step("console", block.line, commands=parse_console(block)))
        elif block.info == "python":
            after = blocks[index + 1] if index + 1 < len(blocks) else None
            expected = after.lines if after is not None and after.info == "text" else []
            steps.append(
                Step("python", block.line, content="\n".join(block.lines) + "\n", expected=expected)
            )
    return steps


def normalise(line: str) -> str:
    text = " ".join(line.split())
    text = re.sub(r"(\w)\(s\)", r"\1s", text)
    return re.sub(r"\b1 (\w+?)s\b", r"1 \1", text)


def finding_ids(lines: list[str], kind: str) -> list[str]:
    pattern = FINDING_LINES[kind]
    ids = []
    for line in lines:
        shown = normalise(line)
        shown = shown[:-3].rstrip() if shown.endswith("...") else shown
        if match := pattern.match(shown):
            ids.append(match["id"])
    return ids


def output_problems(expected: list[str], printed: str) -> list[str]:
    """What is wrong with ``printed`` against the ``expected`` lines (see the module
    docstring); empty when it matches."""
    actual = [normalise(line) for line in printed.splitlines()]
    problems: list[str] = []
    position = 0
    for line in expected:
        shown = normalise(line)
        if not shown or shown == "...":
            continue
        prefix = shown[:-3].rstrip() if shown.endswith("...") else None
        for index in range(position, len(actual)):
            if (prefix is not None and actual[index].startswith(prefix)) or actual[index] == shown:
                position = index + 1
                break
        else:
            problems.append(f"shown line not printed (in this order): {line.strip()!r}")
    for kind in FINDING_LINES:
        shown_ids = finding_ids(expected, kind)
        if shown_ids and shown_ids != finding_ids(printed.splitlines(), kind):
            problems.append(
                f"findings shown {shown_ids}, printed {finding_ids(printed.splitlines(), kind)}"
            )
    return problems


def run_page(path: Path, cwd: Path) -> None:
    """Run every step of the page at ``path`` in ``cwd``; fail naming the page line of the
    first step whose exit code or output differs from what the page shows."""
    for step in page_steps(path.read_text(encoding="utf-8")):
        where = f"{path.name}:{step.line}"
        if step.kind == "file":
            target = cwd / step.path
            assert not Path(step.path).is_absolute() and ".." not in Path(step.path).parts
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.content, encoding="utf-8")
        elif step.kind == "console":
            for command in step.commands:
                result = invoke_cli(cwd, *command.argv, env={"NO_COLOR": "1", **command.env})
                where = f"{path.name}:{command.line}: $ {command.text}"
                assert result.exit_code == command.exit_code, (
                    f"{where}\nexit code {result.exit_code}, the page shows {command.exit_code}"
                    f"\n{result.output}"
                )
                problems = output_problems(command.expected, result.output)
                assert not problems, f"{where}\n" + "\n".join(problems) + f"\n---\n{result.output}"
        else:
            env = {k: v for k, v in os.environ.items() if k not in AIGOV_ENV}
            done = subprocess.run(
                [sys.executable, "-c", step.content],
                cwd=cwd,
                env={**env, "NO_COLOR": "1"},
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr}"
            problems = output_problems(step.expected, done.stdout)
            assert not problems, f"{where}\n" + "\n".join(problems) + f"\n---\n{done.stdout}"
