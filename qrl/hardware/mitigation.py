"""Error mitigation: Qiskit Runtime options on IBM targets, PennyLane ZNE on local noisy Aer.

On IBM hardware, mitigation is a set of Runtime ``EstimatorV2`` options (resilience
level, TREX measurement mitigation, ZNE, PEC, dynamical decoupling, Pauli twirling),
set per ``backends.yaml`` entry (``options: {measure_mitigation: true, pec: {max_overhead: 50}}``).
Probabilistic error cancellation for a known Pauli noise model on local Aer is :mod:`qrl.pec`. In
Runtime's local testing mode these options have no effect, so on the noisy Aer target
zero-noise extrapolation runs through PennyLane instead (``qml.noise``: global folding
plus Richardson or exponential extrapolation), which lets a user see what ZNE buys
before paying for hardware time.

**Example**

>>> opts = runtime_options(resilience_level=1, measure_mitigation=True,
...                        zne={"noise_factors": [1, 3, 5], "extrapolator": "exponential"})
>>> opts["resilience"]["zne_mitigation"]
True
"""

from __future__ import annotations

EXTRAPOLATORS = {"linear", "exponential", "double_exponential", "polynomial_degree_2",
                 "polynomial_degree_3", "richardson"}


def _flag_or_mapping(value, name: str) -> dict:
    if value in (None, False):
        return {}
    if value is True:
        return {"enable": True}
    if isinstance(value, dict):
        return {"enable": True, **value}
    raise ValueError(f"{name} must be true, false or a mapping of options, not {value!r}.")


def validate_zne(zne) -> dict | None:
    """Checks a ``zne`` option (bool or ``{noise_factors, extrapolator}``) and normalises it."""
    if zne in (None, False):
        return None
    zne = {} if zne is True else dict(zne)
    unknown = set(zne) - {"noise_factors", "extrapolator"}
    if unknown:
        raise ValueError(
            f"zne has unknown keys {sorted(unknown)}; use noise_factors and extrapolator."
        )
    factors = [float(f) for f in zne.get("noise_factors", [1, 3, 5])]
    if len(factors) < 2 or any(f < 1 for f in factors):
        raise ValueError("zne.noise_factors needs at least two factors >= 1, e.g. [1, 3, 5].")
    extrapolator = zne.get("extrapolator", "exponential")
    if extrapolator not in EXTRAPOLATORS:
        raise ValueError(
            f"zne.extrapolator {extrapolator!r} is unknown; use one of {sorted(EXTRAPOLATORS)}."
        )
    return {"noise_factors": factors, "extrapolator": extrapolator}


def validate_pec(pec) -> dict | None:
    """Checks a ``pec`` option (bool or ``{max_overhead, noise_gain}``) and normalises it.

    Runtime's probabilistic error cancellation learns the layer noise on the device and samples
    its quasi-probability inverse; ``max_overhead`` caps the sampling overhead γ² it may spend.
    """
    if pec in (None, False):
        return None
    if pec is not True and not isinstance(pec, dict):
        raise ValueError(f"pec must be true, false or a mapping {{max_overhead, noise_gain}}, not {pec!r}.")
    pec = {} if pec is True else dict(pec)
    unknown = set(pec) - {"max_overhead", "noise_gain"}
    if unknown:
        raise ValueError(f"pec has unknown keys {sorted(unknown)}; use max_overhead and noise_gain.")
    out: dict = {}
    if "max_overhead" in pec:
        if not isinstance(pec["max_overhead"], (int, float)) or pec["max_overhead"] < 1:
            raise ValueError(f"pec.max_overhead must be a number >= 1 (the largest sampling overhead "
                             f"gamma^2 to spend), not {pec['max_overhead']!r}.")
        out["max_overhead"] = float(pec["max_overhead"])
    if "noise_gain" in pec:
        gain = pec["noise_gain"]
        if gain != "auto" and (not isinstance(gain, (int, float)) or gain < 0):
            raise ValueError(f"pec.noise_gain must be 'auto' or a number >= 0, not {gain!r}.")
        out["noise_gain"] = gain
    return out


