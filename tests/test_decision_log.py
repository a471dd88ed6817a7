"""The gate decision log: every gate decision is recorded with what it was decided on, the
entries form a hash chain that `aigov decisions verify` checks (an edited, deleted, inserted or
moved entry is found and named), concurrent gates cannot fork the chain, and a decision that
cannot be recorded is never an ALLOW unless the user said so.

Through the real CLI against real databases (SQLite files, and PostgreSQL where the item
concerns the database) and real JSON-lines files.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from aigov import __version__
from aigov.api.decisions import open_log
from aigov.api.gate import gate as api_gate
from aigov.api.gate import read_deployment
from aigov.registry.store import open_registry
from aigov.results.decision_log import CI_VARIABLES, GENESIS, canonical, digest_of, seal
from aigov.shipped import shipped
from aigov_testing.cli import Cli, invoke_cli

AS_OF = "2025-06-01"
EXAMPLES = shipped("examples")
DEPLOYMENTS = EXAMPLES.parent / "ci" / "deployments"
if not DEPLOYMENTS.is_dir():  # an installed wheel ships the example registry, not the CI examples
    DEPLOYMENTS = Path(__file__).resolve().parent.parent / "examples/ci/deployments"
ALLOWED = DEPLOYMENTS / "acme-support-7b-azure-eastus2-prod.yaml"  # ALLOW as of AS_OF
DENIED = DEPLOYMENTS / "deepseek-r1-azure-eastus-prod.yaml"  # DENY as of AS_OF
# No CI variable of the machine running the tests leaks into the recorded context.
NO_CI: dict[str, str | None] = dict.fromkeys(CI_VARIABLES)
GITHUB = {"GITHUB_SHA": "0123456789abcdef", "GITHUB_RUN_ID": "4711", "GITHUB_REPOSITORY": "acme/m"}


def run_gate(cli: Cli, db: str, *args: str | Path, env: dict[str, str] | None = None) -> Any:
    # a developer's own AIGOV_DECISION_LOG must not receive the tests' decisions
    unset: dict[str, str | None] = {**NO_CI, "AIGOV_DECISION_LOG": None}
    return cli("gate", "--db", db, "--as-of", AS_OF, *args, env={**unset, **(env or {})})


def decisions(cli: Cli, *args: str | Path) -> Any:
    return cli("decisions", *args, env={"AIGOV_DECISION_LOG": None})


@pytest.fixture
def example(cli: Cli, db_url: str) -> str:
    """The example registry in the test database; its URL."""
    imported = cli("registry", "import", "--db", db_url, EXAMPLES)
    assert imported.exit_code == 0, imported.stderr
    return db_url


def _listing(cli: Cli, *args: str | Path) -> list[dict[str, Any]]:
    listed = decisions(cli, "list", "--format", "json", *args)
    assert listed.exit_code == 0, listed.stderr
    return json.loads(listed.stdout)


# ------------------------------------------------------------ what a decision records


def test_every_decision_is_recorded_with_what_it_was_decided_on(cli: Cli, example: str) -> None:
    allowed = run_gate(cli, example, "--deployment", ALLOWED, "--format", "json", env=GITHUB)
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    denied = run_gate(
        cli, example, "deepseek-r1", "--platform", "azure-ai-foundry", "--region", "eastus",
        "--exposure", "public_catalog", "--format", "json",
    )  # fmt: skip
    assert denied.exit_code == 1, denied.stdout + denied.stderr
    audit = json.loads(
        cli(
            "audit", "--db", example, "--as-of", AS_OF, "--no-record", "-q", "--format", "json"
        ).stdout
    )

    first, second = _listing(cli, "--db", example)
    given = yaml.safe_load(ALLOWED.read_text(encoding="utf-8"))
    assert {key: first["deployment"][key] for key in given} == given
    assert first["deployment"] == json.loads(allowed.stdout)["deployment"]
    assert first["deployment_source"] == str(ALLOWED)
    assert second["deployment_source"] == "command line"
    assert second["deployment"]["id"] == "proposed:deepseek-r1:azure-ai-foundry:eastus:prod"
    for entry, verdict in ((first, allowed), (second, denied)):
        decided = json.loads(verdict.stdout)
        assert entry["decision"] == decided["decision"]
        assert entry["exit_code"] == verdict.exit_code
        assert entry["model"] == decided["model"]
        assert [f["id"] for f in entry["blocking"]] == [f["id"] for f in decided["blocking"]]
        assert entry["policy_digest"] == audit["policy_digest"] == decided["policy_digest"]
        assert entry["registry_digest"] == audit["registry_digest"] == decided["registry_digest"]
        assert (entry["as_of"], entry["fail_on"]) == (AS_OF, "high")
        assert entry["tool_version"] == __version__
    assert first["decision"] == "ALLOW" and first["blocking"] == []
    assert second["decision"] == "DENY" and len(second["blocking"]) >= 1
    assert first["ci"] == GITHUB and second["ci"] == {}
    # the chain: numbered from 1, each entry holding the digest of the one before
    assert (first["seq"], first["prev"]) == (1, GENESIS)
    assert (second["seq"], second["prev"]) == (2, first["digest"])
    assert all(digest_of(e) == e["digest"] for e in (first, second))

    shown = decisions(cli, "show", "2", "--db", example, "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout) == second
    text = decisions(cli, "show", "latest", "--db", example)
    assert text.stdout.startswith("decision #2: DENY (exit 1)")
    assert second["blocking"][0]["id"] in text.stdout
    assert decisions(cli, "show", first["digest"][:10], "--db", example).exit_code == 0
    missing = decisions(cli, "show", "9", "--db", example)
    assert missing.exit_code == 2 and "no decision '9'" in missing.stderr
    verified = decisions(cli, "verify", "--db", example)
    assert verified.exit_code == 0, verified.stdout
    assert f"intact, 2 entries; head #2 {second['digest']}" in verified.stdout


def test_a_registry_made_before_the_log_gets_its_table(cli: Cli, example: str) -> None:
    engine = sa.create_engine(example, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE gate_decision"))
    engine.dispose()
    empty = decisions(cli, "list", "--db", example)
    assert empty.exit_code == 0 and empty.stdout == "No gate decisions recorded.\n"
    assert run_gate(cli, example, "--deployment", ALLOWED).exit_code == 0
    assert [e["seq"] for e in _listing(cli, "--db", example)] == [1]


def test_a_gate_that_could_not_decide_and_no_record_record_nothing(
    cli: Cli, example: str, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    unknown = run_gate(cli, example, "no-such-model", "--platform", "p", "--region", "r")
    assert unknown.exit_code == 2 and unknown.stdout.startswith("DENY (error:")
    quiet = run_gate(
        cli, example, "--deployment", ALLOWED, "--no-record", env={"AIGOV_DECISION_LOG": str(log)}
    )
    assert quiet.exit_code == 0 and quiet.stdout.startswith("ALLOW")
    assert _listing(cli, "--db", example) == []
    assert not log.exists()
    for clash in (["--decision-log", log], ["--require-log"], ["--no-require-log"]):
        refused = run_gate(cli, example, "--deployment", ALLOWED, "--no-record", *clash)
        assert refused.exit_code == 2, clash
        assert refused.stdout.startswith("DENY (error: --no-record records nothing")
    assert _listing(cli, "--db", example) == [] and not log.exists()


# ------------------------------------------------------ a decision that cannot be recorded


def _read_only(url: str) -> str:
    """The same database through a connection that cannot write (a read-only gate role)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    return parsed.update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    ).render_as_string(hide_password=False)


