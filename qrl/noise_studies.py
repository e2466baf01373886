"""NISQ studies: a trained circuit agent under shot noise, device noise and mitigation.

:func:`evaluate_under_noise` takes the run directory of a trained circuit Q-agent
(``classical.rl.dqn``), rebuilds it on several ``backends.yaml`` targets (ideal,
shots, noisy fake-IBM Aer, noisy Aer with zero-noise extrapolation) and reports,
per target, the error of its circuit expectation values against the ideal ones
on a fixed batch of states, how often its greedy action agrees with the ideal
agent, and the success of greedy episodes. Readout mitigation is applied on top
of the noisy target by :func:`readout_scale_factors` (symmetric readout-error
model: each measured Z is damped by f_q = (⟨Z⟩_|0⟩ − ⟨Z⟩_|1⟩)/2, calibrated with
two circuits, and a Z word is divided by the product of its qubits' f_q).

The barren-plateau study (global and local costs) is :func:`qrl.diagnostics.gradient_variance`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np
import pennylane as qml
import torch

import qrl.envs  # noqa: F401  (registers the environments a trained agent may need)
import qrl.models  # noqa: F401  (registers the vqc model type)
from classical.common.rollouts import evaluate_policy
from qrl import backends
from qrl.models import VQC


def readout_scale_factors(backend: str, n_qubits: int) -> np.ndarray:
    """f_q = (⟨Z_q⟩ after |0⟩ − ⟨Z_q⟩ after X|0⟩) / 2 on ``backend``: 1 for perfect readout."""
    def prepare(flip: bool):
        def circuit():
            for q in range(n_qubits):
                if flip:
                    qml.X(q)
                else:
                    qml.Identity(q)
            return [qml.expval(qml.Z(q)) for q in range(n_qubits)]
        return np.array([float(v) for v in backends.qnode(circuit, backend, n_qubits)()])

    return (prepare(False) - prepare(True)) / 2


def _word_qubits(word: str) -> list[int]:
    return [int(q) for q in re.findall(r"Z(\d+)", word)]


def mitigated_expectations(vqc: VQC, x: torch.Tensor, factors: np.ndarray) -> torch.Tensor:
    """⟨O_k⟩ of ``vqc`` with each Z word divided by the product of its qubits' readout factors."""
    raw = vqc.expectations(x)
    scale = torch.tensor([math.prod(factors[q] for q in _word_qubits(w)) for w in vqc.observables],
                         dtype=raw.dtype)
    return (raw / scale).clamp(-1, 1)


def evaluate_under_noise(run_dir: str | Path, targets: Sequence[str] = ("aer.shots", "aer.noisy.manila",
                                                                        "aer.noisy.manila.zne"),
                         ideal: str = "default.qubit", n_states: int = 16, episodes: int = 5,
                         readout_on: str | None = "aer.noisy.manila", seed: int = 0) -> list[dict]:
    """One row per target: expectation error vs ideal, greedy-action agreement, episode success.

    States are drawn from ideal greedy and random episodes of the agent's environment.
    """
    from classical.rl.dqn import load_agent

    agent = load_agent(run_dir, backend=ideal)
    cfg = agent.cfg
    rng = np.random.default_rng(seed)
    env = gym.make(cfg.env_id, **cfg.env_kwargs)
    states = []
    ep = 0
    while len(states) < n_states:
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done and len(states) < n_states:
            states.append(obs)
            action = int(agent.predict(obs[None])[0][0]) if rng.random() < 0.5 else env.action_space.sample()
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        ep += 1
    env.close()
    x = agent._obs(np.asarray(states))

    def measure(a, mitigate_with=None):
        vqc = a.q.vqc
        with torch.no_grad():
            ev = mitigated_expectations(vqc, x, mitigate_with) if mitigate_with is not None else vqc.expectations(x)
            q = ev @ vqc.readout.T * (vqc.output_scaling if vqc.output_scaling is not None else 1.0)
        return ev.numpy(), q.argmax(-1).numpy()

    def episodes_success(a):
        rows = evaluate_policy(cfg.env_id, lambda o: a.predict(o)[0], episodes, 10_000, cfg.env_kwargs,
                               info_keys=cfg.eval_info_keys)
        key = "success" if "success" in cfg.eval_info_keys else None
        return (float(np.mean([bool(r[key]) for r in rows])) if key else float("nan"),
                float(np.mean([r["return"] for r in rows])))

    ideal_ev, ideal_act = measure(agent)
    rows = [{"target": ideal, "mean_abs_error": 0.0, "action_agreement": 1.0,
             "success": episodes_success(agent)[0]}]
    cases = [(t, None) for t in targets]
    if readout_on is not None:
        cases.append((readout_on, readout_scale_factors(readout_on, agent.q.vqc.n_qubits)))
    for target, factors in cases:
        other = load_agent(run_dir, backend=target)
        ev, act = measure(other, factors)
        rows.append({"target": target + (" + readout mitigation" if factors is not None else ""),
                     "mean_abs_error": float(np.abs(ev - ideal_ev).mean()),
                     "action_agreement": float((act == ideal_act).mean()),
                     "success": episodes_success(other)[0] if factors is None else float("nan")})
    return rows


__all__ = ["evaluate_under_noise", "mitigated_expectations", "readout_scale_factors"]