def runtime_options(resilience_level: int | None = None, measure_mitigation: bool | None = None,
                    zne=None, dynamical_decoupling=None, twirling=None, pec=None) -> dict:
    """Runtime ``EstimatorV2`` options as a nested mapping (what :func:`apply_runtime_options` sets).

    Args:
        resilience_level: 0 (none), 1 (TREX) or 2 (TREX + ZNE + gate twirling); None keeps
            the service default.
        measure_mitigation: TREX readout mitigation on or off.
        zne: True or ``{"noise_factors": [...], "extrapolator": "..."}``.
        dynamical_decoupling: True or ``{"sequence_type": "XY4", ...}``.
        twirling: True or ``{"enable_gates": True, "num_randomizations": 32, ...}``.
        pec: probabilistic error cancellation, True or ``{"max_overhead": 100, "noise_gain": "auto"}``
            (not together with ``zne``: Runtime applies one of the two).
    """
    options: dict = {}
    if resilience_level is not None:
        if resilience_level not in (0, 1, 2):
            raise ValueError(f"resilience_level must be 0, 1 or 2, not {resilience_level!r}.")
        options["resilience_level"] = resilience_level
    resilience: dict = {}
    if measure_mitigation is not None:
        resilience["measure_mitigation"] = bool(measure_mitigation)
    zne_options = validate_zne(zne)
    if zne_options:
        resilience["zne_mitigation"] = True
        resilience["zne"] = zne_options
    pec_options = validate_pec(pec)
    if pec_options is not None:
        if zne_options:
            raise ValueError("pec and zne cannot both be on: Runtime mitigates with one of them; remove one.")
        resilience["pec_mitigation"] = True
        if pec_options:
            resilience["pec"] = pec_options
    if resilience:
        options["resilience"] = resilience
    dd = _flag_or_mapping(dynamical_decoupling, "dynamical_decoupling")
    if dd:
        options["dynamical_decoupling"] = dd
    tw = _flag_or_mapping(twirling, "twirling")
    if tw:
        tw.pop("enable")
        tw.setdefault("enable_gates", True)
        tw.setdefault("enable_measure", True)
        options["twirling"] = tw
    return options


def apply_runtime_options(target_options, mapping: dict) -> None:
    """Sets a nested mapping onto a Runtime options object (``estimator.options``)."""
    for key, value in mapping.items():
        if isinstance(value, dict):
            apply_runtime_options(getattr(target_options, key), value)
        else:
            setattr(target_options, key, value)


def mitigation_cost_factor(mapping: dict) -> float:
    """Rough multiplier on QPU time that the options cost (ZNE factors, twirling, TREX)."""
    factor = 1.0
    resilience = mapping.get("resilience", {})
    level = mapping.get("resilience_level")
    if resilience.get("zne_mitigation") or level == 2:
        factor *= len(resilience.get("zne", {}).get("noise_factors", [1, 3, 5]))
    if resilience.get("pec_mitigation"):
        factor *= resilience.get("pec", {}).get("max_overhead", 100.0)  # at most gamma^2 more samples
    if resilience.get("measure_mitigation") or level in (1, 2):
        factor *= 1.1  # TREX calibration circuits
    return factor


def local_zne_transform(zne: dict):
    """The PennyLane transform that folds and extrapolates (``qml.noise.mitigate_with_zne``).

    Returns:
        ``(transform, kwargs)`` to add to a device's preprocessing pipeline.
    """
    import pennylane as qp

    extrapolate = {
        "richardson": qp.noise.richardson_extrapolate,
        "exponential": qp.noise.exponential_extrapolate,
    }.get(zne["extrapolator"])
    if extrapolate is None:
        raise ValueError(
            f"zne.extrapolator {zne['extrapolator']!r} is not available for local ZNE; "
            "use richardson or exponential."
        )
    return qp.transform(_zne_keeping_batch), {
        "scale_factors": zne["noise_factors"],
        "folding": qp.noise.fold_global,
        "extrapolate": extrapolate,
    }


def _zne_keeping_batch(tape, **kwargs):
    """``qml.noise.mitigate_with_zne``, with a broadcast tape's values as one array of shape (batch,).

    On a broadcast tape with one expectation value PennyLane's ZNE returns a tuple of ``batch``
    scalars; every other backend returns an array of shape ``(batch,)``, so that is what we return.
    """
    import pennylane as qp

    tapes, postprocess = qp.noise.mitigate_with_zne(tape, **kwargs)
    batch = tape.batch_size

    def stack(results):
        out = postprocess(results)
        if batch is not None and len(tape.measurements) == 1 and isinstance(out, tuple) and len(out) == batch:
            return qp.math.stack(out)
        return out

    return tapes, stack

