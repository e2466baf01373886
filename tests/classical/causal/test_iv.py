"""Two-stage least squares against closed forms of linear SCMs with a hidden confounder."""

import numpy as np
import pytest

from classical.causal.iv import iv_effect, two_stage_least_squares

BETA, GAMMA, PI, DELTA = 1.5, 2.0, 0.8, 1.0


def confounded_linear(n, rng, pi=PI):
    """z → x → y with U → x, U → y (U hidden); var(U) = var(e) = 1."""
    u, z, ex, ey = rng.standard_normal((4, n))
    x = pi * z + DELTA * u + ex
    y = BETA * x + GAMMA * u + ey
    return z, x, y


def ols_slope(x, y):
    return float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))


def test_naive_ols_biased_by_the_known_amount_and_2sls_recovers_the_effect():
    z, x, y = confounded_linear(200_000, np.random.default_rng(0))
    bias = GAMMA * DELTA / (PI ** 2 + DELTA ** 2 + 1.0)          # γ δ var(U) / var(x) = 0.7463
    assert ols_slope(x, y) == pytest.approx(BETA + bias, abs=0.01)
    assert iv_effect(z, x, y) == pytest.approx(BETA, abs=0.02)


def test_just_identified_equals_the_wald_ratio():
    z, x, y = confounded_linear(500, np.random.default_rng(1))
    wald = np.cov(z, y)[0, 1] / np.cov(z, x)[0, 1]
    assert iv_effect(z, x, y) == pytest.approx(wald, rel=1e-10)
    assert iv_effect(z[:, None], x[:, None], y) == pytest.approx(wald, rel=1e-10)   # column shapes


def test_covariates_enter_both_stages():
    rng = np.random.default_rng(2)
    n = 200_000
    u, w, ez, ex, ey = rng.standard_normal((5, n))
    z = 0.7 * w + ez                        # the instrument is valid only given w
    x = PI * z + DELTA * u + 0.5 * w + ex
    y = BETA * x + GAMMA * u - 1.2 * w + ey
    assert iv_effect(z, x, y, covariates=w) == pytest.approx(BETA, abs=0.02)
    assert abs(iv_effect(z, x, y) - BETA) > 0.3          # w opens z ← w → y without adjustment
    fit = two_stage_least_squares(z, x, y, covariates=w[:, None])
    assert fit.exog_coef[1] == pytest.approx(-1.2, abs=0.03)


def test_several_instruments_match_the_projection_formula_and_the_truth():
    rng = np.random.default_rng(3)
    n = 100_000
    u, z1, z2, ex, ey = rng.standard_normal((5, n))
    x = 0.5 * z1 - 0.6 * z2 + DELTA * u + ex
    y = BETA * x + GAMMA * u + ey
    z = np.column_stack([z1, z2])
    est = iv_effect(z, x, y)
    assert est == pytest.approx(BETA, abs=0.02)
    # closed form β = (X'PX)⁻¹ X'Py with W = [1, z], X = [1, x]
    w, design = np.column_stack([np.ones(n), z]), np.column_stack([np.ones(n), x])
    proj = w @ np.linalg.solve(w.T @ w, w.T @ design)
    beta = np.linalg.solve(proj.T @ design, proj.T @ y)
    assert est == pytest.approx(beta[1], rel=1e-8)


def test_two_endogenous_regressors():
    rng = np.random.default_rng(4)
    n = 100_000
    u, z1, z2, e1, e2, ey = rng.standard_normal((6, n))
    x1 = z1 + u + e1
    x2 = z2 - u + e2
    y = 1.0 * x1 - 0.5 * x2 + 2 * u + ey
    coef = two_stage_least_squares(np.column_stack([z1, z2]), np.column_stack([x1, x2]), y).coef
    np.testing.assert_allclose(coef, [1.0, -0.5], atol=0.03)


def test_constant_instrument_is_refused():
    _, x, y = confounded_linear(1000, np.random.default_rng(5))
    with pytest.raises(ValueError, match=r"instrument column\(s\) \[0\] of z are constant"):
        iv_effect(np.full(1000, 3.0), x, y)


def test_uncorrelated_instrument_is_refused_as_weak():
    rng = np.random.default_rng(6)
    _, x, y = confounded_linear(5000, rng)
    with pytest.raises(ValueError, match="weak instrument: the first-stage F statistic"):
        iv_effect(rng.standard_normal(5000), x, y)


def test_bad_shapes_and_values_are_refused():
    z, x, y = confounded_linear(100, np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"the row counts differ: z \(100,\), x \(99,\), y \(100,\)"):
        iv_effect(z, x[:-1], y)
    with pytest.raises(ValueError, match=r"row counts differ: z \(100, 1\), x \(100, 1\), y \(99, 1\)"):
        iv_effect(z[:, None], x[:, None], y[:-1, None])
    with pytest.raises(ValueError, match="z contains NaN"):
        iv_effect(np.where(np.arange(100) == 3, np.nan, z), x, y)
    with pytest.raises(ValueError, match=r"x must have shape \(n,\) or \(n, 1\) \(one treatment\); got shape "
                                          r"\(100, 2\)\. For several endogenous regressors"):
        iv_effect(z, np.column_stack([x, x]), y)
    with pytest.raises(ValueError, match="need at least 2 instruments"):
        two_stage_least_squares(z, np.column_stack([x, z + x]), y)
    with pytest.raises(ValueError, match="linearly dependent"):
        iv_effect(np.column_stack([z, 2 * z]), x, y)
    with pytest.raises(ValueError, match=r"y must have shape \(n,\) or \(n, 1\) \(one outcome\); got shape \(100, 2\)"):
        iv_effect(z, x, np.column_stack([y, y]))
    with pytest.raises(ValueError, match=r"x must have shape \(n,\) or \(n, 1\) \(one treatment\); got shape \(\)"):
        iv_effect(z, 1.0, y)


@pytest.mark.parametrize("z_shape", ["flat", "column"])
@pytest.mark.parametrize("x_shape", ["flat", "column"])
@pytest.mark.parametrize("y_shape", ["flat", "column"])
def test_column_vectors_give_the_same_effect_as_flat_arrays(z_shape, x_shape, y_shape):
    z, x, y = confounded_linear(500, np.random.default_rng(1))
    wald = np.cov(z, y)[0, 1] / np.cov(z, x)[0, 1]
    args = [a if kind == "flat" else a[:, None] for a, kind in ((z, z_shape), (x, x_shape), (y, y_shape))]
    assert iv_effect(*args) == pytest.approx(wald, rel=1e-10)
    assert two_stage_least_squares(*args).coef[0] == pytest.approx(wald, rel=1e-10)
