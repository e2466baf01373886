"""Write the notebooks of ``notebooks/`` (issue 10) and, optionally, execute them in place.

The notebooks only call library functions; this script is their single source, so a
change to a story is made here and the notebooks are regenerated::

    python benchmarks/build_notebooks.py                      # write every notebook (no outputs)
    python benchmarks/build_notebooks.py --execute 01 --mode full   # run 01 in full mode, keep outputs
    QRL_QUICK=1 python benchmarks/build_notebooks.py --execute 03 04 --mode quick

Quick mode (``QRL_QUICK=1``) is what the test suite runs; full mode uses the
budgets stated in each notebook.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

SETUP = '''import os
import sys
from pathlib import Path

QUICK = os.environ.get("QRL_QUICK", "0") == "1"
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "experiments").is_dir())
os.chdir(ROOT)
os.environ.setdefault("OMP_NUM_THREADS", "1")
import tempfile

import torch
from IPython.display import Image, Markdown, display

torch.set_num_threads(1)
from qrl import experiments

sys.path.insert(0, str(ROOT / "notebooks"))
import results_store  # the notebooks' recorded numbers (notebooks/results_store.py)

def out_dir(name):
    """Quick mode trains into a fresh temporary folder; full mode into runs/ (resumable)."""
    return Path(tempfile.mkdtemp(prefix=name + "-")) if QUICK else ROOT / "runs" / name

print("mode:", "QUICK (QRL_QUICK=1): tiny budgets, numbers are NOT meaningful" if QUICK else "FULL")'''


def nb01() -> list:
    return [
        ("md", "# 01 — Quantum vs classical on CartPole-v1: REINFORCE and DQN\n\n"
               "The question: at the **same number of environment steps**, does a variational quantum circuit "
               "policy (Jerbi et al. 2021: 4 qubits, 5 re-uploading layers, 94 parameters) do better than a "
               "classical MLP **with the same number of parameters**, and than a default-size MLP?\n\n"
               "Method (Agarwal et al. 2021): K seeds per arm; each seed's score is the mean return of its last "
               "20 training episodes that ended within the step budget; we report the interquartile mean (IQM) "
               "with a 95% stratified-bootstrap confidence interval, the probability that the circuit beats each "
               "baseline, and Welch's t-test as a secondary check. Everything is run by `qrl compare` "
               "(`qrl/experiments/`); this notebook only calls it and shows what it wrote. Finished seeds are "
               "never rerun, so in full mode the notebook reads the results of "
               "`qrl compare --config experiments/cartpole_reinforce.yaml --out runs/compare-cartpole_reinforce`."),
        ("code", SETUP),
        ("md", "## REINFORCE: VQC vs parameter-matched MLP vs default MLP vs random vs heuristic"),
        ("code", '''if QUICK:
    settings = dict(seeds=3, env_steps=600, workers=1, bootstrap_reps=1000, curve_points=6)
    out = out_dir("nb01-reinforce")
else:
    settings = {}
    out = ROOT / "runs" / "compare-cartpole_reinforce"
exp = experiments.load_experiment("experiments/cartpole_reinforce.yaml", **settings)
print(f"seeds per arm: {exp.seeds}; environment steps per seed: {exp.env_steps}; backend of the circuit: "
      f"{exp.arms['vqc'].backend or 'default'}")
summary, comparisons = experiments.run_experiment(exp, out=out, progress=None)
display(Markdown(experiments.markdown_table(summary, ("arm", "params", "env_steps", "seeds", "iqm", "ci_low",
                                                  "ci_high", "mean", "wall_seconds"))))'''),
        ("code", '''display(Image(str(out / "iqm.png")))
display(Image(str(out / "sample_efficiency.png")))
display(Image(str(out / "performance_profile.png")))'''),
        ("md", "### Verdict (computed from the numbers above)"),
        ("code", '''print(experiments.verdict(summary, comparisons))
display(Markdown(experiments.markdown_table(comparisons, ("reference", "arm", "p_reference_better", "p_low",
                                                      "p_high", "mean_difference", "welch_p"), digits=3)))
by_arm = {r["arm"]: r for r in summary}
speed = by_arm["vqc"]["wall_seconds"] / max(by_arm["mlp_matched"]["wall_seconds"], 1e-9)
print(f"cost: one VQC seed took {by_arm['vqc']['wall_seconds']:.0f} s of training wall time, "
      f"{speed:.0f}x the parameter-matched MLP, on a classical simulator.")
_ = results_store.record_measurements("01_reinforce", {"summary": summary, "comparisons": comparisons,
                                                 "seeds": exp.seeds, "env_steps": exp.env_steps}, QUICK)'''),
        ("md", "## DQN: VQ-DQN (Skolik et al. 2022) vs parameter-matched and default MLP Q-networks\n\n"
               "Same protocol with `experiments/cartpole_dqn.yaml`. VQ-DQN acts one state at a time, so it is far "
               "slower per environment step than REINFORCE's batched circuit; the DQN grid below is run with "
               "the seeds and steps it prints, which are smaller than the REINFORCE grid's (see the note at "
               "the end)."),
        ("code", '''if QUICK:
    dqn_settings = dict(seeds=2, env_steps=300, workers=1, bootstrap_reps=1000, curve_points=5)
    dqn_out = out_dir("nb01-dqn")
else:
    dqn_settings = dict(seeds=10, env_steps=3000)
    dqn_out = ROOT / "runs" / "compare-cartpole_dqn"
dqn_exp = experiments.load_experiment("experiments/cartpole_dqn.yaml", **dqn_settings)
print(f"seeds per arm: {dqn_exp.seeds}; environment steps per seed: {dqn_exp.env_steps}")
dqn_summary, dqn_comparisons = experiments.run_experiment(dqn_exp, out=dqn_out, progress=None)
display(Markdown(experiments.markdown_table(dqn_summary, ("arm", "params", "env_steps", "seeds", "iqm", "ci_low",
                                                      "ci_high", "mean", "wall_seconds"))))
display(Image(str(dqn_out / "sample_efficiency.png")))
print(experiments.verdict(dqn_summary, dqn_comparisons))
_ = results_store.record_measurements("01_dqn", {"summary": dqn_summary, "comparisons": dqn_comparisons,
                                           "seeds": dqn_exp.seeds, "env_steps": dqn_exp.env_steps}, QUICK)'''),
        ("md", "## What this does and does not show\n\n"
               "- The comparison is at equal environment steps and (for `mlp_matched`) equal parameter counts; "
               "it says nothing about larger budgets, other tasks, or hardware.\n"
               "- The circuit is simulated exactly (statevector), so its wall-clock cost here is simulation cost; "
               "on hardware every policy call would be a sampled job (see `hardware_walkthrough.ipynb`).\n"
               "- \"Not distinguishable\" means the 95% CIs of the IQMs overlap at this number of seeds; it is not "
               "evidence that the agents are equal. The probability of improvement can still be decisive (its "
               "CI excluding 0.5), which the verdict then says.\n"
               "- DQN: 3,000 steps per seed, because VQ-DQN calls the circuit once per environment step (~40 "
               "steps/s here, 70 s per seed) and a 15,000-step grid did not fit in the time available. At 3,000 "
               "steps ε-greedy exploration still dominates, so the DQN grid shows only the early phase of "
               "learning."),
    ]


def nb02() -> list:
    return [
        ("md", "# 02 — Noise and mitigation: ideal vs shots vs noisy fake IBM vs ZNE; barren plateaus\n\n"
               "One fixed re-uploading circuit (the policy body of notebook 01) evaluated on the same batch of "
               "CartPole states on every backend of `backends.yaml` that simulates a different physics: exact "
               "statevector, 1,024 shots, the noise model of IBM's FakeManila, and FakeManila noise with "
               "zero-noise extrapolation. Then the variance of a gradient component as qubits grow "
               "(barren plateaus). Functions: `qrl.diagnostics`."),
        ("code", SETUP),
        ("code", '''from qrl import diagnostics

backends = ["qrl.torch", "aer.shots", "aer.noisy.manila", "aer.noisy.manila.zne"]
n_states = 4 if QUICK else 32
rows = diagnostics.backend_errors(backends, n_states=n_states, n_layers=2, seed=0)
print(f"{n_states} CartPole states, 4 qubits, 2 layers; error = |<O> - exact <O>| averaged over states and outputs")
display(Markdown(experiments.markdown_table(rows, ("backend", "mean_abs_error", "max_abs_error", "seconds"),
                                        digits=4)))'''),
        ("code", '''qubits = [2, 4, 6] if QUICK else [2, 4, 6, 8, 10]
samples = 20 if QUICK else 200
bp = diagnostics.gradient_variance(qubits, layers=[1, 5], samples=samples, backend="qrl.torch", seed=0)
print(f"{samples} random parameter draws per point; gradient of the all-qubit Z parity w.r.t. the first angle")
display(Markdown(experiments.markdown_table(bp, ("n_qubits", "n_layers", "grad_variance"), digits=5)))
figure = out_dir("nb02") / "barren_plateau.png"
figure.parent.mkdir(parents=True, exist_ok=True)
diagnostics.plot_gradient_variance(bp, figure)
display(Image(str(figure)))
_ = results_store.record_measurements("02_noise", {"backend_errors": rows, "gradient_variance": bp,
                                             "n_states": n_states, "samples": samples}, QUICK)'''),
        ("md", "Reading the tables: `aer.shots` is exact physics with 1,024 shots (error of order 1/√shots); "
               "`aer.noisy.manila` is FakeManila's noise model **and** 1,024 shots; `aer.noisy.manila.zne` is the "
               "same noise with exact (shot-free) noisy expectation values, mitigated by global folding at noise "
               "factors 1, 3, 5 and Richardson extrapolation — so its row shows ZNE's effect on the noise bias "
               "without shot noise, not ZNE under shots. The gradient variance of a global observable falls "
               "roughly exponentially with the number of qubits — the barren plateau that limits how far these "
               "circuits scale."),
    ]


Run = tuple[str, str, str, dict, dict]   # label, preset, algo (None: the preset's), quick overrides, full overrides


def _train_cell(runs: list[Run], first: bool) -> str:
    lines = ["results = {}"] if first else []
    for label, config, algo, quick, full in runs:
        algo_arg = f", algo={algo!r}" if algo else ""
        lines.append(f"results[{label!r}] = experiments.train_preset({config!r}, out_dir({label!r}){algo_arg},\n"
                     f"    **({quick!r} if QUICK else {full!r}))")
    if first:
        lines.append("for name, summary in results.items():\n    print(name, summary)")
    else:
        lines.append(f"for name in {[label for label, *_ in runs]!r}:\n    print(name, results[name])")
    return "\n".join(lines)


def _paradigm(title: str, intro: str, runs: list[Run], record: str, closing: str,
              sections: tuple[tuple[str, list[Run]], ...] = ()) -> list:
    """A notebook that trains a classical preset and its quantum hybrid side by side.

    ``sections``: further (markdown, runs) pairs, each trained in its own cell (cells have a time limit
    in the tests), all gathered into the one results table.
    """
    cells = [("md", f"# {title}\n\n{intro}"), ("code", SETUP), ("code", _train_cell(runs, first=True))]
    for text, more in sections:
        cells += [("md", text), ("code", _train_cell(more, first=False))]
    cells.append(("code", "rows = [{'run': k, **{m: v for m, v in s.items() if not isinstance(v, (list, dict))}}"
                          " for k, s in results.items()]\n"
                          "display(Markdown(experiments.markdown_table(rows, tuple(dict.fromkeys(k for r in rows "
                          "for k in r)), digits=3)))\n"
                          f"_ = results_store.record_measurements({record!r}, {{'runs': results}}, QUICK)"))
    cells.append(("md", closing))
    return cells


def nb03() -> list:
    dreamer_quick = {"total_env_steps": 200, "prefill_steps": 100, "train_every": 100, "updates_per_round": 3,
                     "eval_episodes": 1}
    vqc_actor = {"actor": {"type": "vqc", "n_qubits": 4, "n_layers": 2}, "actor_input": "obs",
                 "backend": "qrl.torch"}
    return _paradigm(
        "03 — World models: CEM-MPC (Pendulum-v1) and Dreamer with an MLP or a circuit actor (FourDControl-v0)",
        "Two model-based agents. `classical.world_models.cem_mpc`: fit an ensemble dynamics model on real "
        "transitions, plan with the cross-entropy method. `classical.world_models.dreamer`: an RSSM world model "
        "and an actor-critic trained in imagination; its actor comes from `build_model`, so the quantum hybrid "
        "is the same agent with a re-uploading circuit as the actor (reading observations, 4 qubits). "
        "Each gets one seed here.",
        [("cem_mpc", "configs/pendulum_cem_mpc.yaml", None,
          {"total_env_steps": 300, "random_steps": 100, "refit_every": 100, "n_candidates": 100, "eval_episodes": 1},
          {}),
         ("dreamer_mlp", None, "classical.world_models.dreamer", dreamer_quick, {}),
         ("dreamer_vqc", None, "classical.world_models.dreamer", {**dreamer_quick, **vqc_actor}, vqc_actor),
         ("planet_states", "configs/pendulum_planet.yaml", None,
          {"total_env_steps": 400, "seed_episodes": 1, "train_steps": 5, "n_candidates": 20, "n_elites": 4,
           "n_iters": 2, "horizon": 5, "eval_episodes": 1}, {})],
        "03_world_models",
        "Quick mode trains on a few hundred steps and evaluates one episode: its numbers are not meaningful. "
        "Full mode uses the presets (CEM-MPC: 2,000 real steps; Dreamer: 3,000; PlaNet: 5,000). "
        "`planet_states` is PlaNet-style latent planning (`classical.world_models.planet`): no policy network, "
        "CEM over action sequences inside the RSSM latent, scored by the reward head; "
        "`configs/pendulum_planet_pixels.yaml` is the same agent reading 32×32 grey frames (the `planet_pixels` "
        "run).",
        sections=((("## PlaNet from pixels\n\n`configs/pendulum_planet_pixels.yaml`: the rendered frame, grey and "
                    "pooled to 32×32, read by a conv encoder; the RSSM has to infer the angular velocity from "
                    "consecutive frames. Full mode is the preset's 20,000 env steps (hours on a shared CPU)."),
                   [("planet_pixels", "configs/pendulum_planet_pixels.yaml", None,
                     {"total_env_steps": 200, "seed_episodes": 1, "train_steps": 3, "n_candidates": 16,
                      "n_elites": 4, "n_iters": 2, "horizon": 4, "eval_episodes": 1, "image_size": 16}, {})]),))


def nb04() -> list:
    return _paradigm(
        "04 — Multi-agent RL: QMIX with MLP agents vs QMIX with circuit agents (simple_spread)",
        "`classical.marl.train` (QMIX on mpe2 simple_spread, 3 agents) beside `hybrid.marl_quantum` with "
        "`variant: vqc_agents` — the agents' Q-functions are re-uploading circuits, the mixer stays classical. "
        "Both get the same number of episodes.",
        [("qmix_mlp", "configs/marl_spread_qmix.yaml", None,
          {"episodes": 8, "warmup_steps": 50, "eval_episodes": 2}, {"episodes": 300, "eval_episodes": 20}),
         ("qmix_vqc", "configs/marl_spread_qmix.yaml", "hybrid.marl_quantum",
          {"episodes": 8, "warmup_steps": 50, "eval_episodes": 2, "variant": "vqc_agents", "backend": "qrl.torch"},
          {"episodes": 300, "eval_episodes": 20, "variant": "vqc_agents", "backend": "qrl.torch"})],
        "04_multi_agent",
        "One seed per agent: this is a side-by-side demonstration, not a statistical comparison "
        "(for that, put both in an experiment file and run `qrl compare`).")


CAUSAL_PLAN_QUICK = {"episodes": 4, "fit_epochs": 30, "n_candidates": 16, "n_elites": 4, "n_iters": 2,
                     "eval_episodes": 1}
CODA_QUICK = {"episodes": 4, "fit_epochs": 30, "eval_episodes": 1}
INFLUENCE_QUICK = {"episodes": 16, "episodes_per_update": 8, "eval_episodes": 2, "credit_episodes": 1}


def nb05() -> list:
    return _paradigm(
        "05 — Causal RL: causal feature selection for a classical and a quantum policy (CausalShift-v0)",
        "PC discovers the reward's causal parents from random-policy data; the policy sees only those. At test "
        "time a spurious feature's correlation with the reward flips. `classical.causal.train` (MLP policy) "
        "beside `hybrid.causal_vqc` (a circuit with one qubit per causal feature).",
        [("causal_mlp", "configs/causal_shift_pg.yaml", None, {"episodes": 20, "eval_episodes": 5}, {}),
         ("causal_vqc", "configs/causal_shift_vqc.yaml", None,
          {"episodes": 20, "eval_episodes": 5, "model": {"type": "vqc", "n_layers": 1}, "backend": "qrl.torch"},
          {"backend": "qrl.torch", "episodes": 300}),
         ("confounded_naive", "configs/confounded_bandit_naive.yaml", None,
          {"total_env_steps": 1000, "fit_steps": 50, "eval_episodes": 2}, {}),
         ("confounded_iv", "configs/confounded_bandit_iv.yaml", None,
          {"total_env_steps": 1000, "fit_steps": 50, "eval_episodes": 2}, {}),
         ("confounded_iv_vqc", "configs/confounded_bandit_iv_vqc.yaml", None,
          {"total_env_steps": 300, "fit_steps": 5, "eval_episodes": 1}, {}),
         ("meta_interventional", "configs/causal_meta_a2c.yaml", None,
          {"episodes": 1024, "batch_episodes": 128, "eval_episodes": 500}, {}),
         ("meta_observational", "configs/causal_meta_observational.yaml", None,
          {"episodes": 1024, "batch_episodes": 128, "eval_episodes": 500}, {})],
        "05_causal",
        "`eval_return` is before the shift and `eval_return_shifted` after it; a policy that relies on causal "
        "features should lose little. Both get the same number of episodes (300 in full mode). One seed each.\n\n"
        "**Confounded offline RL** (`classical.causal.offline_iv`): a logging policy that saw a hidden confounder "
        "chose the treatments; regressing reward on the logged action (`confounded_naive`) credits the treatment "
        "with the confounder's effect, two-stage least squares through a randomised instrument (`confounded_iv`, "
        "and `confounded_iv_vqc` with a circuit as the effect model) does not: compare `value_per_step` with "
        "`oracle_value_per_step`.\n\n"
        "**Causal meta-learning** (`classical.causal.meta_learning`, Dasgupta et al. 2019): an A2C agent "
        "meta-trained over random 5-node SCMs intervenes during an information phase, then picks the node whose "
        "intervention raises a target most; `meta_observational` only sees passive samples. Compare "
        "`eval_return_mean` with `oracle_return_mean` and `random_return_mean`.\n\n"
        "**Planning with the causal world model** (`causal_plan`: CEM through per-variable mechanisms on the "
        "discovered parents; `causal_plan_all`: the same planner on a model of every feature) and "
        "**counterfactual data augmentation** (`coda`: non-parent features swapped between transitions; "
        "`coda_none`: no augmentation) on CausalShift-v0: compare `eval_return_shifted`.\n\n"
        "**Multi-agent causal RL** (`classical.marl.social_influence`, Jaques et al. 2019): MAPPO agents also "
        "earn their social influence, the KL between another agent's next policy given their action and its "
        "policy marginalised over their counterfactual actions (`influence`); `influence_off` is the same learner "
        "with weight 0. `influence_agent_*` is each agent's mean influence, `credit_agent_*` its counterfactual "
        "credit for the team reward (reward minus its average over the agent's own policy), "
        "`landmark_distance`-style coordination is in `coverage` and `collisions`.",
        sections=(("## Planning with the causal world model, and CoDA",
                   [("causal_plan", "configs/causal_shift_plan.yaml", None, CAUSAL_PLAN_QUICK, {}),
                    ("causal_plan_all", "configs/causal_shift_plan.yaml", None,
                     {**CAUSAL_PLAN_QUICK, "features": "all"}, {"features": "all"}),
                    ("coda", "configs/causal_shift_coda.yaml", None, CODA_QUICK, {}),
                    ("coda_none", "configs/causal_shift_coda.yaml", None, {**CODA_QUICK, "augment": 0},
                     {"augment": 0})]),
                  ("## Multi-agent causal RL: social influence as intrinsic reward",
                   [("influence", "configs/marl_particle_influence.yaml", None, INFLUENCE_QUICK, {}),
                    ("influence_off", "configs/marl_particle_influence.yaml", None,
                     {**INFLUENCE_QUICK, "influence_weight": 0.0}, {"influence_weight": 0.0})])))



def nb06() -> list:
    return _paradigm(
        "06 — Federated RL: FedAvg of MLP policies vs FedAvg of circuit policies, with DP and secure aggregation",
        "Flower federation of CartPole clients with their own physics (`classical.federated.train`) beside the "
        "same federation of softmax-PQC clients (`hybrid.federated_vqc`). Both with client-level differential "
        "privacy and pairwise-masked secure aggregation.",
        [("fed_mlp", "configs/fed_cartpole_dp_secagg.yaml", None,
          {"rounds": 2, "local_episodes": 2, "num_clients": 2, "engine": "inprocess", "eval_episodes": 2},
          {"engine": "inprocess"}),
         ("fed_vqc", "configs/fed_cartpole_vqc_dp_secagg.yaml", None,
          {"rounds": 2, "local_episodes": 2, "num_clients": 2, "engine": "inprocess", "eval_episodes": 2,
           "n_layers": 1, "backend": "qrl.torch"},
          {"engine": "inprocess", "backend": "qrl.torch"})],
        "06_federated",
        "`epsilon` is the privacy budget spent (RDP accountant); `final_held_out_return` is the return on a "
        "client whose physics no training client had. One seed each. The two presets are not matched on "
        "privacy: the MLP federation has 5 clients and noise multiplier 1.0, the circuit federation 3 clients "
        "and noise multiplier 0.3, so the circuit clients spend a much larger ε (weaker privacy). In full "
        "mode both reach a return of 200, the episode cap of these clients, so return does not separate them.")


def nb07() -> list:
    return [
        ("md", "# 07 — Integration: the paradigm matrix, filled with numbers this project measured\n\n"
               "The course's matrix asks how each paradigm fares on sample efficiency, interpretability, "
               "scalability and robustness. Here every cell is a number read from a result file written by "
               "notebooks 01–06 (`notebooks/results/*.json` from full runs, else `runs/notebook_results/*.json` "
               "from quick runs — the `source` column says which) — or says `not measured`."),
        ("code", SETUP),
        ("code", '''matrix = results_store.paradigm_matrix()
display(Markdown(experiments.markdown_table(matrix, ("paradigm", "sample efficiency", "interpretability",
                                                 "scalability", "robustness", "source"))))'''),
        ("md", "A cell saying `not measured` is a gap in this project's measurements, not a property of the "
               "paradigm. Quick-mode sources come from tiny budgets and only show that the pipeline runs."),
    ]


SETUP_08 = """import os
from pathlib import Path

