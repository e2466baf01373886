"""Structural causal models: sampling, do-interventions, counterfactuals, adjustment.

An :class:`SCM` assigns every variable ``V`` a mechanism ``V := f_V(pa(V)) + U_V``
with independent noise ``U_V`` (additive noise). That additivity is what makes
counterfactuals computable by Pearl's three steps:

1. **abduction**: from a full observation, recover each unit's noise
   ``u_V = v − f_V(pa(v))``;
2. **action**: replace the mechanisms of the intervened variables by constants
   (:meth:`SCM.do`, which cuts their incoming edges);
3. **prediction**: push the recovered noise through the modified model.

Causal effects ``E[Y | do(X = x)]`` are estimated from observational data by
back-door adjustment (:func:`backdoor_adjustment`) or, when a hidden confounder
blocks that, front-door adjustment through a mediator (:func:`frontdoor_adjustment`);
:meth:`SCM.interventional_mean` gives the ground truth to check them against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from classical.causal.graph import CausalGraph

Values = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Mechanism:
    """``V := f(*parents) + noise``.

    Args:
        parents: names of the parent variables, in the order ``f`` takes them.
        f: deterministic part, called with one array per parent; ``None`` means 0.
        noise: standard deviation of Gaussian noise, or a callable ``(rng, n) -> array``.
    """

    parents: tuple[str, ...] = ()
    f: Callable[..., np.ndarray] | None = None
    noise: float | Callable[[np.random.Generator, int], np.ndarray] = 1.0

    def mean(self, values: Values, n: int) -> np.ndarray:
        if self.f is None:
            return np.zeros(n)
        out = self.f(*[values[p] for p in self.parents])
        return np.broadcast_to(np.asarray(out, dtype=float), (n,)).copy()

    def sample_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if callable(self.noise):
            return np.asarray(self.noise(rng, n), dtype=float)
        return float(self.noise) * rng.standard_normal(n)


@dataclass
class SCM:
    """A structural causal model with additive noise.

    Args:
        mechanisms: variable name → :class:`Mechanism`.
        latent: names of unobserved variables (kept in samples, so ground truth can
            use them; estimators must not).

    **Example**

    >>> scm = SCM({"X": Mechanism(), "Y": Mechanism(("X",), lambda x: 2 * x)})
    >>> cf = scm.counterfactual({"X": 1.0, "Y": 3.0}, {"X": 2.0})   # u_Y = 1
    >>> float(cf["Y"][0])
    5.0
    """

    mechanisms: dict[str, Mechanism]
    latent: tuple[str, ...] = ()
    intervened: frozenset = field(default_factory=frozenset)

    def __post_init__(self):
        names = set(self.mechanisms)
        for v, m in self.mechanisms.items():
            unknown = set(m.parents) - names
            if unknown:
                raise ValueError(f"variable '{v}' has parents {sorted(unknown)} that have no "
                                 "mechanism; add a Mechanism for each of them.")
        unknown_latent = set(self.latent) - names
        if unknown_latent:
            raise ValueError(f"latent variables {sorted(unknown_latent)} have no mechanism; "
                             "add them or drop them from latent.")
        self.graph = CausalGraph([(p, v) for v, m in self.mechanisms.items() for p in m.parents],
                                 nodes=list(self.mechanisms))
        self.order = self.graph.topological_order()

    @classmethod
    def linear(cls, weights: np.ndarray, names: Iterable[str] | None = None,
               noise_scale: float | Iterable[float] = 1.0, latent: Iterable[str] = ()) -> SCM:
        """The linear-Gaussian SCM ``X = X W + E`` of a weighted DAG (``W[i, j]``: i → j)."""
        w = np.asarray(weights, dtype=float)
        d = w.shape[0]
        names = [f"x{i}" for i in range(d)] if names is None else list(names)
        scales = np.broadcast_to(np.asarray(noise_scale, dtype=float), (d,))
        mechs = {}
        for j, v in enumerate(names):
            pas = tuple(names[i] for i in np.flatnonzero(w[:, j]))
            coef = w[np.flatnonzero(w[:, j]), j]
            mechs[v] = Mechanism(pas, (lambda *xs, c=coef: sum(ci * xi for ci, xi in zip(c, xs)))
                                 if pas else None, float(scales[j]))
        return cls(mechs, latent=tuple(latent))

    @property
    def observed(self) -> list[str]:
        return [v for v in self.order if v not in self.latent]

    # -- sampling and interventions -----------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> dict[str, np.ndarray]:
        """Draw ``n`` joint samples (latent variables included)."""
        rng = np.random.default_rng(rng)
        noise = {v: self.mechanisms[v].sample_noise(rng, n) for v in self.order}
        return self.propagate(noise)

    def propagate(self, noise: Values) -> dict[str, np.ndarray]:
        """Evaluate every mechanism in causal order with the given noise values."""
        n = len(np.atleast_1d(next(iter(noise.values()))))
        values: dict[str, np.ndarray] = {}
        for v in self.order:
            m = self.mechanisms[v]
            values[v] = m.mean(values, n)
            if v not in self.intervened:
                values[v] = values[v] + np.broadcast_to(np.asarray(noise[v], dtype=float), (n,))
        return values

    def do(self, interventions: Mapping[str, float | np.ndarray]) -> SCM:
        """The intervened model: each ``X`` in ``interventions`` is set to its value, cutting
        its incoming edges."""
        unknown = set(interventions) - set(self.mechanisms)
        if unknown:
            raise ValueError(f"cannot intervene on unknown variables {sorted(unknown)}; "
                             f"the model has {sorted(self.mechanisms)}.")
        mechs = dict(self.mechanisms)
        for v, value in interventions.items():
            mechs[v] = Mechanism((), (lambda c=np.asarray(value, dtype=float): c), 0.0)
        return SCM(mechs, self.latent, self.intervened | frozenset(interventions))

    def interventional_mean(self, outcome: str, interventions: Mapping[str, float],
                            n: int = 200_000, rng: np.random.Generator | int | None = 0) -> float:
        """Monte-Carlo ground truth ``E[outcome | do(interventions)]``."""
        return float(self.do(interventions).sample(n, rng)[outcome].mean())

    # -- counterfactuals -------------------------------------------------------
    def abduct(self, observation: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        """Recover each unit's noise from a full observation (additive noise: ``u = v − f(pa)``)."""
        missing = [v for v in self.order if v not in observation]
        if missing:
            raise ValueError(f"abduction needs a value for every variable; {missing} are missing "
                             "(with a latent variable, give its value or marginalise it first).")
        values = {v: np.atleast_1d(np.asarray(observation[v], dtype=float)) for v in self.order}
        n = max(len(a) for a in values.values())
        values = {v: np.broadcast_to(a, (n,)) for v, a in values.items()}
        return {v: values[v] - self.mechanisms[v].mean(values, n) for v in self.order}

    def counterfactual(self, observation: Mapping[str, float | np.ndarray],
                       interventions: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        """What would each variable have been, for these units, had ``interventions`` held?"""
        return self.do(interventions).propagate(self.abduct(observation))


# -- adjustment estimators ------------------------------------------------------
def _is_discrete(a: np.ndarray, max_levels: int = 10) -> bool:
    return np.unique(a).size <= max_levels and np.allclose(a, np.round(a))


def _ols(columns: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(y)), *columns])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def backdoor_adjustment(data: Values, treatment: str, outcome: str, adjustment: Iterable[str],
                        value: float, graph: CausalGraph | None = None) -> float:
    """Estimate ``E[Y | do(X = value)] = E_Z[ E[Y | X = value, Z] ]`` from observational data.

    Discrete ``X`` and ``Z`` (≤ 10 integer levels each) are adjusted by exact
    stratification; otherwise ``E[Y | X, Z]`` is a least-squares fit with ``X × Z``
    interactions, averaged over the observed ``Z``.

    Args:
        data: variable name → samples.
        treatment, outcome: names of ``X`` and ``Y``.
        adjustment: the set ``Z``; it must satisfy the back-door criterion.
        value: the treatment value.
        graph: if given, ``Z`` is checked against the back-door criterion first.

    **Example**

    >>> scm = SCM({"Z": Mechanism(), "X": Mechanism(("Z",), lambda z: z),
    ...            "Y": Mechanism(("X", "Z"), lambda x, z: 2 * x + 3 * z)})
    >>> d = scm.sample(20_000, rng=0)
    >>> round(backdoor_adjustment(d, "X", "Y", ["Z"], 1.0), 1)      # truth: 2.0
    2.0
    """
    z_names = list(adjustment)
    if graph is not None and not graph.satisfies_backdoor(treatment, outcome, set(z_names)):
        raise ValueError(f"{z_names} does not satisfy the back-door criterion for {treatment} → "
                         f"{outcome}; choose a set with no descendant of {treatment} that blocks "
                         f"every back-door path (the parents of {treatment} always do).")
    x, y = np.asarray(data[treatment], float), np.asarray(data[outcome], float)
    zs = [np.asarray(data[z], float) for z in z_names]
    if _is_discrete(x) and all(_is_discrete(z) for z in zs):
        if not zs:
            return float(y[x == value].mean())
        strata = np.column_stack(zs)
        keys, inverse = np.unique(strata, axis=0, return_inverse=True)
        total = 0.0
        for k in range(len(keys)):
            in_stratum = inverse.ravel() == k
            treated = in_stratum & (x == value)
            if not treated.any():
                raise ValueError(f"no sample has {treatment} = {value} in stratum "
                                 f"{dict(zip(z_names, keys[k]))} (positivity fails); collect more "
                                 "data or adjust for a coarser set.")
            total += in_stratum.mean() * y[treated].mean()
        return float(total)
    coef = _ols([x, *zs, *[x * z for z in zs]], y)
    xv = np.full_like(x, value)
    pred = np.column_stack([np.ones_like(x), xv, *zs, *[xv * z for z in zs]]) @ coef
    return float(pred.mean())


