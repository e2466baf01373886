import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from qrl.algorithms.qas import AnsatzBuildingEnv, gate_pool
from qrl.algorithms.value_vqe import bellman_hamiltonian, frozen_lake_policy_mdp, value_vqe
from qrl.algorithms.vqe import exact_ground_energy, hartree_fock_energy, molecule, vqe


def test_h2_hamiltonian_offline_matches_the_sto3g_full_ci_energy():
    h, n, hf = molecule("H2", 0.74)
    assert n == 4 and hf == (1, 1, 0, 0)
    assert exact_ground_energy(h, n) == pytest.approx(-1.13728, abs=2e-5)   # FCI/STO-3G at 0.74 A
    assert hartree_fock_energy("H2", 0.74) == pytest.approx(-1.11676, abs=2e-5)


def test_unknown_molecules_and_bond_lengths_are_refused():
    with pytest.raises(ValueError, match="unknown molecule 'H2O'; valid: H2, LiH"):
        molecule("H2O", 1.0)
    with pytest.raises(ValueError, match="bond_length must be positive"):
        molecule("H2", 0.0)


@pytest.mark.learning
def test_hardware_efficient_vqe_reaches_chemical_accuracy_on_stretched_h2():
    out = vqe("H2", 1.5, n_layers=3, steps=300, seed=1234)
    assert out["error_mha"] < 1.6 and out["energy"] < out["hartree_fock"] - 0.08


def test_ansatz_env_follows_the_gymnasium_api_and_rewards_the_double_excitation():
    env = AnsatzBuildingEnv(molecule="H2", bond_lengths=[0.74], max_gates=3)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    assert env.pool == gate_pool(4) and env.pool[-1] == "stop"
    _, reward, term, trunc, info = env.step(env.pool.index("DoubleExcitation(0,1,2,3)"))
    assert info["chemical_accuracy"] and abs(info["error_mha"]) < 0.5
    gain = 1000 * (hartree_fock_energy("H2", 0.74) - info["energy"]) / 10
    assert reward == pytest.approx(gain - 0.1, abs=1e-6) and not (term or trunc)
    _, reward, term, _, info = env.step(env.pool.index("stop"))
    assert term and reward == 0.0 and info["n_gates"] == 1


def test_bellman_hamiltonian_ground_state_is_the_normalised_value():
    P, r = frozen_lake_policy_mdp()
    H, A = bellman_hamiltonian(P, r, 0.9)
    w, vecs = np.linalg.eigh(H)
    exact = np.linalg.solve(np.eye(16) - 0.9 * P, r)
    assert w[0] == pytest.approx(0.0, abs=1e-12) and w[1] > 1e-6          # unique ground state, energy 0
    assert abs(vecs[:, 0] @ exact) / np.linalg.norm(exact) == pytest.approx(1.0, abs=1e-10)
    with pytest.raises(ValueError, match="gamma must be in"):
        bellman_hamiltonian(P, r, 1.0)


@pytest.mark.learning
def test_value_vqe_recovers_the_frozen_lake_value_of_the_uniform_policy():
    P, r = frozen_lake_policy_mdp()
    out = value_vqe(P, r, gamma=0.9, n_layers=6, steps=300, seed=4321)
    assert out["max_abs_error"] < 0.01 * np.max(np.abs(out["exact"])) * 5
    assert out["overlap"] > 0.999


def test_the_vqe_preset_runs_through_qrl_train_and_reports_the_error_against_exact(tmp_path):
    import csv
    import json

    from qrl.algorithms.vqe import exact_ground_energy, molecule
    from qrl.training import train_from_config

    summary = train_from_config("configs/vqe_h2.yaml", {"bond_lengths": [0.74], "optimizer_steps": 20},
                                out=tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    (result,) = results["runs"]
    assert result["exact"] == pytest.approx(exact_ground_energy(*molecule("H2", 0.74)[:2]), abs=1e-6)
    assert result["error_mha"] == pytest.approx(1000 * (result["energy"] - result["exact"]), abs=1e-2)
    assert result["error_mha"] > -1e-3                 # variational: never below the ground energy
    with open(tmp_path / "run" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [1, 11, 20] and summary["bond_lengths"] == 1


def test_the_search_env_ends_at_chemical_accuracy_and_reuses_optimised_circuits():
    env = AnsatzBuildingEnv(molecule="H2", bond_lengths=[1.5], stop_below_mha=1.6)
    double = env.pool.index("DoubleExcitation(0,1,2,3)")
    first = []
    for _ in range(2):
        env.reset(seed=0)
        _, _, term, trunc, info = env.step(env.pool.index("RY(0)"))
        assert not (term or trunc) and info["error_mha"] > 80          # still Hartree-Fock's 87 mHa
        _, reward, term, trunc, info = env.step(double)
        assert term and not trunc and info["chemical_accuracy"] and info["n_gates"] == 2
        first.append((reward, info["energy"]))
    assert first[0] == first[1] and len(env._optimised) == 2          # the repeat ran no optimiser
    with pytest.raises(ValueError, match="stop_below_mha must be positive"):
        AnsatzBuildingEnv(stop_below_mha=0)


def test_rewards_in_correlation_energies_are_the_same_at_every_geometry():
    for length in (0.5, 1.5):
        env = AnsatzBuildingEnv(molecule="H2", bond_lengths=[length], energy_unit=None, gate_penalty=0.2)
        env.reset(seed=0)
        _, reward, *_, info = env.step(env.pool.index("DoubleExcitation(0,1,2,3)"))
        assert reward == pytest.approx(1.0 - 0.2, abs=1e-3)             # all of the correlation energy
        assert info["chemical_accuracy"]


@pytest.mark.learning
def test_the_qas_preset_learns_chemically_accurate_circuits_at_every_bond_length(tmp_path):
    import csv

    from qrl.training import train_from_config

    summary = train_from_config("configs/qas_h2_dqn.yaml", {"seed": 2000}, out=tmp_path / "run", tensorboard=False)
    with open(tmp_path / "run" / "eval.csv") as f:
        evals = list(csv.DictReader(f))
    assert {r["bond_length"] for r in evals} == {"0.5", "0.74", "1.5"}
    assert all(r["chemical_accuracy"] == "True" for r in evals), summary
    assert summary["eval_n_gates_mean"] <= 2           # a random gate sequence needs 5 on average
