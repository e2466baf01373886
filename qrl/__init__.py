"""qrl: quantum-first reinforcement learning on PennyLane, Qiskit Aer and IBM Quantum.

``qrl.train_from_config`` trains any preset after checking every part of it
(see :mod:`qrl.training`); it is imported on first use so ``import qrl`` stays light.

**Example**

>>> import qrl
>>> qrl.__version__ == qrl.version()
True
"""

from classical.common.provenance import package_version as version

__version__: str = version()

# gymnasium ids of the quantum environments, registered on ``import qrl`` by module path
# (nothing heavy is imported until an environment is made)
ENVIRONMENTS = {
    "qrl/QuantumControl-v0": dict(entry_point="qrl.envs.quantum_control:QuantumControlEnv"),
    "qrl/FrozenLakeBits-v0": dict(entry_point="qrl.envs.frozen_lake:frozen_lake_bits", max_episode_steps=100),
    "qrl/QAOAAngles-v0": dict(entry_point="qrl.algorithms.qaoa_rl:QAOAAnglesEnv"),
}


def _register_environments() -> None:
    import gymnasium as gym

    for env_id, spec in ENVIRONMENTS.items():
        if env_id not in gym.registry:
            gym.register(env_id, **spec)


_register_environments()


def load(run_dir, backend: str | None = None):
    """The trained agent of a run directory, ready to ``predict``, in any interpreter.

    Every trainer's run loads: single-agent agents answer ``predict(obs)``, multi-agent ones
    ``predict({agent: obs})``, a federation's global model is one agent. Runs of experiments
    (computations with results but no agent) are refused with one error saying so.

    Args:
        run_dir: a folder written by ``qrl train`` (``config.yaml`` and ``checkpoint.pt``).
        backend: run its circuits on another ``backends.yaml`` entry.

    **Example**

    >>> agent = qrl.load("runs/cartpole_mlp_reinforce-seed0")        # doctest: +SKIP
    >>> action, _ = agent.predict(obs)                                # doctest: +SKIP
    """
    from pathlib import Path

    from classical.common import config as config_module
    from classical.common.config import ConfigError, load_yaml, resolve_algo

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir}: not a trained run directory (needs config.yaml and checkpoint.pt).")
    algo = load_yaml(run_dir / "config.yaml").get("algo")
    module = resolve_algo(algo)
    experiment = getattr(config_module, "ExperimentConfig", None)
    if experiment is not None and issubclass(module.Config, experiment):
        raise ConfigError(f"{run_dir}: {algo} is an experiment (a computation, not an agent): its results are in "
                          "results.json.")
    if not hasattr(module, "load_agent"):
        raise ConfigError(f"{run_dir}: {algo} trains no agent that qrl.load could return.")
    if not (run_dir / "checkpoint.pt").exists():
        raise ConfigError(f"{run_dir}: not a trained run directory (needs config.yaml and checkpoint.pt).")
    return module.load_agent(run_dir, backend)


def __getattr__(name):
    if name == "train_from_config":
        from qrl.training import train_from_config

        return train_from_config
    raise AttributeError(f"module 'qrl' has no attribute {name!r}")


__all__ = ["ENVIRONMENTS", "__version__", "load", "version", "train_from_config"]
