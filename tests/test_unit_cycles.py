"""``find_cycle``: the first lineage cycle reachable from a partition's root model.

Edges point from child to parent (``{"child": c, "parent": p}``), the direction lineage is
walked; the result is the sorted nodes of the cycle, or None.
"""

from __future__ import annotations

import itertools

import pytest

from aigov.evaluate.facts import find_cycle


def edges(*pairs: str) -> list[dict[str, str]]:
    """``edges("a>b", ...)``: a is the child, b the parent."""
    out = []
    for pair in pairs:
        child, parent = pair.split(">")
        out.append({"child": child, "parent": parent, "relation": "finetune"})
    return out


# ----------------------------------------------------------------------------- no cycle


def test_no_edges() -> None:
    assert find_cycle("m", []) is None


def test_root_without_parents() -> None:
    assert find_cycle("m", edges("x>y", "y>z")) is None


def test_chain_is_no_cycle() -> None:
    assert find_cycle("a", edges("a>b", "b>c", "c>d")) is None


def test_diamond_is_no_cycle() -> None:
    # d is reached twice, by two paths: that is sharing, not a cycle
    assert find_cycle("a", edges("a>b", "a>c", "b>d", "c>d", "d>e")) is None


def test_duplicate_edges_are_no_cycle() -> None:
    assert find_cycle("a", edges("a>b", "a>b", "b>c", "b>c")) is None


def test_cycle_unreachable_from_the_root_is_not_reported() -> None:
    # c and d form a cycle, and c is a child of b, but nothing leads from a to c
    assert find_cycle("a", edges("a>b", "c>d", "d>c", "c>b")) is None


# ----------------------------------------------------------------------------- cycles


def test_self_loop_on_the_root() -> None:
    assert find_cycle("a", edges("a>a")) == ["a"]


def test_self_loop_on_an_ancestor() -> None:
    assert find_cycle("a", edges("a>b", "b>c", "c>c")) == ["c"]


def test_cycle_back_to_the_root() -> None:
    assert find_cycle("a", edges("a>b", "b>c", "c>a")) == ["a", "b", "c"]


def test_two_node_cycle_through_the_root() -> None:
    assert find_cycle("m", edges("m>p", "p>m")) == ["m", "p"]


def test_cycle_not_through_the_root_leaves_the_path_to_it_out() -> None:
    assert find_cycle("r", edges("r>s", "s>x", "x>y", "y>z", "z>x")) == ["x", "y", "z"]


def test_cycle_nodes_are_sorted_not_in_path_order() -> None:
    # walked as m, z, a (then back to m)
    assert find_cycle("m", edges("m>z", "z>a", "a>m")) == ["a", "m", "z"]


def test_cycle_found_after_a_finished_branch() -> None:
    # a's branch is explored first (sorted parents) and ends at b's cycle
    assert find_cycle("r", edges("r>a", "r>b", "a>b", "b>c", "c>b")) == ["b", "c"]
    # a fully explored, cycle-free branch does not hide a cycle in a later one
    assert find_cycle("r", edges("r>a", "a>k", "r>b", "b>k", "k>l", "b>c", "c>b")) == ["b", "c"]


# ----------------------------------------------------------------------------- determinism

TWO_CYCLES = edges("r>q", "q>w", "w>q", "r>p", "p>v", "v>p")


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(TWO_CYCLES)), 6))[::97])
def test_first_cycle_is_chosen_by_sorted_parents_whatever_the_edge_order(
    order: tuple[int, ...],
) -> None:
    # parents are walked in sorted order, so p's cycle is found before q's
    shuffled = [TWO_CYCLES[i] for i in order]
    assert find_cycle("r", shuffled) == ["p", "v"]


def test_choice_follows_the_sorted_parent_not_the_smallest_cycle() -> None:
    # b's cycle is shorter, but a is walked first and leads to a longer one
    found = find_cycle("r", edges("r>b", "b>b", "r>a", "a>x", "x>y", "y>a"))
    assert found == ["a", "x", "y"]


# ----------------------------------------------------------------------------- scale


def test_long_chain_does_not_exhaust_the_stack() -> None:
    n = 100_000
    chain = [{"child": f"n{i:06d}", "parent": f"n{i + 1:06d}"} for i in range(n)]
    assert find_cycle("n000000", chain) is None
    back = [*chain, {"child": f"n{n:06d}", "parent": "n000000"}]
    found = find_cycle("n000000", back)
    assert found is not None
    assert len(found) == n + 1
    assert found[0] == "n000000"
    assert found[-1] == f"n{n:06d}"