QUICK = os.environ.get("QRL_QUICK", "0") == "1"
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "experiments").is_dir())
os.chdir(ROOT)
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
from IPython.display import Markdown, display

torch.set_num_threads(1)
from qrl import experiments

print("mode:", "QUICK (QRL_QUICK=1): tiny budgets, numbers are NOT meaningful" if QUICK else "FULL")"""


def nb08() -> list:
    return [
        ("md", "# 08 — The course's remaining quantum methods\\n\\n"
               "Entanglement-assisted coordination (the CHSH game), quantum error correction (repetition codes), "
               "error mitigation beyond ZNE (probabilistic error cancellation), and VQE — for molecules, for "
               "building an ansatz with RL, and for a policy's value function. Each section computes its "
               "result with library functions and checks it against an exact reference. The measured tables "
               "(fresh seeds, full budgets) are in BENCHMARKS.md, *Issue 22*."),
        ("code", SETUP_08),
        ("md", "## Entanglement-assisted coordination: the CHSH game\\n\\n"
               "A referee sends bits x, y to two players who answer a, b without communicating; they win iff "
               "a ⊕ b = x ∧ y (`qrl.envs.chsh`, a PettingZoo parallel env; 10 rounds per episode). Classical "
               "players with shared randomness cannot win more than 3/4 of rounds; players measuring a shared "
               "Bell pair in learned bases (`qrl.algorithms.chsh`, PennyLane QNode, REINFORCE on sampled rounds, "
               "random initial angles) approach Tsirelson's bound cos²(π/8) ≈ 0.854."),
        ("code", """from qrl.algorithms import chsh

