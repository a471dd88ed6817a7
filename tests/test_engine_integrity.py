"""The engine sees every fact and every number exactly (issue #10, items 8 and 10).

* Fact ids: durable-rules files a session's facts under a 32-bit FNV hash of their ``id``
  and rejects a second, different fact with the same hash as "already observed". Ids hold
  user-chosen record ids, so a record can be named to collide with another fact. The
  evaluator re-keys colliding ids; these tests build real collisions (a birthday search
  over ids, checked against the engine itself) and require the same findings as the same
  registry with ids that do not collide.
* Numbers: durable-rules reads an exponent only after a decimal point (``5e-324`` crashed
  it). Every finite double, and every 64-bit integer, must reach the engine exactly: checked
  by comparing values with their neighbours inside real durable-rules sessions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
import random
import string
import struct
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.compile.compiler import compile_policies
from aigov.compile.rules import REACH
from aigov.errors import AigovError
from aigov.evaluate.session import (
    EngineError,
    EngineIds,
    Evaluator,
    engine_id_hash,
    engine_id_hashes,
    engine_json,
)
from aigov.policy.loader import load_policies
from aigov.policy.schema import ENGINE_INT_MAX, ENGINE_INT_MIN, engine_number

AS_OF = "2025-06-01"
FNV_PRIME, MASK = 16777619, 0xFFFFFFFF
SIGNED_CHAR = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


# --------------------------------------------------------------------------- helpers


def _fnv_state(data: bytes, signed: bool) -> int:
    h = 0x811C9DC5
    for byte in data:
        if signed and byte >= 0x80:
            byte |= 0xFFFFFF00
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return h


def find_collision(prefix_a: str, prefix_b: str, signed: bool = SIGNED_CHAR) -> tuple[str, str]:
    """Suffixes (x, y) with hash(prefix_a + x) == hash(prefix_b + y): a birthday search over
    random 7-character [a-z0-9] suffixes (about a second; the same answer every run).
    Prefixes are hashed as the engine hashes ids (their JSON text, UTF-8)."""
    rng = random.Random(f"{prefix_a}\0{prefix_b}")
    alphabet = string.ascii_lowercase + string.digits

    def family(prefix: str) -> Any:
        start = _fnv_state(json.dumps(prefix, ensure_ascii=False)[1:-1].encode(), signed)
        while True:
            suffix = "".join(rng.choices(alphabet, k=7))
            h = start
            for byte in suffix.encode():
                h = ((h ^ byte) * FNV_PRIME) & MASK
            yield h, suffix

    table: dict[int, str] = {}
    for h, suffix in family(prefix_a):
        table[h] = suffix
        if len(table) >= 1 << 16:
            break
    for tries, (h, suffix) in enumerate(family(prefix_b)):
        if h in table and prefix_a + table[h] != prefix_b + suffix:
            return table[h], suffix
        if tries > 1 << 22:  # pragma: no cover - about 1 in 10**25
            raise AssertionError("no collision found")
    raise AssertionError("unreachable")  # pragma: no cover


class _Host:
    """A bare durable-rules host (no aigov rules) in which every fact of type x is kept."""

    def __init__(self) -> None:
        from durable import engine

        class SyncHost(engine.Host):
            def _run(self) -> None:
                pass

        self.engine = engine
        self.host = SyncHost()
        self.seen: list[str] = []
        self.host.set_rulesets(
            {"rs": {"r": {"all": [{"m": {"t": "x"}}], "run": self._seen, "dist": 0}}}
        )

    def _seen(self, c: Any) -> None:
        self.seen.append(c.m["key"])

    def rejects_second(self, first: str, second: str, sid: str) -> bool:
        """Whether the engine takes fact ``second`` for ``first`` (same session)."""
        self.host.assert_fact("rs", {"t": "x", "id": first, "key": "1", "sid": sid})
        try:
            self.host.assert_fact("rs", {"t": "x", "id": second, "key": "2", "sid": sid})
        except self.engine.MessageObservedException:
            return True
        return False


def _audit(cli: Any, tmp_path: Path, name: str, registry: dict[str, Any]) -> tuple[int, Any]:
    """Import ``registry`` into a fresh SQLite file and audit it with the shipped library:
    (exit code, the JSON report's findings)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    db = f"sqlite:///{folder / 'aigov.db'}"
    imported = cli("registry", "import", "--db", db, folder / "registry.yaml")
    assert imported.exit_code == 0, imported.stderr
    result = cli("audit", "--db", db, "--as-of", AS_OF, "--format", "json", "--no-record")
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)["findings"]


