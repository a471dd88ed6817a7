"""The durable-rules host: run one partition's facts through the compiled shards.

One durable-rules host per process; each partition (one model) runs in its own short-lived
session per shard: its facts are asserted in one batch (derivations run to a fixpoint inside
that call), then one gate fact per stratum is asserted (negations and policy rules fire),
then the session is deleted, so engine memory does not grow with the registry. Actions only
record what matched; :mod:`aigov.evaluate.outcomes` turns the records into findings.

Two engine defects are handled here, on every path into the engine (see
docs/engine-notes.md):

* durable-rules stores a session's facts by a 32-bit hash of their ``id`` and rejects a
  second fact with the same hash as "already observed" (P17). Ids hold user-chosen record
  ids, so every engine id of a session is checked against the engine's own hash
  (:func:`engine_id_hash`) before it is asserted, and an id whose hash is taken is re-keyed
  (``<id>~1``, ``~2``, ...; the record id in ``key`` is unchanged). A derived fact is
  skipped only when the same fact (same type and values) was derived before.
* durable-rules reads a number's exponent only after a decimal point (A3): ``5e+24`` and the
  subnormal ``5e-324`` break the message. The engine's JSON is written with a decimal point
  in every float (:func:`engine_json`), so the engine reads every finite double exactly;
  non-finite numbers and integers outside 64 bits are refused.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import re
import types
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aigov.compile.rules import GATE, CompiledPolicies, HostCheck, RuleMeta
from aigov.errors import AigovError
from aigov.evaluate.facts import Partition
from aigov.evaluate.reach import LineageWalks
from aigov.policy.operators import host_holds


class EngineError(AigovError):
    """The rules engine failed while evaluating a partition."""


# -- the engine's JSON ---------------------------------------------------------------------

_INT64 = (-(2**63), 2**63 - 1)
_DIGITS = frozenset("0123456789")


def _has_exponent(text: str) -> bool:
    """Whether json.dumps output may hold a float with an exponent (``<digit>e+<digit>`` or
    ``e-``; Python always writes the sign). Also true for such text inside a string, which
    only sends the value down the exact path. Faster than a regex: ``e-`` is rare."""
    for marker in ("e+", "e-"):
        at = text.find(marker, 1)
        while at != -1:
            if text[at - 1] in _DIGITS and text[at + 2 : at + 3] in _DIGITS:
                return True
            at = text.find(marker, at + 2)
    return False


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise EngineError(
            f"a non-finite number (NaN or infinity) cannot be given to the rules engine: {exc}"
        ) from exc


def _exact(value: Any) -> str:
    """``value`` as JSON, every float with a decimal point and every integer in 64 bits."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError(
                f"a non-finite number ({value!r}) cannot be given to the rules engine"
            )
        text = float.__repr__(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64[0] <= value <= _INT64[1]:
            raise EngineError(
                f"an integer of {value.bit_length()} bits does not fit the rules engine's "
                "64-bit integers"
            )
        return int.__repr__(value)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            key_text = _dumps(key) if isinstance(key, str) else _dumps(str(_dumps(key)))
            items.append(f"{key_text}: {_exact_item(item)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_exact_item(item) for item in value) + "]"
    return _dumps(value)


def _exact_item(value: Any) -> str:
    if isinstance(value, dict | list | tuple):  # most are clean: write them at C speed
        text = _dumps(value)
        return _exact(value) if _has_exponent(text) else text
    return _exact(value)


def engine_json(value: Any, **_ignored: Any) -> str:
    """``value`` as JSON the engine reads exactly (durable-rules' ``json.dumps``).

    The engine (json.c, ``getNumber``) reads an exponent only after a decimal point, and
    Python writes some floats without one (``5e+24``, ``5e-324``): those get ``.0``
    (``5.0e+24``), which the engine's ``atof`` reads as exactly the same double. NaN and
    infinities are refused everywhere; an integer outside 64 bits (``atoll`` would saturate)
    is refused where floats with an exponent are rewritten, and never comes from facts or
    policies (``engine_number`` makes it a float). Strings are written as
    ``json.dumps(..., ensure_ascii=False)`` writes them, so fact ids hash as
    :func:`engine_id_hashes` computes.
    """
    text = _dumps(value)
    return _exact(value) if _has_exponent(text) else text


# durable.engine calls json.dumps(..., ensure_ascii=False) for every ruleset, fact and state
# it hands to the engine, and json.loads for what comes back; it uses nothing else of json.
ENGINE_JSON = types.SimpleNamespace(dumps=engine_json, loads=json.loads)

# -- the engine's fact ids -------------------------------------------------------------------

_FNV_OFFSET = 0x811C9DC5  # json.h: FNV_32_OFFSET_BASIS
_FNV_PRIME = 16777619  # json.h: FNV_32_PRIME
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\]')  # what json.dumps escapes (ensure_ascii=False)


