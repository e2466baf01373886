"""Causal DAGs: relatives, d-separation, adjustment criteria and CPDAGs.

d-separation is decided on the moralised ancestral graph (Lauritzen et al. 1990):
``X`` and ``Y`` are d-separated by ``Z`` in a DAG exactly when they are disconnected
in the moral graph of the ancestors of ``X ∪ Y ∪ Z`` once ``Z`` is deleted. This is
what makes colliders right: ``X → C ← Y`` leaves ``X`` and ``Y`` unconnected unless
``C`` (or a descendant of ``C``) is in ``Z``, because only then is ``C`` in the
ancestral set and its parents get married.

Adjacency convention everywhere in :mod:`classical.causal`: ``A[i, j] != 0`` means
``i → j``; an undirected (CPDAG) edge ``i — j`` has both ``A[i, j]`` and ``A[j, i]`` set.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

import networkx as nx
import numpy as np

Node = Hashable


def _as_set(nodes: Node | Iterable[Node] | None) -> set:
    """A single node or a collection of nodes, as a set (strings count as single nodes)."""
    if nodes is None:
        return set()
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
        return {nodes}
    return set(nodes)


class CausalGraph:
    """A causal DAG on a :class:`networkx.DiGraph`.

    Args:
        edges: ``(cause, effect)`` pairs.
        nodes: optional node order (adds isolated nodes; fixes the order of
            :meth:`adjacency`). Defaults to the order of first appearance in ``edges``.

    **Example**

    >>> g = CausalGraph([("X", "C"), ("Y", "C"), ("C", "D")])
    >>> g.d_separated("X", "Y", given=set())
    True
    >>> g.d_separated("X", "Y", given="D")      # conditioning on a collider's descendant
    False
    """

    def __init__(self, edges: Iterable[tuple[Node, Node]], nodes: Iterable[Node] | None = None):
        self.dag = nx.DiGraph()
        if nodes is not None:
            self.dag.add_nodes_from(nodes)
        self.dag.add_edges_from(edges)
        if not nx.is_directed_acyclic_graph(self.dag):
            cycle = nx.find_cycle(self.dag)
            raise ValueError(f"the edges contain the cycle {cycle}; a causal graph must be acyclic, "
                             "so remove one edge of it.")

    @classmethod
    def from_adjacency(cls, adjacency: np.ndarray, names: list[Node] | None = None) -> CausalGraph:
        """Build from a square matrix with ``A[i, j] != 0`` meaning ``i → j``."""
        a = np.asarray(adjacency)
        names = list(range(a.shape[0])) if names is None else list(names)
        if np.any((a != 0) & (a.T != 0)):
            raise ValueError("the adjacency matrix has an undirected or two-way edge; a DAG needs "
                             "every edge oriented (use the CPDAG helpers for undirected edges).")
        edges = [(names[i], names[j]) for i, j in zip(*np.nonzero(a))]
        return cls(edges, nodes=names)

    # -- relatives -----------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self.dag.nodes)

    @property
    def edges(self) -> list[tuple[Node, Node]]:
        return list(self.dag.edges)

    def parents(self, node: Node) -> set:
        return set(self.dag.predecessors(node))

    def children(self, node: Node) -> set:
        return set(self.dag.successors(node))

    def ancestors(self, nodes: Node | Iterable[Node]) -> set:
        """Strict ancestors of a node, or of any node of a set."""
        out: set = set()
        for n in _as_set(nodes):
            out |= nx.ancestors(self.dag, n)
        return out

    def descendants(self, nodes: Node | Iterable[Node]) -> set:
        """Strict descendants of a node, or of any node of a set."""
        out: set = set()
        for n in _as_set(nodes):
            out |= nx.descendants(self.dag, n)
        return out

    def topological_order(self) -> list[Node]:
        return list(nx.topological_sort(self.dag))

    def adjacency(self) -> np.ndarray:
        """The ``d × d`` 0/1 matrix in :attr:`nodes` order."""
        return nx.to_numpy_array(self.dag, nodelist=self.nodes, dtype=int)

    # -- d-separation --------------------------------------------------------
    def d_separated(self, x: Node | Iterable[Node], y: Node | Iterable[Node],
                    given: Node | Iterable[Node] | None = None) -> bool:
        """Whether every path between ``x`` and ``y`` is blocked by ``given``.

        Each argument is a node or a collection of nodes; they must be disjoint.
        """
        xs, ys, zs = self._node_sets(x, y, given)
        return _d_separated(self.dag, xs, ys, zs)

    def _node_sets(self, x, y, z) -> tuple[set, set, set]:
        xs, ys, zs = _as_set(x), _as_set(y), _as_set(z)
        missing = (xs | ys | zs) - set(self.dag.nodes)
        if missing:
            raise ValueError(f"nodes {sorted(map(str, missing))} are not in the graph; "
                             f"known nodes are {self.nodes}.")
        if (xs & ys) or (xs & zs) or (ys & zs):
            raise ValueError("the node sets must be disjoint; remove the nodes they share.")
        return xs, ys, zs

    # -- adjustment criteria -------------------------------------------------
    def satisfies_backdoor(self, x: Node | Iterable[Node], y: Node | Iterable[Node],
                           z: Node | Iterable[Node] | None) -> bool:
        """Pearl's back-door criterion for the effect of ``x`` on ``y``.

        ``z`` qualifies when no member is a descendant of ``x`` and ``z`` blocks every
        path between ``x`` and ``y`` that starts with an arrow into ``x``.
        """
        xs, ys, zs = self._node_sets(x, y, z)
        if zs & self.descendants(xs):
            return False
        return _d_separated(_cut_outgoing(self.dag, xs), xs, ys, zs)

    def satisfies_frontdoor(self, x: Node | Iterable[Node], y: Node | Iterable[Node],
                            z: Node | Iterable[Node]) -> bool:
        """Pearl's front-door criterion for the effect of ``x`` on ``y`` through ``z``.

        (i) ``z`` intercepts every directed path from ``x`` to ``y``; (ii) no back-door
        path from ``x`` to ``z`` is open; (iii) ``x`` blocks every back-door path from
        ``z`` to ``y``.
        """
        xs, ys, zs = self._node_sets(x, y, z)
        without_z = self.dag.copy()
        without_z.remove_nodes_from(zs)
        if any(nx.has_path(without_z, a, b) for a in xs for b in ys):
            return False
        if not _d_separated(_cut_outgoing(self.dag, xs), xs, zs, set()):
            return False
        return _d_separated(_cut_outgoing(self.dag, zs), zs, ys, xs)

    # -- equivalence class ---------------------------------------------------
    def cpdag(self) -> np.ndarray:
        """The CPDAG (essential graph) of this DAG as an adjacency matrix in :attr:`nodes` order.

        Edges of v-structures are kept directed, then Meek's rules R1–R3 propagate
        the orientations that every member of the Markov equivalence class shares.
        """
        return cpdag_from_dag(self.adjacency())


def _cut_outgoing(dag: nx.DiGraph, sources: set) -> nx.DiGraph:
    g = dag.copy()
    g.remove_edges_from([(s, c) for s in sources for c in list(dag.successors(s))])
    return g


def _d_separated(dag: nx.DiGraph, xs: set, ys: set, zs: set) -> bool:
    relevant = set(xs | ys | zs)
    for n in list(relevant):
        relevant |= nx.ancestors(dag, n)
    # Moral graph of the ancestral set: undirected skeleton plus married parents.
    neighbours: dict = {n: set() for n in relevant}
    for child in relevant:
        pas = [p for p in dag.predecessors(child) if p in relevant]
        for p in pas:
            neighbours[p].add(child)
            neighbours[child].add(p)
        for i, p in enumerate(pas):
            for q in pas[i + 1:]:
                neighbours[p].add(q)
                neighbours[q].add(p)
    seen = set(xs)
    queue = deque(xs)
    while queue:
        n = queue.popleft()
        if n in ys:
            return False
        for m in neighbours[n]:
            if m not in seen and m not in zs:
                seen.add(m)
                queue.append(m)
    return True


def cpdag_from_dag(adjacency: np.ndarray) -> np.ndarray:
    """CPDAG of a DAG given as a 0/1 adjacency matrix (``A[i, j] = 1`` for ``i → j``).

    **Example**

    >>> chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    >>> cpdag_from_dag(chain)          # a chain's orientation is not identifiable
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    dag = (np.asarray(adjacency) != 0).astype(int)
    d = dag.shape[0]
    skeleton = ((dag + dag.T) > 0).astype(int)
    g = skeleton.copy()
    for child in range(d):
        pas = np.flatnonzero(dag[:, child])
        for a in pas:
            for b in pas:
                if a != b and not skeleton[a, b]:
                    g[child, a] = g[child, b] = 0
    return meek_closure(g)