def _renamed(findings: Any, names: dict[str, str]) -> list[Any]:
    """Findings with ids renamed (``names``: colliding id -> neutral id), without the finding
    id (a digest of the content, so it changes with any id)."""
    text = json.dumps(findings, sort_keys=True)
    for old, new in names.items():
        text = text.replace(old, new)
    out = json.loads(text)
    for finding in out:
        finding.pop("id", None)
    return sorted(out, key=lambda f: json.dumps(f, sort_keys=True))


def _summary(findings: Any) -> set[tuple[str, str, str]]:
    return {(f["policy"], f["model"], f["outcome"]) for f in findings}


# --------------------------------------------------------------------------- item 8: ids


@pytest.mark.parametrize(
    ("prefix_a", "prefix_b"),
    [
        ("model|m-", "dataset|d-"),  # plain ASCII
        ('model|say "hi" \\ ', "lineage|e-"),  # JSON escapes: hashed as escaped text
        ("model|模型-é-", "provider|p-"),  # UTF-8 bytes (signed char on x86-64)
    ],
)
def test_engine_id_hash_is_the_engines_own(prefix_a: str, prefix_b: str) -> None:
    x, y = find_collision(prefix_a, prefix_b)
    first, second = prefix_a + x, prefix_b + y
    assert engine_id_hash(first) == engine_id_hash(second)
    host = _Host()
    # the engine itself takes the second for the first: the replication is exact ...
    assert host.rejects_second(first, second, sid="1")
    # ... and an id whose hash differs is accepted
    assert not host.rejects_second(first, second + "z", sid="2")
    # EngineIds gives the second another id, whose hash the engine accepts
    ids = EngineIds()
    assert ids.claim(("a",), first) == first
    rekeyed = ids.claim(("b",), second)
    assert rekeyed is not None and rekeyed != second and rekeyed.startswith(second)
    assert not host.rejects_second(first, rekeyed, sid="3")
    # the same fact again is a true duplicate; re-keying is deterministic
    assert ids.claim(("b",), second) is None
    again = EngineIds()
    again.claim(("a",), first)
    assert again.claim(("b",), second) == rekeyed


def test_non_ascii_ids_keep_both_char_signednesses_free() -> None:
    """A non-ASCII id hashes differently with signed and unsigned char (x86-64 / ARM): both
    are kept free, so a collision under either is re-keyed whatever the platform."""
    fact_id = "model|模型"
    assert len(engine_id_hashes(fact_id)) == 2
    x, y = find_collision("model|模型-", "dataset|d-", signed=not SIGNED_CHAR)
    ids = EngineIds()
    ids.claim(("a",), "model|模型-" + x)
    assert ids.claim(("b",), "dataset|d-" + y) != "dataset|d-" + y


def test_two_records_whose_ids_collide_are_both_evaluated(cli: Any, tmp_path: Path) -> None:
    """Base facts: models m-594788 and m-1213020 have fact ids with one engine hash, and the
    first is fine-tuned from the second, so both are in one session. Before: the engine took
    the second for the first and the audit failed (or lost it). Both must get their findings,
    exactly as with ids that do not collide."""
    a, b = "m-594788", "m-1213020"
    assert engine_id_hash(f"model|{a}") == engine_id_hash(f"model|{b}")
    assert _Host().rejects_second(f"model|{a}", f"model|{b}", sid="1")

    def registry(child: str, parent: str) -> dict[str, Any]:
        return {
            "providers": [{"id": "acme", "name": "Acme"}],
            "datasets": [{"id": "alpaca", "name": "Alpaca", "licences": ["CC-BY-NC-4.0"]}],
            "models": [
                {"id": child, "name": "Child", "provider": "acme", "licence": "Apache-2.0"},
                {"id": parent, "name": "Parent", "provider": "acme", "licence": "Apache-2.0"},
            ],
            "lineage": [
                {"id": "l-1", "child": child, "parent": parent, "relation": "finetune"},
                {"id": "l-2", "child": parent, "parent": "alpaca", "relation": "trained_on"},
            ],
        }

    code, colliding = _audit(cli, tmp_path, "colliding", registry(a, b))
    control_code, control = _audit(cli, tmp_path, "control", registry("child-x", "parent-x"))
    assert code == control_code == 1
    assert ("PROV-001", a, "fail") in _summary(colliding)
    assert ("PROV-001", b, "fail") in _summary(colliding)
    assert _renamed(colliding, {a: "child-x", b: "parent-x"}) == _renamed(control, {})


