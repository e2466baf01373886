"""LearningSession: the Ctrl-C and checkpoint scaffolding every training loop shares."""

import os
import signal

import numpy as np
import pytest

from classical.common.rundir import RunDir, load_checkpoint_file
from classical.common.training import LearningSession


class Saves:
    def __init__(self):
        self.saved = []

    def save_checkpoint(self, state):
        self.saved.append(dict(state))


def test_checkpoints_follow_the_cadence_and_the_last_step():
    run = Saves()
    with LearningSession(run, checkpoint_every=3) as session:
        for k in range(1, 8):
            session.step_done(k - 1, k, lambda: {"k": k}, last=k == 7)
    assert [s["k"] for s in run.saved] == [3, 6, 7]


def test_ctrl_c_stops_after_the_step_with_a_checkpoint_and_restores_the_handler():
    run, before = Saves(), signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with LearningSession(run, checkpoint_every=100) as session:
            for k in range(1, 10):
                if k == 4:
                    os.kill(os.getpid(), signal.SIGINT)     # the first Ctrl-C only raises the flag
                session.step_done(k - 1, k, lambda: {"k": k})
    assert [s["k"] for s in run.saved] == [4]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_multi_agent_learner_learns_and_checkpoints_through_its_own_learn(tmp_path):
    from classical.marl.train import agent_from_config

    learner = agent_from_config({"algo_name": "vdn", "env_id": "particle", "episodes": 3, "warmup_steps": 5,
                                 "batch_size": 4, "checkpoint_every": 2,
                                 "env_kwargs": {"n_agents": 2, "max_cycles": 5}})
    assert learner.learn(RunDir(tmp_path)) is learner
    assert len(learner.last_training["returns"]) == 3
    assert load_checkpoint_file(tmp_path / "checkpoint.pt")["episode"] == 3
    actions, state = learner.predict({"agent_0": np.zeros(10, np.float32), "agent_1": np.zeros(10, np.float32)})
    assert state is None and sorted(actions) == ["agent_0", "agent_1"] and all(0 <= a < 5 for a in actions.values())


def test_a_learner_built_outside_its_trainer_says_how_to_learn():
    from classical.marl.baselines import RandomPolicy
    from classical.marl.envs import make_joint_env

    with pytest.raises(ValueError, match="has no training budget or settings; build it with its trainer's "
                                         "agent_from_config"):
        RandomPolicy(make_joint_env("particle", {"n_agents": 2})).learn()
