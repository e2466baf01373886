"""SCM sampling, interventions, counterfactuals and adjustment estimators vs ground truth."""

import numpy as np
import pytest

from classical.causal import CausalGraph
from classical.causal.scm import SCM, Mechanism, backdoor_adjustment, frontdoor_adjustment


def confounded_binary_scm():
    """Z → X, Z → Y, X → Y with binary variables (logistic-free, thresholded noise)."""
    bern = lambda p: (lambda rng, n: (rng.random(n) < p).astype(float))  # noqa: E731
    return SCM({
        "Z": Mechanism((), None, bern(0.3)),
        "X": Mechanism(("Z",), lambda z: 0 * z, lambda rng, n: rng.random(n)),
        "Y": Mechanism(("X", "Z"), lambda x, z: 1.0 * x + 2.0 * z, 0.5),
    })


def test_counterfactual_matches_hand_computation():
    # X := U_X ; M := X + U_M ; Y := 2 M - X + U_Y
    scm = SCM({"X": Mechanism(),
               "M": Mechanism(("X",), lambda x: x),
               "Y": Mechanism(("M", "X"), lambda m, x: 2 * m - x)})
    obs = {"X": 1.0, "M": 1.5, "Y": 4.0}
    noise = scm.abduct(obs)   # u_X = 1, u_M = 0.5, u_Y = 4 - (3 - 1) = 2
    assert {k: float(v[0]) for k, v in noise.items()} == {"X": 1.0, "M": 0.5, "Y": 2.0}
    cf = scm.counterfactual(obs, {"X": 3.0})
    # M = 3 + 0.5 = 3.5 ; Y = 7 - 3 + 2 = 6
    assert float(cf["M"][0]) == pytest.approx(3.5) and float(cf["Y"][0]) == pytest.approx(6.0)
    cf_m = scm.counterfactual(obs, {"M": 0.0})   # X keeps its value, Y = 0 - 1 + 2
    assert float(cf_m["X"][0]) == 1.0 and float(cf_m["Y"][0]) == pytest.approx(1.0)


def test_do_cuts_incoming_edges_and_sets_values():
    scm = confounded_binary_scm()
    done = scm.do({"X": 1.0})
    assert done.graph.parents("X") == set() and scm.graph.parents("X") == {"Z"}
    s = done.sample(1000, rng=0)
    assert np.all(s["X"] == 1.0)


def test_backdoor_estimate_matches_interventional_truth():
    # continuous, confounded: naive regression is biased, adjustment is not
    scm = SCM({"Z": Mechanism(), "W": Mechanism(),
               "X": Mechanism(("Z", "W"), lambda z, w: 1.5 * z + w),
               "Y": Mechanism(("X", "Z"), lambda x, z: 0.7 * x - 2.0 * z + 0.3 * x * z)})
    data = scm.sample(20_000, rng=1)
    for value in (-1.0, 2.0):
        truth = scm.interventional_mean("Y", {"X": value}, rng=2)
        est = backdoor_adjustment(data, "X", "Y", ["Z"], value, graph=scm.graph)
        naive = backdoor_adjustment(data, "X", "Y", [], value)
        assert est == pytest.approx(truth, abs=0.1)
        assert abs(naive - truth) > 0.5


def test_backdoor_stratified_on_discrete_data():
    rng = np.random.default_rng(3)
    n = 30_000
    z = (rng.random(n) < 0.4).astype(float)
    x = (rng.random(n) < np.where(z == 1, 0.8, 0.2)).astype(float)
    y = x + 2 * z + x * z + 0.3 * rng.normal(size=n)
    truth = 1 + 3 * 0.4                    # E[Y | do(X=1)] = 1 + 3 E[Z]
    data = {"X": x, "Y": y, "Z": z}
    assert backdoor_adjustment(data, "X", "Y", ["Z"], 1.0) == pytest.approx(truth, abs=0.05)
    assert abs(backdoor_adjustment(data, "X", "Y", [], 1.0) - truth) > 0.3


def test_frontdoor_estimate_matches_truth_with_hidden_confounder():
    scm = SCM({"U": Mechanism(), "X": Mechanism(("U",), lambda u: 2 * u),
               "M": Mechanism(("X",), lambda x: -0.8 * x, 0.5),
               "Y": Mechanism(("M", "U"), lambda m, u: 1.2 * m + 3 * u)}, latent=("U",))
    g = scm.graph
    assert g.satisfies_frontdoor("X", "Y", "M") and not g.satisfies_backdoor("X", "Y", set())
    observed = {k: v for k, v in scm.sample(30_000, rng=5).items() if k in scm.observed}
    assert "U" not in observed
    truth = scm.interventional_mean("Y", {"X": 1.5}, rng=6)
    assert truth == pytest.approx(-1.44, abs=0.02)
    assert frontdoor_adjustment(observed, "X", "M", "Y", 1.5, graph=g) == pytest.approx(truth, abs=0.1)


def test_frontdoor_discrete():
    rng = np.random.default_rng(7)
    n = 60_000
    u = (rng.random(n) < 0.5).astype(float)
    x = (rng.random(n) < np.where(u == 1, 0.8, 0.2)).astype(float)
    m = (rng.random(n) < np.where(x == 1, 0.9, 0.1)).astype(float)
    y = m + 2 * u + 0.2 * rng.normal(size=n)
    truth = 0.9 + 2 * 0.5   # E[M | do(X=1)] + 2 E[U]
    est = frontdoor_adjustment({"X": x, "M": m, "Y": y}, "X", "M", "Y", 1.0)
    assert est == pytest.approx(truth, abs=0.05)


def test_errors_a_user_can_cause():
    with pytest.raises(ValueError, match="no mechanism"):
        SCM({"Y": Mechanism(("X",), lambda x: x)})
    scm = SCM({"X": Mechanism(), "Y": Mechanism(("X",), lambda x: x)})
    with pytest.raises(ValueError, match="every variable"):
        scm.abduct({"Y": 1.0})
    g = CausalGraph([("Z", "X"), ("Z", "Y"), ("X", "Y")])
    with pytest.raises(ValueError, match="back-door"):
        backdoor_adjustment({"X": np.zeros(3), "Y": np.zeros(3), "Z": np.zeros(3)},
                            "X", "Y", [], 0.0, graph=g)


def test_linear_scm_matches_weights():
    w = np.array([[0, 2.0, 0], [0, 0, -1.0], [0, 0, 0]])
    scm = SCM.linear(w, names=["a", "b", "c"])
    assert scm.interventional_mean("c", {"a": 1.0}) == pytest.approx(-2.0, abs=0.02)