def _fnv(data: bytes, signed: bool, h: int = _FNV_OFFSET) -> int:
    for byte in data:
        if signed and byte >= 0x80:
            byte |= 0xFFFFFF00  # a negative char, converted to unsigned int
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


@functools.lru_cache(maxsize=1 << 12)
def _prefix_state(prefix: str) -> int:
    return _fnv(prefix.encode("ascii"), signed=False)


@functools.lru_cache(maxsize=1 << 16)
def engine_id_hashes(fact_id: str) -> tuple[int, ...]:
    """The hash durable-rules files the fact with this ``id`` under, in a session.

    ``storeMessage`` (state.c) hashes the id with ``fnv1Hash32``: for each byte, xor then
    multiply by the FNV prime, 32 bits. The bytes are the id's text inside the JSON the
    engine was given: UTF-8, with json.dumps' escapes (``\\"`` stays two bytes). The bytes are
    ``char``: signed on x86-64, unsigned on ARM; for a non-ASCII id both hashes are given
    (the caller keeps both free), so the answer does not depend on the platform.
    """
    text = fact_id
    if _JSON_ESCAPED.search(fact_id):
        text = json.dumps(fact_id, ensure_ascii=False)[1:-1]
    if not text.isascii():
        data = text.encode("utf-8")
        unsigned, signed = _fnv(data, signed=False), _fnv(data, signed=True)
        return (unsigned,) if signed == unsigned else (unsigned, signed)
    # ids are "<type>|...|<last>": the state after the last "|" is shared by many ids
    cut = text.rfind("|") + 1
    return (_fnv(text[cut:].encode("ascii"), False, _prefix_state(text[:cut])),)


def engine_id_hash(fact_id: str) -> int:
    """The engine's hash of a fact id on this platform (x86-64: signed ``char``)."""
    return engine_id_hashes(fact_id)[-1]


class EngineIds:
    """The fact ids of one engine session, kept free of hash collisions.

    Every fact asserted into a session is registered here first, with its identity (what
    makes it the same fact) and the id it would have. It gets that id if no other fact of
    the session holds the id's engine hash, else the first free ``<id>~<n>``: the engine
    then never takes two different facts for one. A fact whose identity is registered
    already is a true duplicate (``claim`` returns None): the first witness wins.
    """

    def __init__(self) -> None:
        self._hashes: dict[int, Hashable] = {}
        self._ids: dict[Hashable, str] = {}
        self._facts: dict[Hashable, dict[str, Any]] = {}

    def claim(self, identity: Hashable, fact_id: str) -> str | None:
        if identity in self._ids:
            return None
        candidate, n = fact_id, 0
        hashes = engine_id_hashes(candidate)
        while any(h in self._hashes for h in hashes):
            n += 1
            candidate = f"{fact_id}~{n}"
            hashes = engine_id_hashes(candidate)
        for h in hashes:
            self._hashes[h] = identity
        self._ids[identity] = candidate
        return candidate

    def claim_base(self, fact: dict[str, Any]) -> dict[str, Any] | None:
        """A base fact with its engine id (re-keyed if need be), or None for a fact
        identical to one registered already."""
        fact_id = fact["id"]
        identity: tuple[Any, ...] = ("base", fact_id)
        n = 0
        while identity in self._ids:
            if self._facts.get(identity) == fact:
                return None
            n += 1
            identity = ("base", fact_id, n)
        engine_id = self.claim(identity, fact_id)
        self._facts[identity] = fact
        return fact if engine_id == fact_id else {**fact, "id": engine_id}


