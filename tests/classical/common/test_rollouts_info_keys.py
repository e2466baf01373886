import gymnasium as gym
import numpy as np

from classical.common.rollouts import evaluate_policy


class _Flag(gym.Wrapper):
    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        info["success"] = np.bool_(r > 0)
        return obs, r, term, trunc, info


def test_info_keys_copies_last_info_entries():
    gym.register("test/FlagLake-v0", lambda **kw: _Flag(gym.make("FrozenLake-v1", is_slippery=False)))
    right_then_down = iter([2, 2, 1, 1, 1, 2] * 2)
    rows = evaluate_policy("test/FlagLake-v0", lambda o: np.array([next(right_then_down)]), 1, 0,
                           info_keys=("success", "missing"))
    assert rows[0]["success"] is True and rows[0]["return"] == 1.0
    assert rows[0]["missing"] is None