def test_an_unrecorded_allow_is_withheld_unless_the_user_says_so(
    cli: Cli, example: str, tmp_path: Path
) -> None:
    read_only = _read_only(example)
    for fmt in ("text", "json"):
        withheld = run_gate(cli, read_only, "--deployment", ALLOWED, "--format", fmt)
        assert withheld.exit_code == 2, withheld.stdout + withheld.stderr
        assert "ALLOW" not in withheld.stdout
        if fmt == "json":
            verdict = json.loads(withheld.stdout)
            assert (verdict["decision"], verdict["exit_code"]) == ("DENY", 2)
            assert "could not be recorded" in verdict["error"]
        else:
            assert withheld.stdout.startswith("DENY (error: the decision could not be recorded")
    given = run_gate(cli, read_only, "--deployment", ALLOWED, "--no-require-log")
    assert given.exit_code == 0 and given.stdout.startswith("ALLOW")
    assert "warning: the decision was not recorded" in given.stderr
    # a DENY stays a DENY, with or without --require-log
    for extra in ([], ["--no-require-log"]):
        denied = run_gate(cli, read_only, "--deployment", DENIED, *extra)
        assert denied.exit_code == 1 and denied.stdout.startswith("DENY deepseek-r1")
        assert "warning: the decision was not recorded" in denied.stderr
    assert _listing(cli, "--db", example) == []

    # a read-only gate role records to a file instead
    log = tmp_path / "decisions.jsonl"
    to_file = run_gate(cli, read_only, "--deployment", ALLOWED, "--decision-log", log)
    assert to_file.exit_code == 0 and to_file.stdout.startswith("ALLOW"), to_file.stderr
    assert [e["decision"] for e in _listing(cli, "--decision-log", log)] == ["ALLOW"]
    assert decisions(cli, "verify", "--decision-log", log).exit_code == 0
    assert _listing(cli, "--db", example) == []
    unwritable = tmp_path / "no-such-folder" / "decisions.jsonl"
    lost = run_gate(cli, example, "--deployment", ALLOWED, "--decision-log", unwritable)
    assert lost.exit_code == 2 and lost.stdout.startswith("DENY (error: the decision could not")
    assert "No such file or directory" in lost.stdout