episodes, eval_episodes = (600, 100) if QUICK else (2000, 600)
rows = []
for strategy in ("entangled", "classical"):
    agent = chsh.CHSHAgent(chsh.Config(strategy=strategy, episodes=episodes, seed=1000))
    agent.learn()
    ev = agent.evaluate(eval_episodes)
    rows.append({"players": strategy, "eval rounds": len(ev), "win rate": sum(r["win"] for r in ev) / len(ev),
                 "exact win probability": agent.exact_win_probability()})
display(Markdown(experiments.markdown_table(rows, ("players", "eval rounds", "win rate", "exact win probability"),
                                            digits=4)))
print(f"bounds: classical 0.75, Tsirelson {chsh.TSIRELSON:.4f}")"""),
        ("md", "## Quantum error correction: the repetition code\\n\\n"
               "`qrl.qec.logical_error_rate` encodes logical |0⟩ in d qubits, applies independent X (bit-flip "
               "code) or Z (phase-flip code) errors with probability p on Aer, extracts the syndrome with d−1 "
               "ancillas and decodes by lookup. With perfect syndromes it fails when more than (d−1)/2 qubits "
               "flipped: 3p² − 2p³ at d = 3. Below p = 1/2 a longer code helps; above, it hurts."),
        ("code", """from qrl import qec