def test_a_derived_fact_whose_id_collides_still_gives_its_finding(cli: Any, tmp_path: Path) -> None:
    """Facts made outside the base records: PROV-001 reaches the dataset through a lineage
    walk's reach fact, id ``$reach|helpdesk|<dataset>``. The dataset and the lineage edge are
    named so that the reach fact's id collides with the edge's fact id. Before: the reach
    fact was silently dropped and the commercial model trained on non-commercial data
    passed."""
    compiled = compile_policies(load_policies(), dt.date.fromisoformat(AS_OF))
    walks = {
        walk
        for shard in compiled.shards
        for meta in shard.rules.values()
        if meta.policy == "PROV-001" and meta.role == "fail"
        for walk in meta.walks.values()
    }
    assert walks  # PROV-001 reads the lineage through a walk
    x, y = find_collision(f"{REACH}|helpdesk|ds-", "lineage|e-")
    dataset, edge = f"ds-{x}", f"e-{y}"
    assert engine_id_hash(f"{REACH}|helpdesk|{dataset}") == engine_id_hash(f"lineage|{edge}")
    assert _Host().rejects_second(f"lineage|{edge}", f"{REACH}|helpdesk|{dataset}", "1")

    def registry(dataset: str, edge: str) -> dict[str, Any]:
        return {
            "providers": [{"id": "acme", "name": "Acme"}],
            "datasets": [{"id": dataset, "name": "Alpaca", "licences": ["CC-BY-NC-4.0"]}],
            "models": [
                {"id": "helpdesk", "name": "Helpdesk", "provider": "acme", "licence": "MIT"}
            ],
            "lineage": [
                {"id": edge, "child": "helpdesk", "parent": dataset, "relation": "trained_on"}
            ],
        }

    code, colliding = _audit(cli, tmp_path, "colliding", registry(dataset, edge))
    control_code, control = _audit(cli, tmp_path, "control", registry("ds-control", "e-control"))
    assert code == control_code == 1
    assert ("PROV-001", "helpdesk", "fail") in _summary(colliding)
    assert _renamed(colliding, {dataset: "ds-control", edge: "e-control"}) == _renamed(control, {})


def test_a_fact_the_engine_still_takes_for_another_fails_the_run() -> None:
    """ "Already observed" is never swallowed: if the engine rejected a derived fact whose
    id hash was free (a replication bug), the action records an error and the partition
    fails (EngineError), instead of losing the fact."""
    import aigov.evaluate.session as session

    ids = EngineIds()
    # An identical id claimed twice under different identities gets a new id ...
    assert ids.claim(("derived", "t", "{}"), "t|x") == "t|x"
    assert ids.claim(("derived", "t", '{"a": 1}'), "t|x") == "t|x~1"
    # ... and the action code no longer suppresses MessageObservedException
    source = Path(session.__file__).read_text()
    assert "suppress(" not in source


# --------------------------------------------------------------------------- item 10: numbers