# ------------------------------------------------------------------------- tampering


@pytest.fixture(scope="module")
def file_log(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Four decisions (ALLOW, DENY, ALLOW, DENY) in a JSON-lines log: its lines."""
    root = tmp_path_factory.mktemp("log")
    db = f"sqlite:///{root / 'aigov.db'}"
    assert invoke_cli(root, "registry", "import", "--db", db, EXAMPLES).exit_code == 0
    log = root / "decisions.jsonl"
    for descriptor in (ALLOWED, DENIED, ALLOWED, DENIED):
        invoke_cli(
            root, "gate", "--db", db, "--as-of", AS_OF, "--deployment", descriptor,
            "--decision-log", log, env=NO_CI,
        )  # fmt: skip
    return log.read_text(encoding="utf-8").splitlines(keepends=True)


def _resealed(line: str, **changes: Any) -> str:
    data = {**json.loads(line), **changes}
    data["digest"] = digest_of(data)
    return canonical(data) + "\n"


def _swap(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], lines[3]]


TAMPERING = {
    # name: (what is done to the lines, the first broken line, what verify says there)
    "edited": (
        lambda ls: [ls[0], ls[1].replace('"DENY"', '"ALLOW"'), *ls[2:]],
        2,
        "entry #2 was changed after it was recorded",
    ),
    "edited-and-resealed": (
        lambda ls: [ls[0], _resealed(ls[1], decision="ALLOW", exit_code=0), *ls[2:]],
        3,
        "chain broken at entry #3: the entry after #2 must be #3, chained to its digest "
        "(its prev is not the digest of #2: #2 was replaced)",
    ),
    "deleted": (lambda ls: [ls[0], *ls[2:]], 2, "chain broken at entry #3"),
    "first-deleted": (lambda ls: ls[1:], 1, "the log's first entry must be #1"),
    "reordered": (_swap, 2, "chain broken at entry #3"),
    "inserted": (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], 3, "chain broken at entry #2"),
    "cut-short": (lambda ls: [*ls[:3], ls[3][:40]], 4, "invalid JSON"),
    "not-an-entry": (
        lambda ls: [ls[0], _resealed(ls[1], decision="MAYBE"), *ls[2:]],
        2,
        "not a valid decision-log entry: field 'decision'",
    ),
}


def test_the_untouched_log_verifies(cli: Cli, file_log: list[str], tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(file_log), encoding="utf-8")
    verified = decisions(cli, "verify", "--decision-log", log)
    assert verified.exit_code == 0, verified.stdout
    assert "intact, 4 entries" in verified.stdout
    assert [e["decision"] for e in _listing(cli, "--decision-log", log)] == [
        "ALLOW", "DENY", "ALLOW", "DENY",
    ]  # fmt: skip


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
def test_a_tampered_log_fails_verify_naming_the_first_broken_entry(
    cli: Cli, file_log: list[str], tmp_path: Path, case: str
) -> None:
    tamper, line, message = TAMPERING[case]
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(tamper(list(file_log))), encoding="utf-8")
    text = decisions(cli, "verify", "--decision-log", log)
    assert text.exit_code == 1, text.stdout
    assert text.stdout.startswith(f"{log}: BROKEN at {log}:{line}: "), text.stdout
    assert message in text.stdout.splitlines()[0]
    report = json.loads(decisions(cli, "verify", "--decision-log", log, "--format", "json").stdout)
    assert report["intact"] is False and report["problems"][0]["location"] == f"{log}:{line}"


def test_a_log_cut_short_is_caught_by_an_anchor(
    cli: Cli, file_log: list[str], tmp_path: Path
) -> None:
    """Dropping the newest entries leaves a valid chain: only a digest kept elsewhere shows
    that entries are gone."""
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(file_log[:3]), encoding="utf-8")
    newest = json.loads(file_log[3])["digest"]
    kept = json.loads(file_log[2])["digest"]
    assert decisions(cli, "verify", "--decision-log", log).exit_code == 0
    assert decisions(cli, "verify", "--decision-log", log, "--anchor", kept[:12]).exit_code == 0
    cut = decisions(cli, "verify", "--decision-log", log, "--anchor", newest[:16])
    assert cut.exit_code == 1
    assert f"anchor {newest[:16]} is not the digest of any entry" in cut.stdout


def test_appending_to_a_broken_log_is_a_recording_failure(
    cli: Cli, example: str, file_log: list[str], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(file_log) + '{"seq": 5', encoding="utf-8")
    before = log.read_bytes()
    refused = run_gate(cli, example, "--deployment", ALLOWED, "--decision-log", log)
    assert refused.exit_code == 2 and refused.stdout.startswith("DENY (error: the decision")
    assert "cannot append to the decision log" in refused.stdout
    assert log.read_bytes() == before


def test_a_tampered_database_log_fails_verify(cli: Cli, example: str) -> None:
    for descriptor in (ALLOWED, DENIED, ALLOWED):
        assert run_gate(cli, example, "--deployment", descriptor).exit_code in (0, 1)
    assert decisions(cli, "verify", "--db", example).exit_code == 0
    engine = sa.create_engine(example, poolclass=sa.pool.NullPool)
    table = sa.table("gate_decision", sa.column("seq"), sa.column("entry"), sa.column("decision"))
    with engine.connect() as conn:
        rows = {r.seq: r for r in conn.execute(sa.select(sa.text("*")).select_from(table))}
    edited = rows[2].entry.replace('"exit_code":1', '"exit_code":0')  # not a copied column
    cases = [
        ([sa.update(table).where(table.c.seq == 2).values(entry=edited)], "row #2",
         "entry #2 was changed after it was recorded"),
        ([sa.update(table).where(table.c.seq == 2).values(decision="ALLOW")], "row #2",
         "its columns decision differ from its entry"),
        ([sa.delete(table).where(table.c.seq == 2)], "row #3", "chain broken at entry #3"),
    ]  # fmt: skip
    try:
        for statements, where, message in cases:
            with engine.begin() as conn:
                for statement in statements:
                    conn.execute(statement)
            broken = decisions(cli, "verify", "--db", example)
            assert broken.exit_code == 1, (message, broken.stdout)
            first = broken.stdout.splitlines()[0]
            assert f"BROKEN at {where}: " in first and message in first, first
            with engine.begin() as conn:  # restore the row
                conn.execute(sa.delete(table).where(table.c.seq == 2))
                conn.execute(sa.insert(sa.table("gate_decision", *map(sa.column, rows[2]._fields)))
                             .values(**rows[2]._mapping))  # fmt: skip
            assert decisions(cli, "verify", "--db", example).exit_code == 0
    finally:
        engine.dispose()


# ------------------------------------------------------------------------ concurrency


def _hammer(make_log: Any, decision: Any, threads: int = 4, each: int = 5) -> list[BaseException]:
    """``threads`` threads append ``each`` entries each, every one holding its place in the
    chain for a while (so that unserialised appends would overlap); the errors they hit."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def slow(seq: int, prev: str) -> dict[str, Any]:
        time.sleep(0.01)
        return seal(
            decision,
            seq=seq,
            prev=prev,
            recorded_at=dt.datetime.now(dt.UTC),
            deployment_source="test",
            ci={},
            tool_version=__version__,
        )

    def work() -> None:
        try:
            log, close = make_log()
            try:
                start.wait()
                for _ in range(each):
                    log.append(slow)
            finally:
                close()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return errors


def _decision(url: str) -> Any:
    return api_gate(
        url, read_deployment(ALLOWED), as_of=dt.date.fromisoformat(AS_OF), registry_digest=True
    )


def test_concurrent_gates_do_not_fork_the_database_chain(cli: Cli, example: str) -> None:
    def database_log() -> tuple[Any, Any]:
        registry = open_registry(example)
        return open_log(registry, None), registry.close

    assert _hammer(database_log, _decision(example)) == []
    entries = _listing(cli, "--db", example)
    assert [e["seq"] for e in entries] == list(range(1, 21))
    assert decisions(cli, "verify", "--db", example).exit_code == 0


def test_concurrent_gates_do_not_fork_the_file_chain(
    cli: Cli, sqlite_url: str, tmp_path: Path
) -> None:
    assert cli("registry", "import", "--db", sqlite_url, EXAMPLES).exit_code == 0
    path = tmp_path / "decisions.jsonl"
    assert _hammer(lambda: (open_log(None, path), lambda: None), _decision(sqlite_url)) == []
    assert [e["seq"] for e in _listing(cli, "--decision-log", path)] == list(range(1, 21))
    assert decisions(cli, "verify", "--decision-log", path).exit_code == 0


def test_reading_a_missing_or_invalid_log_is_an_error(cli: Cli, tmp_path: Path) -> None:
    missing = decisions(cli, "list", "--decision-log", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and "No such file or directory" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seq": 1}\n', encoding="utf-8")
    listed = decisions(cli, "list", "--decision-log", bad)
    assert listed.exit_code == 2 and f"{bad}:1: invalid decision-log entry" in listed.stderr
    verified = decisions(cli, "verify", "--decision-log", bad)
    assert verified.exit_code == 1 and f"BROKEN at {bad}:1: not a valid" in verified.stdout