shots = 2000 if QUICK else 20000
table = qec.threshold_table(distances=(1, 3, 5), ps=(0.1, 0.3, 0.5, 0.7), shots=shots, seed=0)
display(Markdown(experiments.markdown_table(table, ("distance", "p", "measured", "exact"), digits=4)))
policy = qec.protected_policy_returns(0.1, distance=3, episodes=50 if QUICK else 500, seed=0)
print("FrozenLake (deterministic), optimal policy, action bits flipped with p = 0.1:")
print({k: round(v, 3) if isinstance(v, float) else v for k, v in policy.items()})"""),
        ("md", "## Probabilistic error cancellation beside ZNE\\n\\n"
               "A 2-qubit circuit whose CX gates are followed by a Pauli channel (a given noise model). PEC "
               "(`qrl.pec`) inverts the channel as a quasi-probability mixture of Pauli insertions and is "
               "unbiased at a sampling overhead γ²; CX-folding ZNE with Richardson extrapolation is cheaper but "
               "biased. Same total shots for every estimate."),
        ("code", """from qrl import pec

out = pec.compare(pec.depolarizing_probs(0.08), n_layers=4, shots=4000 if QUICK else 20000, seed=0)
rows = [{"estimate": "ideal (statevector)", "value": out["ideal"], "stderr": 0.0},
        {"estimate": "noisy, exact (density matrix)", "value": out["noisy_exact"], "stderr": 0.0}]
