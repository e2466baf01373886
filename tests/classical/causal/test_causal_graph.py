"""Unit tests for CausalGraph: relatives, d-separation, adjustment criteria, CPDAGs."""

import itertools

import networkx as nx
import numpy as np
import pytest

from classical.causal import CausalGraph, cpdag_from_dag
from classical.causal.metrics import random_dag

TEXTBOOK = {
    "chain": [("X", "Z"), ("Z", "Y")],
    "fork": [("Z", "X"), ("Z", "Y")],
    "collider": [("X", "Z"), ("Y", "Z")],
    "collider_descendant": [("X", "Z"), ("Y", "Z"), ("Z", "W")],
}


@pytest.mark.parametrize("name,given,expected", [
    ("chain", set(), False), ("chain", {"Z"}, True),
    ("fork", set(), False), ("fork", {"Z"}, True),
    ("collider", set(), True), ("collider", {"Z"}, False),
    ("collider_descendant", set(), True), ("collider_descendant", {"W"}, False),
    ("collider_descendant", {"Z", "W"}, False),
])
def test_textbook_d_separation_matches_networkx(name, given, expected):
    g = CausalGraph(TEXTBOOK[name])
    assert g.d_separated("X", "Y", given) is expected
    assert nx.is_d_separator(g.dag, {"X"}, {"Y"}, set(given)) is expected


def test_d_separation_agrees_with_networkx_on_random_dags():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(15):
        g = CausalGraph.from_adjacency(random_dag(7, 2, rng))
        for x, y in itertools.combinations(range(7), 2):
            rest = [n for n in range(7) if n not in (x, y)]
            z = set(rng.choice(rest, size=rng.integers(0, 4), replace=False).tolist())
            assert g.d_separated(x, y, z) == nx.is_d_separator(g.dag, {x}, {y}, z)
            checked += 1
    assert checked == 15 * 21


def test_relatives_and_single_node_arguments():
    g = CausalGraph([("A", "B"), ("B", "C"), ("A", "C"), ("C", "D")])
    assert g.parents("C") == {"A", "B"}
    assert g.children("A") == {"B", "C"}
    assert g.ancestors("D") == {"A", "B", "C"}
    assert g.descendants("B") == {"C", "D"}
    assert g.d_separated("B", "D", "C") and g.d_separated({"B"}, ["D"], ("C",))


def test_bad_input_messages():
    with pytest.raises(ValueError, match="cycle"):
        CausalGraph([("A", "B"), ("B", "A")])
    g = CausalGraph([("A", "B")])
    with pytest.raises(ValueError, match="not in the graph"):
        g.d_separated("A", "Q")
    with pytest.raises(ValueError, match="disjoint"):
        g.d_separated("A", "B", "A")


def test_backdoor_and_frontdoor_criteria():
    # confounded treatment: U → X → Y, U → Y; W → X
    g = CausalGraph([("U", "X"), ("U", "Y"), ("X", "Y"), ("W", "X")])
    assert g.satisfies_backdoor("X", "Y", {"U"})
    assert not g.satisfies_backdoor("X", "Y", set())
    assert not g.satisfies_backdoor("X", "Y", {"W"})
    # mediator is a descendant of X: never a back-door set
    m = CausalGraph([("X", "M"), ("M", "Y"), ("U", "X"), ("U", "Y")])
    assert not m.satisfies_backdoor("X", "Y", {"M"})
    assert m.satisfies_frontdoor("X", "Y", {"M"})
    # a direct X → Y edge bypasses M: front-door fails
    direct = CausalGraph([("X", "M"), ("M", "Y"), ("X", "Y"), ("U", "X"), ("U", "Y")])
    assert not direct.satisfies_frontdoor("X", "Y", {"M"})
    # U confounds M and Y: front-door fails
    conf = CausalGraph([("X", "M"), ("M", "Y"), ("U", "M"), ("U", "Y")])
    assert not conf.satisfies_frontdoor("X", "Y", {"M"})


def test_cpdag_of_textbook_graphs():
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert np.array_equal(cpdag_from_dag(chain), chain + chain.T)
    collider = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])
    assert np.array_equal(cpdag_from_dag(collider), collider)
    # a → c ← b, c → d: R1 orients c → d
    g = CausalGraph([(0, 2), (1, 2), (2, 3)], nodes=[0, 1, 2, 3])
    assert np.array_equal(g.cpdag(), g.adjacency())


def test_cpdag_members_share_skeleton_and_v_structures():
    """Every DAG in the CPDAG's class has the same CPDAG; check by reversing covered edges."""
    rng = np.random.default_rng(3)
    for _ in range(10):
        a = random_dag(8, 2, rng)
        c = cpdag_from_dag(a)
        assert np.array_equal((c + c.T) > 0, (a + a.T) > 0)
        directed = (c == 1) & (c.T == 0)
        assert np.all(a[directed] == 1)   # compelled edges keep the DAG's direction
        for i, j in zip(*np.nonzero(a)):
            covered = np.array_equal(np.delete(a[:, j], i), np.delete(a[:, i], i))
            if covered:   # reversing a covered edge stays in the class
                b = a.copy()
                b[i, j], b[j, i] = 0, 1
                assert np.array_equal(cpdag_from_dag(b), c)
                assert c[i, j] == 1 and c[j, i] == 1
