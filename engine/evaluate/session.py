"""The durable-rules host: run one partition's facts through the compiled shards.

One durable-rules host per process; each partition (one model) runs in its own short-lived
session per shard: its facts are asserted in one batch (derivations run to a fixpoint inside
that call), then one gate fact per stratum is asserted (negations and policy rules fire),
then the session is deleted, so engine memory does not grow with the registry. Actions only
record what matched; :mod:`aigov.evaluate.outcomes` turns the records into findings.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aigov.compile.rules import GATE, CompiledPolicies, RuleMeta
from aigov.errors import AigovError
from aigov.evaluate.facts import Partition


class EngineError(AigovError):
    """The rules engine failed while evaluating a partition."""


@dataclass
class _Sink:
    """What the actions of one partition recorded."""

    events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.events.clear()
        self.errors.clear()
        self.roots.clear()


def _matches(c: Any) -> list[dict[str, dict[str, Any]]]:
    """The matches of a ``cap`` rule as plain dicts (alias -> fact)."""
    return [getattr(m, "_d", m) for m in c.m]


def _derived_id(fact_type: str, values: dict[str, Any]) -> str:
    raw = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return f"{fact_type}|{hashlib.sha1(raw.encode()).hexdigest()[:16]}"


class Evaluator:
    """A durable-rules host loaded with the compiled shards."""

    def __init__(self, compiled: CompiledPolicies):
        from durable import engine

        class _SyncHost(engine.Host):  # P4: no background dispatcher threads
            def _run(self) -> None:
                pass

        self._observed = engine.MessageObservedException
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
        observed = self._observed
        if meta is None:
            return lambda c: None

        metas = [meta, *meta.also]

        def record(c: Any) -> None:
            try:
                for match in _matches(c):
                    for each in metas:
                        sink.events.append((each, match))
            except Exception as exc:  # P18: exceptions in actions vanish; keep them
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def assert_all(c: Any, facts: Iterable[dict[str, Any]]) -> None:
            for fact in facts:
                # Already derived (a cycle or a second path): the first witness wins.
                with contextlib.suppress(observed):
                    c.assert_fact(fact)

        def seed(c: Any) -> None:
            try:
                assert_all(
                    c,
                    (
                        {
                            "t": reach_type,
                            # the start has its own id: a cycle back to it is still a step
                            "id": f"{reach_type}|{m['s']['key']}|start",
                            "origin": m["s"]["key"],
                            "node": m["s"]["key"],
                            "depth": 0,
                            "path": [],
                        }
                        for m in _matches(c)
                        for reach_type in meta.seeds
                    ),
                )
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def step(c: Any) -> None:
            try:
                facts = []
                for m in _matches(c):
                    reach, edge = m["r"], m["e"]
                    facts.append(
                        {
                            "t": meta.produces,
                            "id": f"{meta.produces}|{reach['origin']}|{edge['parent']}",
                            "origin": reach["origin"],
                            "node": edge["parent"],
                            "depth": reach["depth"] + 1,
                            "path": [*reach.get("path", []), edge["key"]],
                        }
                    )
                assert_all(c, facts)
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def derive(c: Any) -> None:
            try:
                facts = []
                for m in _matches(c):
                    values = {
                        name: m[pattern].get(fieldname)
                        for name, (pattern, fieldname) in meta.fields.items()
                    }
                    values = {k: v for k, v in values.items() if v is not None}
                    fact_id = _derived_id(meta.produces or "", values)
                    fact = {"t": meta.produces, "id": fact_id, "key": fact_id, **values}
                    if meta.role == "derive":
                        path: list[str] = []
                        for alias in meta.aliases:
                            reach = meta.reach.get(alias)
                            if reach:
                                path += m[reach].get("path", [])
                            path += m[alias].get("path", []) if alias in m else []
                        fact["path"] = path
                        fact["support"] = [
                            f"{alias}={m[alias]['t']}:{m[alias]['key']}"
                            for alias in meta.aliases
                            if alias in m
                        ]
                    facts.append(fact)
                assert_all(c, facts)
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        return {"reach-seed": seed, "reach-step": step, "derive": derive, "aux": derive}.get(
            meta.role, record
        )

    def run(self, partition: Partition) -> list[tuple[RuleMeta, dict[str, dict[str, Any]]]]:
        """Evaluate one partition; return the recorded matches."""
        self.sink.reset()
        if self.fault_model == partition.model:
            raise EngineError(f"injected fault while evaluating model '{partition.model}'")
        events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = []
        for shard in self.compiled.shards:
            self.sequence += 1
            sid = str(self.sequence)
            types = shard.types
            facts = [{**fact, "sid": sid} for fact in partition.facts if fact["t"] in types]
            try:
                self.host.assert_facts(shard.name, facts)
                for stratum in shard.gates:
                    self.host.assert_fact(
                        shard.name,
                        {"t": GATE, "id": f"{GATE}|{stratum}", "stratum": stratum, "sid": sid},
                    )
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
            events += self.sink.events
            self.sink.events = []
        return events