rows += [{"estimate": k, "value": out[k]["mean"], "stderr": out[k]["stderr"]} for k in ("plain", "pec", "zne")]
display(Markdown(experiments.markdown_table(rows, ("estimate", "value", "stderr"), digits=4)))
print(f"PEC overhead gamma^2 = {out['pec']['overhead']:.2f}; measured per-shot variance ratio "
      f"{out['pec']['per_shot_variance'] / out['plain']['per_shot_variance']:.2f}")"""),
        ("md", "## VQE on molecules, an RL-built ansatz, and VQE for value functions\\n\\n"
               "`qrl.algorithms.vqe`: H₂ and LiH (2-electron, 2-orbital active space) Hamiltonians from "
               "`qml.qchem` (built-in Hartree–Fock, offline), a hardware-efficient ansatz, and the error "
               "against exact diagonalisation (chemical accuracy: 1.6 mHa). `qrl.algorithms.qas` is the "
               "architecture-search environment the DQN preset `configs/qas_h2_dqn.yaml` learns in; "
               "`qrl.algorithms.value_vqe` finds a policy's value as the ground state of "
               "H = Aᵀ(I − r̂r̂ᵀ)A, A = I − γP_π."),
        ("code", """from qrl.algorithms import qas, value_vqe, vqe

steps = 120 if QUICK else 300
rows = []
for name, length in ([("H2", 0.74)] if QUICK else [("H2", 0.5), ("H2", 0.74), ("H2", 1.5), ("LiH", 1.6)]):
    out = vqe.vqe(name, length, n_layers=3, steps=steps, seed=1000, backend="qrl.torch")
    rows.append({k: out[k] for k in ("molecule", "bond_length", "energy", "exact", "error_mha", "n_params")})
