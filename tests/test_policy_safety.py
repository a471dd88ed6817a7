"""Policies cannot make a verdict meaningless or hang it: an empty policy set is an error,
regular expressions run in linear time (RE2), and message templates render within a budget.

Everything goes through the real CLI; the commands that used to hang or abort run as real
processes with a timeout as the hang guard (the timeouts are generous, not benchmarks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

AS_OF = "2025-06-01"
LONG = "a" * 5001  # matches (a+)+$ at once
NEAR = "a" * 5000 + "!"  # 5,001 characters on which backtracking (a+)+$ never returns
HANG_GUARD = 20  # seconds; the pathological cases used to run for minutes, or forever

REGISTRY = {
    "providers": [{"id": "acme", "name": "Acme"}],
    "models": [
        {"id": "long", "name": LONG, "provider": "acme", "owner": "o"},
        {"id": "near", "name": NEAR, "provider": "acme", "owner": "o"},
    ],
}

GATE = ["long", "--platform", "azure-ai-foundry", "--region", "eastus", "--environment", "prod"]


def policy_doc(
    message: str = "{{ model.id }} matched",
    *,
    pid: str = "T-1",
    when: object = None,
    subject: object = None,
) -> dict:
    return {
        "id": pid,
        "title": "test policy",
        "description": "test",
        "family": "governance",
        "severity": "high",
        "remediation": "fix it",
        "message": message,
        "subject": subject or {"kind": "model"},
        "when": when if when is not None else {"test": {"model.name": {"regex": "^a"}}},
    }


def write_policy(folder: Path, doc: dict, name: str = "p.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return path


def line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")


@pytest.fixture
def db(cli, sqlite_url: str, tmp_path: Path) -> str:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    result = cli("registry", "import", "--db", sqlite_url, path)
    assert result.exit_code == 0, result.stderr
    return sqlite_url


def _digest(cli, db: str) -> str:
    result = cli("registry", "export", "--db", db, "--format", "json")
    assert result.exit_code == 0
    return result.stdout


# --------------------------------------------------------------- 1. empty policy sets


def _only_tests(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "p.test.yaml").write_text(
        yaml.safe_dump({"cases": [{"name": "x", "registry": {}, "expect": []}]})
    )


def _only_derivations(folder: Path) -> None:
    folder.mkdir(parents=True)
    derivation = {
        "id": "named",
        "description": "d",
        "fields": {"m": "model.id"},
        "when": {"test": {"model.name": {"regex": "^a"}}},
    }
    (folder / "d.yaml").write_text(yaml.safe_dump({"derivations": [derivation]}))


EMPTY_SETS = {
    "empty-directory": lambda folder: folder.mkdir(parents=True),
    "only-policy-tests": _only_tests,
    "only-derivations": _only_derivations,
}


@pytest.mark.parametrize("kind", sorted(EMPTY_SETS))
def test_gate_on_an_empty_policy_set_is_an_error_not_allow(
    cli, db: str, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "policies"
    EMPTY_SETS[kind](folder)
    before = _digest(cli, db)
    result = cli("gate", *GATE, "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert result.exit_code == 2, result.stderr[-3000:]
    assert "ALLOW" not in result.stdout
    assert result.stdout.startswith(f"DENY (error: no policies found in {folder}")
    assert _digest(cli, db) == before


@pytest.mark.parametrize("kind", sorted(EMPTY_SETS))
@pytest.mark.parametrize(
    "command", [["audit"], ["policy", "validate"], ["policy", "test"], ["policy", "list"]]
)
def test_every_command_refuses_an_empty_policy_set(
    cli, db: str, tmp_path: Path, kind: str, command: list[str]
) -> None:
    folder = tmp_path / "policies"
    EMPTY_SETS[kind](folder)
    if command == ["audit"]:
        args = ["audit", "--db", db, "--policies", folder, "--as-of", AS_OF]
    elif command == ["policy", "list"]:
        args = ["policy", "list", "--policies", folder]
    else:
        args = [*command, folder]
    result = cli(*args)
    assert result.exit_code == 2, result.stderr[-3000:]
    assert f"no policies found in {folder}" in result.stderr
    assert "the built-in policies do not make a policy set" in result.stderr


def test_several_empty_paths_are_all_named(cli, db: str, tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    _only_tests(second)
    args = ["--policies", first, "--policies", second]
    result = cli("gate", *GATE, "--db", db, *args, "--as-of", AS_OF)
    assert result.exit_code == 2
    assert f"no policies found in {first}, {second}" in result.stdout


def test_a_set_of_disabled_policies_is_an_error(cli, db: str, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    write_policy(folder, {**policy_doc(), "enabled": False})
    gate = cli("gate", *GATE, "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert gate.exit_code == 2
    assert gate.stdout.startswith(f"DENY (error: no enabled policies found in {folder}")
    audit = cli("audit", "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert audit.exit_code == 2
    assert "every policy found has 'enabled: false'" in audit.stderr


def test_one_policy_beside_the_tests_is_a_policy_set(cli, db: str, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    _only_tests(folder)
    write_policy(folder, policy_doc())
    assert cli("policy", "validate", folder).exit_code == 0
    gate = cli("gate", *GATE, "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert gate.exit_code == 1  # T-1 fails on "long": a real verdict
    assert gate.stdout.startswith("DENY")


# --------------------------------------------------------------- 11. regular expressions


def test_a_catastrophic_regex_audits_in_linear_time(aigov_process, db: str, tmp_path: Path):
    folder = tmp_path / "policies"
    write_policy(folder, policy_doc(when={"test": {"model.name": {"regex": "(a+)+$"}}}))
    common = ["--db", db, "--policies", folder, "--as-of", AS_OF]
    audit = aigov_process.run("audit", *common, "--format", "json", timeout=HANG_GUARD)
    assert audit.returncode == 1, audit.stderr
    findings = json.loads(audit.stdout)["findings"]
    assert [(f["policy"], f["subject"], f["message"]) for f in findings] == [
        ("T-1", "long", "long matched")
    ]
    gate = aigov_process.run("gate", "near", *GATE[1:], *common, timeout=HANG_GUARD)
    assert gate.returncode == 0, gate.stderr[-3000:]
    assert gate.stdout.startswith("ALLOW")
    assert gate.stderr == ""  # RE2 logs nothing


BAD_REGEXES = [
    ("(?<=Llama-)3", "look-around ((?=, (?!, (?<=, (?<!) is not supported"),
    ("^(?!Llama)", "look-around ((?=, (?!, (?<=, (?<!) is not supported"),
    (r"(a)\1", "backreferences are not supported"),
    ("(?P<x>a)(?P=x)", "backreferences are not supported"),
    ("a{4294967296}", "repetition count 4,294,967,296 in '{4294967296}' is larger than 1000"),
    ("a{2,1001}", "repetition count 1,001 in '{2,1001}' is larger than 1000"),
    ("a{,3}", "'{,3}' needs a lower bound: write '{0,3}'"),
    ("^Llama(", "missing ): ^Llama("),
]


@pytest.mark.parametrize(("pattern", "message"), BAD_REGEXES)
def test_a_regex_re2_cannot_run_is_a_validation_error(
    cli, db: str, tmp_path: Path, pattern: str, message: str
) -> None:
    folder = tmp_path / "policies"
    path = write_policy(folder, policy_doc(when={"test": {"model.name": {"regex": pattern}}}))
    where = f"{path}:{line_of(path, 'regex')}: policy 'T-1': field 'when.test.model.name.regex'"
    validate = cli("policy", "validate", folder)
    assert validate.exit_code == 2
    assert where in validate.stderr
    assert message in validate.stderr
    assert "regexes use the RE2 syntax" in validate.stderr
    assert "internal error" not in validate.stderr
    before = _digest(cli, db)
    gate = cli("gate", *GATE, "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert gate.exit_code == 2
    assert gate.stdout.startswith("DENY (error: invalid policies")
    assert message in gate.stdout + gate.stderr
    audit = cli("audit", "--db", db, "--policies", folder, "--as-of", AS_OF)
    assert audit.exit_code == 2 and where in audit.stderr
    assert _digest(cli, db) == before


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        (r"^llama\b", "llama 3", True),
        ("(?i)BUILT WITH", "Built with Llama", True),
        ("[[:digit:]]{3}", "v100", True),
        (r"\{99999\}", "{99999}", True),  # an escaped brace is no repetition
        ("[{]{2}", "{{", True),
        ("^a{1000}$", "a" * 1000, True),
        ("é$", "café", True),
        ("[^a-c]", "abc", False),
    ],
)
def test_re2_patterns_match_as_written(
    cli, sqlite_url: str, tmp_path: Path, pattern: str, name: str, matches: bool
) -> None:
    registry = tmp_path / "r.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "providers": [{"id": "acme", "name": "Acme"}],
                "models": [{"id": "m", "name": name, "provider": "acme"}],
            },
            allow_unicode=True,
        )
    )
    assert cli("registry", "import", "--db", sqlite_url, registry).exit_code == 0
    folder = tmp_path / "policies"
    write_policy(folder, policy_doc(when={"test": {"model.name": {"regex": pattern}}}))
    result = cli("audit", "--db", sqlite_url, "--policies", folder, "--as-of", AS_OF)
    assert result.exit_code == (1 if matches else 0), result.stderr[-3000:]


# --------------------------------------------------------------- 12. message templates

STATIC_BUDGET = [
    ("{{ 'x' * 1000000000 }}", "a repeated string or list would be 1,000,000,000 long"),
    ("{{ 2**100000000 }}", "2 ** 100000000 is too large a number"),
    ("{{ model.name * 300000000 }}", "model.name * 300,000,000 would be more than 100,000"),
    ("{{ model.name.center(2000000000) }}", "the width of center 2,000,000,000 is larger"),
    ("{{ model.name|center(2000000000) }}", "the width of center 2,000,000,000 is larger"),
    ("{{ model.id.zfill(2000000000) }}", "the width of zfill 2,000,000,000 is larger"),
    ("{{ 'a{:>999999999}'.format(1) }}", "the format width 999,999,999 is larger"),
    ("{{ '%999999999s'|format(model.id) }}", "the '%' format width 999,999,999 is larger"),
    ("{{ ['x'] * 1000000 }}", "a repeated string or list would be 1,000,000 long"),
    ("{% for i in range(1000000) %}{% endfor %}", "range of 1,000,000 numbers"),
    ("{% set x = model.id %}{{ x }}", "'{% set %}' is not allowed in message templates"),
    ("{% macro f() %}{% endmacro %}{{ model.id }}", "'{% macro %}' is not allowed"),
    (
        "{% for x in model.tags recursive %}{{ loop(x) }}{% endfor %}",
        "recursive loops are not allowed",
    ),
]


@pytest.mark.parametrize(("message", "error"), STATIC_BUDGET)
def test_an_over_budget_template_is_a_validation_error(
    aigov_process, db: str, tmp_path: Path, message: str, error: str
) -> None:
    folder = tmp_path / "policies"
    path = write_policy(folder, policy_doc(message))
    where = f"{path}:{line_of(path, 'message:')}: policy 'T-1': field 'message'"
    validate = aigov_process.run("policy", "validate", folder, timeout=HANG_GUARD)
    assert validate.returncode == 2, validate.stderr[-3000:]
    assert where in validate.stderr and error in validate.stderr
    assert "internal error" not in validate.stderr
    gate = aigov_process.run(
        "gate", *GATE, "--db", db, "--policies", folder, "--as-of", AS_OF, timeout=HANG_GUARD
    )
    assert gate.returncode == 2
    assert gate.stdout.startswith("DENY (error: invalid policies")
    assert error in gate.stdout + gate.stderr


RUNTIME_BUDGET = [
    ("{{ model.name * 30 }}", "a repeated string or list would be 150,030 long"),
    (
        "{% for a in model.name %}{% for b in model.name %}{% endfor %}{% endfor %}",
        "loops ran more than 10000 iterations in one message",
    ),
    (
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        "loops ran more than 10000 iterations in one message",
    ),
    ("{{ model.name|replace('', model.name) }}", "the result of replace would be 25,020,003"),
    ("{{ model.name.replace('a', model.name) }}", "the result of replace() would be"),
    ("{{ model.name.center(100000 + 1) }}", "the width of center() 100,001 is larger"),
    ("{{ model.name ~ model.name|indent(100000) }}", "the result of indent would be"),
    ("{{ (model.name ~ ',')|list|join(model.name) }}", "join would be"),
    ("{{ ([model.name] * 30)|join }}", "the result of join would be 150,030 long"),
    ("{{ model.name + model.name * 19 }}", "would be 100,020 long"),
]


@pytest.mark.parametrize(("message", "error"), RUNTIME_BUDGET)
def test_an_over_budget_message_is_an_evaluation_error(
    aigov_process, db: str, tmp_path: Path, message: str, error: str
) -> None:
    folder = tmp_path / "policies"
    path = write_policy(folder, policy_doc(message))
    assert aigov_process.run("policy", "validate", folder, timeout=HANG_GUARD).returncode == 0
    common = ["--db", db, "--policies", folder, "--as-of", AS_OF]
    audit = aigov_process.run("audit", *common, timeout=HANG_GUARD)
    assert audit.returncode == 2, audit.stderr[-3000:]
    assert (
        f"{path}:1: policy 'T-1': field 'message': the message template exceeds its budget"
        in audit.stderr
    )
    assert error in audit.stderr
    assert "internal error" not in audit.stderr
    gate = aigov_process.run("gate", *GATE, *common, timeout=HANG_GUARD)
    assert gate.returncode == 2
    assert gate.stdout.startswith("DENY (error: cannot render a message:")
    assert error in gate.stdout + gate.stderr


TYPOS = [
    ("{{ model.nmae }}", None, "model has no field 'nmae' (did you mean 'name'?)"),
    (
        "{{ dep.platfrom }} of {{ model.id }}",
        {"as": "dep", "kind": "deployment"},
        "deployment has no field 'platfrom' (did you mean 'platform'?)",
    ),
    ("{{ subject.nmae }}", None, "model has no field 'nmae' (did you mean 'name'?)"),
    ("{{ policy.tite }}", None, "policy has no field 'tite' (did you mean 'title'?)"),
    ("{% if model.ownr %}x{% endif %}", None, "(did you mean 'owner'?)"),
]


@pytest.mark.parametrize(("message", "subject", "error"), TYPOS)
def test_a_template_field_typo_is_a_validation_error(
    cli, tmp_path: Path, message: str, subject: dict | None, error: str
) -> None:
    folder = tmp_path / "policies"
    path = write_policy(folder, policy_doc(message, subject=subject))
    result = cli("policy", "validate", folder)
    assert result.exit_code == 2
    assert f"{path}:{line_of(path, 'message:')}: policy 'T-1': field 'message'" in result.stderr
    assert error in result.stderr


GOOD_TEMPLATES = [
    ("{{ model.id }} {{ model.name|length }}", "long 5001"),
    ("{{ '%s!'|format(model.id) }} {{ '{}-{}'.format(1, 2) }}", "long! 1-2"),
    ("{% for t in [1, 2] %}{{ loop.index }}/{{ loop.length }} {% endfor %}", "1/2 2/2"),
    ("{{ model.name[:3] * 2 }} {{ 2 ** 10 }} {{ (model.name * 19)|length }}", "aaaaaa 1024 95019"),
    ("{{ model.items()|list|length > 0 }} {{ model.get('owner') }}", "True o"),
    ("{% for w in model.name|batch(2000) %}{{ w|length }},{% endfor %}", "2000,2000,1001,"),
]


@pytest.mark.parametrize(("message", "rendered"), GOOD_TEMPLATES)
def test_templates_within_the_budget_render_as_before(
    cli, db: str, tmp_path: Path, message: str, rendered: str
) -> None:
    folder = tmp_path / "policies"
    write_policy(folder, policy_doc(message, when={"test": {"model.id": "long"}}))
    result = cli("audit", "--db", db, "--policies", folder, "--as-of", AS_OF, "--format", "json")
    assert result.exit_code == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [(f["subject"], f["message"]) for f in findings] == [("long", rendered)]


@pytest.mark.parametrize("literal", [10**400, -(10**400)])
def test_a_number_literal_beyond_the_float_range_is_a_validation_error(
    cli, tmp_path: Path, literal: int
) -> None:
    folder = tmp_path / "policies"
    when = {"test": {"model.training_compute_flop": {"gt": literal}}}
    path = write_policy(folder, policy_doc(when=when))
    result = cli("policy", "validate", folder)
    assert result.exit_code == 2
    assert "internal error" not in result.stderr
    assert re.search(rf"{re.escape(str(path))}:\d+: policy 'T-1'", result.stderr), result.stderr
    assert "field 'when.test.model.training_compute_flop.gt': number too large" in result.stderr
