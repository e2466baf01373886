"""Instrumental variables: two-stage least squares (2SLS).

When a hidden confounder ``U`` drives both the treatment ``x`` and the outcome ``y``,
regressing ``y`` on ``x`` is biased: in the linear SCM

    ``x = π z + δ U + e_x``,   ``y = β x + γ U + e_y``

ordinary least squares gives ``β + γ δ var(U) / var(x)``. An *instrument* ``z`` moves
``x`` (relevance), is independent of ``U`` (exogeneity) and touches ``y`` only through
``x`` (exclusion). Two-stage least squares uses only the part of ``x`` the instrument
explains:

1. regress ``x`` on ``[1, covariates, z]`` → fitted ``x̂``;
2. regress ``y`` on ``[1, covariates, x̂]``; the coefficient of ``x̂`` is ``β̂``.

Equivalently ``β̂ = (X'P X)⁻¹ X'P y`` with ``P`` the projection on the instrument
matrix ``W = [1, covariates, z]`` and ``X = [1, covariates, x]``; with one instrument
and no covariates it is the Wald ratio ``cov(z, y) / cov(z, x)``.

A weak instrument (one that barely moves ``x``) makes 2SLS unstable and biased towards
OLS; :func:`two_stage_least_squares` refuses instruments whose first-stage partial
F statistic is below ``min_first_stage_f`` (10, the Staiger–Stock rule of thumb).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IVResult:
    """A 2SLS fit.

    Attributes:
        coef: coefficients of the endogenous regressors, in the order given.
        exog_coef: intercept, then the coefficients of the covariates.
        first_stage_f: partial F statistic of the instruments in each first stage
            (one per endogenous regressor).
    """

    coef: np.ndarray
    exog_coef: np.ndarray
    first_stage_f: np.ndarray


def _as_matrix(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array or a 2-D matrix (rows = samples); "
                         f"got shape {np.shape(a)}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute those samples first.")
    return a


def _as_column(name: str, a: np.ndarray, what: str, hint: str = "") -> np.ndarray:
    """``[n]`` or ``[n, 1]`` → ``[n]``; anything else is refused."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, 1) ({what}); got shape {np.shape(a)}.{hint}")
    return a


def _check_rows(**arrays: np.ndarray | None) -> None:
    rows = {name: np.shape(a)[0] for name, a in arrays.items() if a is not None and np.ndim(a) >= 1}
    if len(set(rows.values())) > 1:
        got = ", ".join(f"{name} {np.shape(arrays[name])}" for name in rows)
        raise ValueError(f"every array needs one row per sample, but the row counts differ: {got}.")