display(Markdown(experiments.markdown_table(rows, ("molecule", "bond_length", "energy", "exact", "error_mha",
                                                   "n_params"), digits=5)))

# architecture search: the DQN preset builds the ansatz; its greedy circuits per bond length
import csv
import tempfile

from qrl import train_from_config

rows = []
for seed in ([2000] if QUICK else range(1001, 1006)):
    out = Path(tempfile.mkdtemp()) / "qas"
    train_from_config("configs/qas_h2_dqn.yaml", {"seed": seed}, out=out, tensorboard=False)
    with open(out / "eval.csv") as f:
        evals = list(csv.DictReader(f))
    for length in sorted({r["bond_length"] for r in evals}, key=float):
        mine = [r for r in evals if r["bond_length"] == length]
        rows.append({"seed": seed, "bond length (A)": length, "episodes": len(mine),
                     "chemical accuracy": sum(r["chemical_accuracy"] == "True" for r in mine) / len(mine),
                     "gates": sum(int(r["n_gates"]) for r in mine) / len(mine),
                     "error (mHa)": max(float(r["error_mha"]) for r in mine)})
display(Markdown(experiments.markdown_table(rows, ("seed", "bond length (A)", "episodes", "chemical accuracy",
                                                   "gates", "error (mHa)"), digits=4)))