def _random_doubles(rng: random.Random, n: int) -> list[float]:
    out: list[float] = []
    while len(out) < n:
        kind = rng.randrange(4)
        if kind == 0:  # any bit pattern
            (v,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        elif kind == 1:  # a subnormal
            bits = rng.getrandbits(52) | (rng.getrandbits(1) << 63)
            (v,) = struct.unpack("<d", bits.to_bytes(8, "little"))
        elif kind == 2:  # one significant digit, written without a decimal point
            v = float(f"{rng.choice('-+')}{rng.randint(1, 9)}e{rng.randint(-324, 308)}")
        else:  # an ordinary magnitude
            v = rng.uniform(-1e6, 1e6)
        if math.isfinite(v):
            out.append(v)
    return out


SPECIAL: list[float | int] = [
    5e-324,
    -5e-324,
    1e-323,
    2.2250738585072014e-308,  # min normal
    math.nextafter(2.2250738585072014e-308, 0.0),  # max subnormal
    sys.float_info.max,
    -sys.float_info.max,
    0.0,
    -0.0,
    5e24,
    1e16,
    1e22,
    1e-05,
    2**53 + 1,
    2**62 + 3,
    ENGINE_INT_MAX,
    ENGINE_INT_MIN,
    -(2**53) - 1,
    0,
    7,
]


def _neighbours(value: float | int) -> tuple[float | int | None, float | int | None]:
    if isinstance(value, int):
        lo, hi = value - 1, value + 1
        return (lo if lo >= ENGINE_INT_MIN else None, hi if hi <= ENGINE_INT_MAX else None)
    lo, hi = math.nextafter(value, -math.inf), math.nextafter(value, math.inf)
    return (lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)


def _evaluator() -> Evaluator:
    """The aigov evaluator's own host (its JSON path into the engine), with no policies."""
    return Evaluator(types.SimpleNamespace(shards=[]))  # type: ignore[arg-type]


def _run_session(
    evaluator: Evaluator, ruleset: dict[str, Any], facts: list[dict[str, Any]], sid: str
) -> list[tuple[str, int, str]]:
    seen: list[tuple[str, int, str]] = []
    name = f"numbers{sid}"
    rules = {}

    def action(rule_name: str) -> Any:
        def run(c: Any) -> None:  # one argument: durable-rules runs it synchronously (P15)
            seen.append((rule_name, c.b["g"], c.b["k"]))

        return run

    for rule_name, rule in ruleset.items():
        rules[rule_name] = {**rule, "run": action(rule_name)}
    evaluator.host.set_rulesets({name: rules})
    evaluator.host.assert_facts(name, [{**f, "sid": sid} for f in facts])
    return seen


def test_every_finite_number_reaches_the_engine_exactly() -> None:
    """Facts against facts: each value v (through engine_number, as facts are built) is
    compared inside the engine with itself and its two neighbours (the adjacent doubles, or
    v-1 and v+1 for an integer): equal only to itself, greater only than the lower one, less
    only than the upper one. Anything the engine misread (or a crash: 5e-324 segfaulted it)
    fails."""
    rng = random.Random(20250601)
    values: list[float | int] = [*SPECIAL, *_random_doubles(rng, 400)]
    values += [rng.randint(2**53, ENGINE_INT_MAX) * rng.choice((1, -1)) for _ in range(40)]
    facts: list[dict[str, Any]] = []
    expected: set[tuple[str, int, str]] = set()
    for g, raw in enumerate(values):
        value = engine_number(raw)
        assert value == raw and type(value) is type(raw)
        facts.append({"t": "val", "id": f"val|{g}", "g": g, "v": value})
        lo, hi = _neighbours(value)
        for k, ref in (("lo", lo), ("eq", value), ("hi", hi)):
            if ref is not None:
                facts.append(
                    {"t": "ref", "id": f"ref|{g}|{k}", "g": g, "k": k, "v": engine_number(ref)}
                )
        expected.add(("eq", g, "eq"))
        if lo is not None:
            expected.add(("gt", g, "lo"))
        if hi is not None:
            expected.add(("lt", g, "hi"))

    def join(op: str | None) -> dict[str, Any]:
        compare = {"v": {"a": "v"}} if op is None else {op: {"v": {"a": "v"}}}
        return {
            "all": [
                {"a": {"t": "val"}},
                {"b": {"$and": [{"t": "ref"}, {"g": {"a": "g"}}, compare]}},
            ],
            "dist": 0,
        }

    # b.v == a.v, b.v < a.v, b.v > a.v
    ruleset = {"eq": join(None), "gt": join("$lt"), "lt": join("$gt")}
    seen = _run_session(_evaluator(), ruleset, facts, sid="1")
    assert len(seen) == len(set(seen))
    wrong = set(seen) ^ expected
    assert not wrong, sorted((r, values[g], k) for r, g, k in wrong)[:10]


def test_policy_literals_reach_the_engine_exactly() -> None:
    """Literals in rules (parsed by another part of the engine than facts): the rule
    ``v == L`` / ``v > L`` / ``v < L`` for L = each value, against facts holding L and its
    neighbours."""
    rng = random.Random(7)
    values: list[float | int] = [*SPECIAL, *_random_doubles(rng, 60)]
    evaluator = _evaluator()
    for chunk_start in range(0, len(values), 30):
        chunk = values[chunk_start : chunk_start + 30]
        ruleset: dict[str, Any] = {}
        facts: list[dict[str, Any]] = []
        expected: set[tuple[str, int, str]] = set()
        for offset, raw in enumerate(chunk):
            g = chunk_start + offset
            literal = engine_number(raw)
            for op, name in ((None, "eq"), ("$gt", "gt"), ("$lt", "lt")):
                test = {"v": literal} if op is None else {op: {"v": literal}}
                ruleset[f"{name}{g}"] = {
                    "all": [{"b": {"$and": [{"t": "ref"}, {"g": g}, test]}}],
                    "dist": 0,
                }
            lo, hi = _neighbours(literal)
            for k, ref in (("lo", lo), ("eq", literal), ("hi", hi)):
                if ref is not None:
                    facts.append({"t": "ref", "id": f"ref|{g}|{k}", "g": g, "k": k, "v": ref})
            expected.add((f"eq{g}", g, "eq"))
            if hi is not None:
                expected.add((f"gt{g}", g, "hi"))
            if lo is not None:
                expected.add((f"lt{g}", g, "lo"))
        seen = _run_session(evaluator, ruleset, facts, sid=str(chunk_start + 1))
        wrong = set(seen) ^ expected
        assert not wrong, sorted(wrong)[:10]


def test_integers_beyond_64_bits_become_the_nearest_double() -> None:
    assert engine_number(10**26) == 1e26 and isinstance(engine_number(10**26), float)
    assert engine_number(-(2**63) - 1) == -9.223372036854775808e18
    assert engine_number(ENGINE_INT_MAX) == ENGINE_INT_MAX
    assert engine_number([2**64, 1.5, True]) == [float(2**64), 1.5, True]


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, [1.0, math.nan], 10**400],
    ids=["nan", "inf", "-inf", "nan-in-list", "10**400"],
)
def test_non_finite_numbers_are_refused_loudly(value: Any) -> None:
    with pytest.raises(AigovError, match=r"not finite|too large"):
        engine_number(value)