def frontdoor_adjustment(data: Values, treatment: str, mediator: str, outcome: str, value: float,
                         graph: CausalGraph | None = None) -> float:
    """Estimate ``E[Y | do(X = value)]`` through a mediator ``M`` that satisfies the front-door
    criterion: ``Σ_m P(m | x) Σ_x' P(x') E[Y | m, x']``.

    Discrete ``X`` and ``M`` use exact frequencies; continuous data use least-squares
    fits ``M ~ X`` and ``Y ~ M + X + M·X`` (exact for linear mechanisms).

    **Example**

    >>> scm = SCM({"U": Mechanism(), "X": Mechanism(("U",), lambda u: u),
    ...            "M": Mechanism(("X",), lambda x: 2 * x),
    ...            "Y": Mechanism(("M", "U"), lambda m, u: 1.5 * m + 4 * u)}, latent=("U",))
    >>> d = scm.sample(50_000, rng=0)
    >>> round(frontdoor_adjustment(d, "X", "M", "Y", 1.0), 1)        # truth: 3.0
    3.0
    """
    if graph is not None and not graph.satisfies_frontdoor(treatment, outcome, {mediator}):
        raise ValueError(f"'{mediator}' does not satisfy the front-door criterion for {treatment} "
                         f"→ {outcome}; it must intercept every directed path, have no open "
                         f"back-door path from {treatment}, and its back-door paths to {outcome} "
                         f"must be blocked by {treatment}.")
    x = np.asarray(data[treatment], float)
    m = np.asarray(data[mediator], float)
    y = np.asarray(data[outcome], float)
    if _is_discrete(x) and _is_discrete(m):
        xs, ms = np.unique(x), np.unique(m)
        if not np.any(x == value):
            raise ValueError(f"no sample has {treatment} = {value}; collect data where it occurs.")
        total = 0.0
        for mv in ms:
            p_m = np.mean(m[x == value] == mv)
            if p_m == 0:
                continue
            inner = 0.0
            for xv in xs:
                cell = (m == mv) & (x == xv)
                if not cell.any():
                    raise ValueError(f"no sample has {mediator} = {mv} and {treatment} = {xv} "
                                     "(positivity fails); collect more data.")
                inner += np.mean(x == xv) * y[cell].mean()
            total += p_m * inner
        return float(total)
    a0, a1 = _ols([x], m)
    c0, c1, c2, c3 = _ols([m, x, m * x], y)
    mean_m = a0 + a1 * value            # E[M | do(X = value)]; M's residuals have mean 0
    mean_x = x.mean()
    return float(c0 + c1 * mean_m + c2 * mean_x + c3 * mean_m * mean_x)