P, r = value_vqe.frozen_lake_policy_mdp()
out = value_vqe.value_vqe(P, r, gamma=0.9, n_layers=6, steps=steps, seed=1000)
print(f"FrozenLake 4x4, uniform policy: max |v_vqe - v_exact| = {out['max_abs_error']:.4f} "
      f"(largest value {max(abs(out['exact'])):.3f}); overlap with the exact value direction {out['overlap']:.5f}")"""),
    ]


def nb09() -> list:
    return [
        ("md", "# 09 — Quantum search in RL: policy iteration by amplitude estimation, Grover action search, replay, "
               "kernel TD\n\n"
               "Four of the course's quantum methods, each beside its classical counterpart and checked against "
               "an exact reference: a policy's return estimated by amplitude estimation (error ~ calls⁻¹) against "
               "Monte Carlo over episodes (calls^(−1/2)), and Grover search over policies against value iteration "
               "(Wiedemann et al. 2022); Grover action search (Dong et al. 2008) against ε-greedy Q-learning; "
               "quantum-inspired replay against uniform and prioritized replay; a quantum-kernel value function (kernel LSTD) against an RBF kernel. The measured tables (fresh "
               "seeds, full budgets) are in BENCHMARKS.md, *Issue 22 (part B)*."),
        ("code", SETUP_08),
        ("md", "## Quantum policy evaluation and improvement\n\n"
               "`qrl.algorithms.policy_iteration`: slippery FrozenLake as noise registers (one per step, the "
               "slip outcome in superposition) and one diagonal gate that rotates an objective qubit by the "
               "return of the trajectory that noise produces; P(objective = 1) is the policy's value, estimated "
               "by maximum-likelihood amplitude estimation (`amplitude_estimation.mlae`)."),
        ("code", """import numpy as np
from qrl.algorithms import policy_iteration as pi
from qrl.algorithms.amplitude_estimation import good_probability, loglog_slope

mdp = pi.frozen_lake(["SF", "HG"] if QUICK else ["SFF", "FHF", "FFG"], horizon=3 if QUICK else 5)
v_star, policies = pi.value_iteration(mdp)
task = pi.ReturnTask(mdp, policies[0])
print(f"{task.n_qubits} qubits; exact value {task.value:.6f}; amplitude of the circuit {good_probability(task, 0):.6f}")
shots = 100
rows = pi.evaluation_error_vs_calls(task, repeats=30 if QUICK else 200, shots=shots, max_powers=6 if QUICK else 9,
                                    seed=1000)
display(Markdown(experiments.markdown_table(rows, ("method", "setting", "calls", "rmse"), digits=5)))
for label, least in (("all budgets", 0), ("largest power k >= 4", 18 * shots)):
    print(f"log-log slopes, {label}:",
          {m: round(loglog_slope(rows, m, min_calls=least), 3) for m in ("mlae", "cramer_rao", "monte_carlo")})"""),
        ("md", "MLAE sits on its Cramér–Rao bound (`cramer_rao` rows) at every budget. With the exponential "
               "schedule k = 0, 1, 2, 4, … the first budgets are mostly k = 0 shots — Monte Carlo — so a fit over "
               "all budgets bends towards −1/2 (−0.86 for the bound up to k = 16); once the largest power "
               "dominates (k ≥ 4) both MLAE and its bound fall as calls⁻¹, against Monte Carlo's calls^(−1/2)."),
        ("md", "Improvement: Dürr–Høyer maximum search over the stationary policies (4 actions per free state, a "
               "policy register of 2 qubits per state) with a comparator oracle; queries counted against the "
               "number of policies an exhaustive search evaluates."),
        ("code", """seeds = range(1000, 1005 if QUICK else 1020)