@pytest.mark.parametrize(
    "value",
    [
        {"v": math.nan},
        {"v": [math.inf]},
        # integers beyond 64 bits (atoll would saturate) never come from facts or policies
        # (engine_number makes them floats); where floats are rewritten they are refused too
        {"v": [2**63, 5e24]},
        {"v": -(2**63) - 1, "w": 1e-7},
    ],
)
def test_nothing_non_finite_or_too_wide_reaches_the_engine(value: Any) -> None:
    """The evaluator's JSON writer is the last line: whatever path a value took, NaN and
    infinities never reach the engine."""
    with pytest.raises(EngineError):
        engine_json(value)


def test_engine_json_is_json_dumps_except_floats_without_a_point() -> None:
    value = {
        "s": 'a "5e+24" \\ text 12345678901234567890',
        "f": [5e24, -5e-324, 1.5e300, 0.1, -0.0, 1e16],
        "i": [ENGINE_INT_MAX, ENGINE_INT_MIN, 3],
        "b": True,
        "n": None,
    }
    text = engine_json(value)
    assert json.loads(text) == value
    assert '"s": "a \\"5e+24\\" \\\\ text 12345678901234567890"' in text
    assert "5.0e+24" in text and "-5.0e-324" in text and "1.0e+16" in text
    plain = {"a": [1, 2.5, "x"], "b": {"c": 1e-3}}
    assert engine_json(plain) == json.dumps(plain, ensure_ascii=False)


def test_extreme_numbers_in_the_registry_and_policies_are_compared_exactly(
    cli: Any, tmp_path: Path
) -> None:
    """Through the CLI: models whose training compute is the smallest subnormal (crashed
    the engine) or 5e24 (no decimal point), against literals of the same values."""
    policies = tmp_path / "policies"
    policies.mkdir()
    body = """
    policies:
      - id: NUM-T1
        title: Compute above the smallest subnormal
        description: test
        family: governance
        severity: low
        remediation: none
        message: "{{ model.id }} above"
        subject: {kind: model}
        when:
          test: {model.training_compute_flop: {gt: 5.0e-324}}
      - id: NUM-T2
        title: Compute equal to 5e24
        description: test
        family: governance
        severity: low
        remediation: none
        message: "{{ model.id }} equal"
        subject: {kind: model}
        when:
          test: {model.training_compute_flop: {eq: 5.0e+24}}
    """
    (policies / "numbers.yaml").write_text("\n".join(line[4:] for line in body.splitlines()))
    registry = {
        "providers": [{"id": "acme", "name": "Acme"}],
        "models": [
            {"id": "tiny", "name": "t", "provider": "acme", "training_compute_flop": 5e-324},
            {"id": "tiny2", "name": "t", "provider": "acme", "training_compute_flop": 1e-323},
            {"id": "big", "name": "b", "provider": "acme", "training_compute_flop": 5e24},
            {
                "id": "big+",
                "name": "b",
                "provider": "acme",
                "training_compute_flop": math.nextafter(5e24, math.inf),
            },
        ],
    }
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry))
    db = f"sqlite:///{tmp_path / 'aigov.db'}"
    assert cli("registry", "import", "--db", db, tmp_path / "registry.yaml").exit_code == 0
    result = cli(
        "audit",
        "--db",
        db,
        "--policies",
        policies,
        "--as-of",
        AS_OF,
        "--format",
        "json",
        "--no-record",
        "--fail-on",
        "low",
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    fails = {(f["policy"], f["model"]) for f in findings if f["outcome"] == "fail"}
    assert fails == {
        ("NUM-T1", "tiny2"),
        ("NUM-T1", "big"),
        ("NUM-T1", "big+"),
        ("NUM-T2", "big"),
    }