def meek_closure(g: np.ndarray, rule4: bool = False) -> np.ndarray:
    """Apply Meek's orientation rules until nothing changes.

    ``g`` is a partially directed graph: ``g[i, j] = g[j, i] = 1`` is ``i — j`` and
    ``g[i, j] = 1, g[j, i] = 0`` is ``i → j``. Each sweep applies R1 (no new
    v-structure), then R2 (no cycle), then R3, then R4 if ``rule4`` is set (R4 only
    matters with background knowledge), to every undirected edge. An orientation
    that would close a directed cycle (possible only when finite-sample errors
    left inconsistent v-structures) is skipped. Returns a new matrix.
    """
    g = (np.asarray(g) != 0).astype(int)
    d = g.shape[0]

    def undirected(i, j):
        return g[i, j] and g[j, i]

    def directed(i, j):
        return g[i, j] and not g[j, i]

    def adjacent(i, j):
        return g[i, j] or g[j, i]

    def r1(i, j, others):   # k → i — j, k and j non-adjacent  ⇒  i → j
        return any(directed(k, i) and not adjacent(k, j) for k in others)

    def r2(i, j, others):   # i → k → j and i — j  ⇒  i → j
        return any(directed(i, k) and directed(k, j) for k in others)

    def r3(i, j, others):   # i — k → j, i — l → j, k and l non-adjacent  ⇒  i → j
        mids = [k for k in others if undirected(i, k) and directed(k, j)]
        return any(not adjacent(k, l) for a, k in enumerate(mids) for l in mids[a + 1:])

    def r4(i, j, others):   # i — k → l → j, k and j non-adjacent, i adjacent to l  ⇒  i → j
        return any(undirected(i, k) and directed(k, l) and directed(l, j)
                   and not adjacent(k, j) and adjacent(i, l)
                   for k in others for l in others if k != l)

    rules = [r1, r2, r3] + ([r4] if rule4 else [])
    changed = True
    while changed:
        changed = False
        for rule in rules:
            for i in range(d):
                for j in range(d):
                    if not undirected(i, j):
                        continue
                    others = [k for k in range(d) if k not in (i, j)]
                    if rule(i, j, others) and not _directed_path(g, j, i):
                        g[j, i] = 0
                        changed = True
    return g


def _directed_path(g: np.ndarray, src: int, dst: int) -> bool:
    """Whether ``src`` reaches ``dst`` along directed (one-way) edges of ``g``."""
    one_way = (g != 0) & (g.T == 0)
    seen, stack = {src}, [src]
    while stack:
        n = stack.pop()
        if n == dst:
            return True
        for m in np.flatnonzero(one_way[n]):
            if m not in seen:
                seen.add(int(m))
                stack.append(int(m))
    return False