def _residualise(a: np.ndarray, basis: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(basis, a, rcond=None)
    return a - basis @ coef


def two_stage_least_squares(z: np.ndarray, x: np.ndarray, y: np.ndarray,
                            covariates: np.ndarray | None = None,
                            min_first_stage_f: float = 10.0) -> IVResult:
    """2SLS with any number of endogenous regressors and instruments (an intercept is added).

    Args:
        z: instruments, ``[n]`` or ``[n, k]``.
        x: endogenous regressors, ``[n]`` or ``[n, p]`` (needs ``k ≥ p``).
        y: outcome ``[n]`` or ``[n, 1]``.
        covariates: exogenous regressors ``[n]`` or ``[n, c]`` entering both stages.
        min_first_stage_f: smallest acceptable partial F of the instruments in each first stage.

    Raises:
        ValueError: bad shapes, NaN, too few instruments, a constant or collinear instrument,
            or a weak instrument.

    **Example**

    >>> rng = np.random.default_rng(0)
    >>> z, u = rng.standard_normal((2, 5000))
    >>> x = z + u + rng.standard_normal(5000)
    >>> y = 2 * x + 3 * u + rng.standard_normal(5000)
    >>> round(float(two_stage_least_squares(z, x, y).coef[0]), 1)
    2.0
    """
    _check_rows(z=z, x=x, y=y, covariates=covariates)
    y = _as_column("y", y, "one outcome")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values; drop or impute those samples first.")
    n = len(y)
    z = _as_matrix("z", z)
    x = _as_matrix("x", x)
    exog = np.ones((n, 1))
    if covariates is not None:
        exog = np.hstack([exog, _as_matrix("covariates", covariates)])
    k, p, c = z.shape[1], x.shape[1], exog.shape[1]
    if k < p:
        raise ValueError(f"{p} endogenous regressors need at least {p} instruments; z has {k} "
                         "(the model is under-identified).")
    if n <= c + k:
        raise ValueError(f"{n} samples are too few for {c} exogenous regressors and {k} instruments; "
                         "collect more data.")
    scale = lambda a: np.maximum(np.abs(a).max(0), 1.0)  # noqa: E731
    z_tilde = _residualise(z, exog)
    constant = np.flatnonzero(np.sqrt((z_tilde ** 2).mean(0)) <= 1e-10 * scale(z))
    if constant.size:
        what = "constant" if covariates is None else "constant or a linear function of the covariates"
        raise ValueError(f"instrument column(s) {constant.tolist()} of z are {what}, so they cannot "
                         "move x; use an instrument that varies independently.")
    if np.linalg.matrix_rank(z_tilde) < k:
        raise ValueError("the instruments in z are linearly dependent (given the covariates); drop "
                         "the redundant columns.")
    x_tilde = _residualise(x, exog)
    # First stage per endogenous regressor: partial F of the instruments, given the covariates.
    gamma, *_ = np.linalg.lstsq(z_tilde, x_tilde, rcond=None)
    explained = ((z_tilde @ gamma) ** 2).sum(0)
    rss = ((x_tilde - z_tilde @ gamma) ** 2).sum(0)
    first_f = (explained / k) / np.maximum(rss / (n - c - k), 1e-300)
    weak = np.flatnonzero(first_f < min_first_stage_f)
    if weak.size:
        raise ValueError(f"weak instrument: the first-stage F statistic of z for x column(s) "
                         f"{weak.tolist()} is {np.round(first_f[weak], 2).tolist()} < "
                         f"{min_first_stage_f:g} (z is nearly uncorrelated with x given the "
                         "covariates); 2SLS would be unreliable. Use a stronger instrument or more data.")
    w = np.hstack([exog, z])
    design = np.hstack([exog, x])
    fitted, *_ = np.linalg.lstsq(w, design, rcond=None)
    design_hat = w @ fitted                               # P_W X (exogenous columns unchanged)
    beta, *_ = np.linalg.lstsq(design_hat, y, rcond=None)
    return IVResult(coef=beta[c:], exog_coef=beta[:c], first_stage_f=first_f)


def iv_effect(z: np.ndarray, x: np.ndarray, y: np.ndarray,
              covariates: np.ndarray | None = None) -> float:
    """The linear effect of ``x`` on ``y`` using instrument(s) ``z``, by two-stage least squares.

    Args:
        z: one instrument ``[n]`` or several ``[n, k]``.
        x: the treatment ``[n]`` or ``[n, 1]`` (one endogenous regressor).
        y: the outcome ``[n]`` or ``[n, 1]``.
        covariates: exogenous regressors ``[n]`` or ``[n, c]``, used in both stages.

    Returns:
        ``β̂``, the 2SLS coefficient of ``x``.

    Raises:
        ValueError: row counts that differ, NaN, ``x`` or ``y`` with more than one column, or a constant,
            collinear or weak instrument (first-stage F < 10).

    **Example**

    >>> rng = np.random.default_rng(1)
    >>> u, z = rng.standard_normal((2, 20_000))
    >>> x = 0.8 * z + u + rng.standard_normal(20_000)
    >>> y = 1.5 * x - 2.0 * u + rng.standard_normal(20_000)
    >>> round(iv_effect(z, x, y), 1)                 # OLS would give about 0.8
    1.5
    """
    _check_rows(z=z, x=x, y=y, covariates=covariates)
    x = _as_column("x", x, "one treatment", " For several endogenous regressors use two_stage_least_squares.")
    return float(two_stage_least_squares(z, x, y, covariates).coef[0])
