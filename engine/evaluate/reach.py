"""Lineage walks: the ``reach`` facts of one partition, computed before the engine runs.

A ``lineage`` binding matches a ``reach`` fact (its walk's type, ``origin``, ``node``,
``depth``) joined to the node's record. Deriving those facts inside the engine cost a rule
firing, an action and a stored fact per step, from every record that could be an origin,
each carrying its whole path: a model with 10,000 parents needed gigabytes, and a chain of
1,000 models grew cubically. Here each walk is a breadth-first search over the partition's
edges, run only from the origins some rule can bind (:class:`aigov.compile.rules.ReachSpec`),
and the engine gets small facts; the witness paths (the shortest, ties broken by edge id)
stay here and are attached to the matches that use them, after the engine has run. One fact
stands for the same (origin, node) of every walk that reached it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any

from aigov.compile.rules import REACH, ReachSpec

# (reach type, origin, node, is the depth-0 start): a reach fact's identity
ReachKey = tuple[str, str, str, bool]


class LineageWalks:
    """Every walk of one partition: its reach facts and, for each, the path behind it."""

    def __init__(self, specs: dict[str, ReachSpec], facts: Iterable[dict[str, Any]], root: str):
        self.specs = specs
        edges: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # child -> edges
        kinds: dict[str, str] = {}
        by_type: dict[str, list[str]] = defaultdict(list)
        for fact in facts:
            fact_type = fact["t"]
            if fact_type == "lineage":
                edges[fact["child"]].append((fact["key"], fact["relation"], fact["parent"]))
            elif fact_type in ("model", "dataset"):
                kinds[fact["key"]] = fact_type
            if "key" in fact:  # ($member facts have none; no walk starts from one)
                by_type[fact_type].append(fact["key"])
        for out in edges.values():
            out.sort()
        # type -> origin -> node -> (depth, previous node, edge id)
        self._steps: dict[str, dict[str, dict[str, tuple[int, str, str]]]] = {t: {} for t in specs}
        dependents: dict[str, list[str]] = defaultdict(list)
        pending: deque[tuple[str, str]] = deque()

        def add_origin(reach_type: str, origin: str) -> None:
            walks = self._steps[reach_type]
            if origin not in walks:
                walks[origin] = {}
                pending.append((reach_type, origin))

        for reach_type, spec in specs.items():
            for source in sorted(spec.sources):
                if source == "root":
                    add_origin(reach_type, root)
                elif source.startswith("kind:"):
                    for key in by_type.get(source[5:], []):
                        add_origin(reach_type, key)
                else:
                    dependents[source.removeprefix("reach:")].append(reach_type)
        while pending:
            reach_type, origin = pending.popleft()
            spec = specs[reach_type]
            reached = self._walk(origin, spec.via, edges)
            self._steps[reach_type][origin] = reached
            for later in dependents.get(reach_type, []):
                wanted = specs[later].origin_kind
                for node in ([origin] if spec.start else []) + list(reached):
                    if kinds.get(node) == wanted:
                        add_origin(later, node)

    @staticmethod
    def _walk(
        origin: str, via: tuple[str, ...], edges: dict[str, list[tuple[str, str, str]]]
    ) -> dict[str, tuple[int, str, str]]:
        """Breadth first from ``origin``: node -> (depth, previous node, edge id). The origin
        itself appears only when a cycle leads back to it (that is a step, not the start)."""
        relations = frozenset(via)
        reached: dict[str, tuple[int, str, str]] = {}
        frontier, depth = [origin], 0
        while frontier:
            depth += 1
            following = []
            for node in frontier:
                for edge_id, relation, parent in edges.get(node, ()):
                    if relation in relations and parent not in reached:
                        reached[parent] = (depth, node, edge_id)
                        following.append(parent)
            frontier = following
        return reached

    def facts(self, walks: Iterable[str]) -> list[dict[str, Any]]:
        """The ``$reach`` facts of the walks ``walks``: one per (origin, node), flagged with
        every one of those walks that reached it, in a fixed order. A walk's start (its
        origin at depth 0) is a fact of its own, so that only ``min_depth: 0`` takes it."""
        merged: dict[tuple[str, str, bool], dict[str, Any]] = {}

        def flag(reach_type: str, origin: str, node: str, depth: int) -> None:
            start = depth == 0
            fact = merged.get((origin, node, start))
            if fact is None:
                fact = merged[(origin, node, start)] = {
                    "t": REACH,
                    "id": f"{REACH}|{origin}|{'start' if start else node}",
                    "origin": origin,
                    "node": node,
                    "depth": depth,
                }
            fact[reach_type] = True

        for reach_type in sorted(set(walks) & self._steps.keys()):
            start = self.specs[reach_type].start
            for origin, reached in self._steps[reach_type].items():
                if start:
                    flag(reach_type, origin, origin, 0)
                for node, (depth, _previous, _edge) in reached.items():
                    flag(reach_type, origin, node, depth)
        return list(merged.values())

    @staticmethod
    def key(reach_type: str, fact: dict[str, Any]) -> ReachKey:
        """The identity of ``reach_type``'s step that the ``$reach`` fact ``fact`` stands for."""
        return (reach_type, fact["origin"], fact["node"], fact["depth"] == 0)

    def path(self, key: ReachKey) -> list[str]:
        """The edge ids from the origin to the node of the walk step ``key``."""
        reach_type, origin, node, is_start = key
        if is_start:
            return []
        reached = self._steps[reach_type][origin]
        edges: list[str] = []
        while True:
            _depth, previous, edge_id = reached[node]
            edges.append(edge_id)
            if previous == origin:
                break
            node = previous
        edges.reverse()
        return edges