@dataclass
class _Sink:
    """What the actions of one partition recorded."""

    events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    ids: EngineIds = field(default_factory=EngineIds)  # the current session's fact ids
    # derived fact key -> what its path is made of: ("reach", reach key) | ("derived", key)
    derived_paths: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def reset(self) -> None:
        self.events.clear()
        self.errors.clear()
        self.roots.clear()
        self.ids = EngineIds()
        self.derived_paths = {}


def _matches(c: Any, checks: list[HostCheck]) -> list[dict[str, dict[str, Any]]]:
    """The matches of a ``cap`` rule as plain dicts (alias -> fact), without those its host
    checks (the tests the engine cannot make) reject."""
    matches = [getattr(m, "_d", m) for m in c.m]
    if checks:
        matches = [m for m in matches if all(_check_holds(check, m) for check in checks)]
    return matches


def _check_holds(check: HostCheck, match: dict[str, dict[str, Any]]) -> bool:
    """One host check on one match: a test on a missing field (or operand) is false."""
    fact = match[check.pattern]
    holds = False
    if check.field in fact:
        operand, present = check.operand, True
        if check.ref is not None:
            other = match[check.ref[0]]
            present = check.ref[1] in other
            operand = other.get(check.ref[1])
        if present:
            try:
                holds = host_holds(check.op, fact[check.field], operand, check.ignore_case)
            except ValueError as exc:
                raise EngineError(f"{check.origin}: {check.text}: {exc}") from None
    return holds != check.negated


def _derived_id(fact_type: str, values: dict[str, Any]) -> tuple[Hashable, str]:
    """(identity, id) of a derived fact: the same type and values are the same fact."""
    raw = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return ("derived", fact_type, raw), f"{fact_type}|{hashlib.sha1(raw.encode()).hexdigest()[:16]}"