found = [pi.grover_policy_search(mdp, seed=s) for s in seeds]
display(Markdown(experiments.markdown_table(
    [{"seed": s, "value found": r["value"], "value iteration": v_star, "queries to best": r["queries_to_best"],
      "policies": r["n_policies"]} for s, r in zip(seeds, found)],
    ("seed", "value found", "value iteration", "queries to best", "policies"), digits=5)))"""),
        ("md", "## Grover action search vs ε-greedy Q-learning\n\n"
               "`qrl.algorithms.grover_search`: every state keeps its actions in superposition; the measured "
               "action is reinforced by ⌊k (r + V(s'))⌋ Grover iterations (capped, never over-rotated). "
               "`classical.rl.tabular_q` is the counterpart; both are judged by the same greedy evaluation "
               "(`configs/frozenlake_*.yaml`)."),
        ("code", """from classical.common.config import load_yaml, resolve_algo
from classical.common.rundir import RunDir
from classical.common.stats import success_rate
import tempfile

rows = []
for algo in ("grover_search", "qlearning_tabular"):
    runs = []
    for seed in range(1000, 1003 if QUICK else 1020):
        spec = load_yaml(f"configs/frozenlake_{algo}.yaml")
        module = resolve_algo(spec.pop("algo"))
        spec["seed"] = seed
        runs.append(module.run(module.Config(**spec), RunDir(Path(tempfile.mkdtemp()) / algo)))
    est = success_rate(sum(r["solved"] for r in runs), len(runs))
    rows.append({"agent": algo, "solved": f"{sum(r['solved'] for r in runs)}/{len(runs)}",
                 "Wilson 95%": f"[{est.low:.2f}, {est.high:.2f}]",
                 "median episodes to solve": float(np.median([r["episodes_to_solve"] or np.nan for r in runs]))})
display(Markdown(experiments.markdown_table(rows, ("agent", "solved", "Wilson 95%", "median episodes to solve"))))"""),
        ("md", "## Replay: uniform, prioritized, quantum-inspired\n\n"
               "The DQN of `configs/cartpole_mlp_dqn.yaml` with `replay: {type: uniform | prioritized | quantum}`: "
               "proportional prioritized replay with importance weights (Schaul et al. 2016) and quantum-inspired "
               "replay (Wei et al. 2021), whose replay probabilities are squared amplitudes after TD-error-driven "
               "Grover iterations (`qrl.algorithms.quantum_replay`). One seed here; BENCHMARKS has the seeds."),
        ("code", """import qrl.models  # registers replay type quantum
from classical.rl import dqn

spec = load_yaml("configs/cartpole_mlp_dqn.yaml")
spec.pop("algo")
steps = 1500 if QUICK else 10_000
rows = []
for kind in ("uniform", "prioritized", "quantum"):
    cfg = dqn.Config(**{**spec, "replay": {"type": kind}, "total_env_steps": steps, "episodes": None,
                        "solved_return": None, "solved_window": 20, "seed": 1000})
    agent = dqn.DQN(cfg).learn(progress=False)
    rows.append({"replay": kind, "env steps": agent.env_steps, "mean return, last 20 episodes": float(np.mean(agent.recent))})
display(Markdown(experiments.markdown_table(rows, ("replay", "env steps", "mean return, last 20 episodes"))))"""),
        ("md", "## Kernels in the loop: kernel LSTD\n\n"
               "`qrl.algorithms.kernel_td`: value functions of the 19-state random walk learned by least-squares "
               "TD from 20 episodes, with fidelity-kernel features (2 qubits, the re-uploading feature map) or RBF "
               "features on the same transitions; error against the exact values V(i) = (i + 1)/20."),
        ("code", """from qrl.algorithms import kernel_td

errors = kernel_td.compare(range(1000, 1005 if QUICK else 1020))
display(Markdown(experiments.markdown_table(
    [{"kernel": k, "seeds": len(v), "value RMSE (mean)": float(np.mean(v))} for k, v in errors.items()],
    ("kernel", "seeds", "value RMSE (mean)"), digits=4)))"""),
    ]


BUILDERS = {"01_quantum_vs_classical_cartpole": nb01, "02_noise_and_mitigation": nb02, "03_world_models": nb03,
            "04_multi_agent": nb04, "05_causal": nb05, "06_federated": nb06, "07_integration": nb07,
            "08_quantum_methods": nb08, "09_quantum_search": nb09}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in BUILDERS[name]()]
    return nb


def execute(path: Path, quick: bool, timeout: int) -> float:
    from nbclient import NotebookClient

    os.environ["QRL_QUICK"] = "1" if quick else "0"
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", nargs="*", default=None, help="notebook name prefixes to run in place")
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite the notebooks first")
    args = parser.parse_args()
    NOTEBOOKS.mkdir(exist_ok=True)
    names = list(BUILDERS)
    if args.execute:
        names = [n for n in names if any(n.startswith(p) for p in args.execute)]
    for name in names:
        path = NOTEBOOKS / f"{name}.ipynb"
        if not args.no_write:
            nbformat.write(build(name), path)
        if args.execute is not None:
            seconds = execute(path, args.mode == "quick", args.timeout)
            print(f"{name}: executed in {args.mode} mode in {seconds:.0f} s")


if __name__ == "__main__":
    main()