class Evaluator:
    """A durable-rules host loaded with the compiled shards."""

    def __init__(self, compiled: CompiledPolicies):
        from durable import engine

        class _SyncHost(engine.Host):  # P4: no background dispatcher threads
            def _run(self) -> None:
                pass

        engine.json = ENGINE_JSON  # every ruleset and fact reaches the engine as engine_json
        self.compiled = compiled
        self.sink = _Sink()
        self.host = _SyncHost()
        # Fault injection for tests of the fail-closed paths: AIGOV_INJECT_FAULT=<model id>.
        self.fault_model = os.environ.get("AIGOV_INJECT_FAULT") or None
        rulesets: dict[str, Any] = {}
        for shard in compiled.shards:
            ruleset = copy.deepcopy(shard.ruleset)  # set_rulesets mutates its input
            for name, rule in ruleset.items():
                rule["run"] = (
                    self._seen_root if name == "$root" else self._action(shard.rules.get(name))
                )
            rulesets[shard.name] = ruleset
        self.host.set_rulesets(rulesets)
        self.sequence = 0

    def _seen_root(self, c: Any) -> None:
        self.sink.roots.append(c.m["key"])

    def _action(self, meta: RuleMeta | None) -> Callable[[Any], None]:
        sink = self.sink
        if meta is None:
            return lambda c: None

        metas = [meta, *meta.also]

        def record(c: Any) -> None:
            try:
                for match in _matches(c, meta.checks):
                    for each in metas:
                        sink.events.append((each, match))
            except Exception as exc:  # P18: exceptions in actions vanish; keep them
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def assert_all(c: Any, facts: Iterable[tuple[Hashable, dict[str, Any]]]) -> None:
            for identity, fact in facts:
                engine_id = sink.ids.claim(identity, fact["id"])
                if engine_id is None:  # already derived (a cycle, a second path): first wins
                    continue
                fact["id"] = engine_id
                # The id's hash is free, so the engine cannot take this fact for another:
                # "already observed" here is an engine failure, never swallowed.
                c.assert_fact(fact)

        def derive(c: Any) -> None:
            try:
                facts: list[tuple[Hashable, dict[str, Any]]] = []
                for m in _matches(c, meta.checks):
                    values = {
                        name: m[pattern].get(fieldname)
                        for name, (pattern, fieldname) in meta.fields.items()
                    }
                    values = {k: v for k, v in values.items() if v is not None}
                    identity, fact_id = _derived_id(meta.produces or "", values)
                    fact = {"t": meta.produces, "id": fact_id, "key": fact_id, **values}
                    if meta.role == "derive":
                        # the path is kept here, as the parts it is made of (see _paths)
                        parts: list[tuple[str, Any]] = []
                        for alias in meta.aliases:
                            reach = meta.reach.get(alias)
                            if reach:
                                walk = meta.walks[reach]
                                parts.append(("reach", LineageWalks.key(walk, m[reach])))
                            if alias in m and m[alias].get("key") in sink.derived_paths:
                                parts.append(("derived", m[alias]["key"]))
                        sink.derived_paths.setdefault(fact_id, parts)
                        fact["support"] = [
                            f"{alias}={m[alias]['t']}:{m[alias]['key']}"
                            for alias in meta.aliases
                            if alias in m
                        ]
                    facts.append((identity, fact))
                assert_all(c, facts)
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        return {"derive": derive, "aux": derive}.get(meta.role, record)

    def run(self, partition: Partition) -> list[tuple[RuleMeta, dict[str, dict[str, Any]]]]:
        """Evaluate one partition; return the recorded matches."""
        self.sink.reset()
        if self.fault_model == partition.model:
            raise EngineError(f"injected fault while evaluating model '{partition.model}'")
        events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = []
        walks = LineageWalks(self.compiled.reaches, partition.facts, partition.model)
        for shard in self.compiled.shards:
            self.sequence += 1
            sid = str(self.sequence)
            fact_types = shard.types
            try:
                ids = self.sink.ids = EngineIds()
                self.sink.derived_paths = {}
                gates = []
                for stratum in shard.gates:
                    gate_id = ids.claim(("gate", stratum), f"{GATE}|{stratum}")
                    gates.append({"t": GATE, "id": gate_id, "stratum": stratum, "sid": sid})
                facts = []
                for fact in partition.facts:
                    if fact["t"] in fact_types:
                        claimed = ids.claim_base(fact)
                        if claimed is not None:
                            facts.append({**claimed, "sid": sid})
                for fact in walks.facts(shard.walks):
                    identity = ("reach", fact["origin"], fact["node"], fact["depth"] == 0)
                    facts.append({**fact, "id": ids.claim(identity, fact["id"]), "sid": sid})
                self.host.assert_facts(shard.name, facts)
                for gate in gates:
                    self.host.assert_fact(shard.name, gate)
                state = self.host.get_state(shard.name, sid)
                accepted = self.sink.roots == [partition.model]
                if accepted:  # else no action ran, and delete_state would crash (P3)
                    self.host.delete_state(shard.name, sid)
            except Exception as exc:
                raise EngineError(
                    f"rules engine failed on model '{partition.model}' ({shard.name}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not accepted:
                raise EngineError(
                    f"the rules engine did not accept the facts of model '{partition.model}'"
                )
            self.sink.roots.clear()
            if state.get("exception") or self.sink.errors:
                detail = state.get("exception") or "; ".join(self.sink.errors)
                raise EngineError(f"rules engine failed on model '{partition.model}': {detail}")
            for _meta, match in self.sink.events:
                # P17: sessions are found by a 32-bit hash; never trust a fact from another.
                if any(f.get("sid") != sid for f in match.values() if isinstance(f, dict)):
                    raise EngineError(
                        f"rules engine mixed sessions while evaluating model '{partition.model}'"
                    )
            self._attach_paths(walks)
            events += self.sink.events
            self.sink.events = []
        return events

    def _attach_paths(self, walks: LineageWalks) -> None:
        """Give each reach fact and derived fact in this shard's matches its ``path`` (the
        edge ids from the evaluated model), as the evidence shows it."""
        derived = self.sink.derived_paths
        resolved: dict[str, list[str]] = {}

        def derived_path(key: str) -> list[str]:
            if key not in resolved:
                path: list[str] = []
                for kind, ref in derived[key]:
                    path += walks.path(ref) if kind == "reach" else derived_path(ref)
                resolved[key] = path
            return resolved[key]

        for meta, match in self.sink.events:
            for name, fact in match.items():
                if not isinstance(fact, dict):
                    continue
                walk = meta.walks.get(name)
                if walk is not None:
                    match[name] = {**fact, "path": walks.path(LineageWalks.key(walk, fact))}
                elif fact.get("key") in derived:
                    match[name] = {**fact, "path": derived_path(fact["key"])}
