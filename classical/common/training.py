"""Small pieces every training loop needs: per-group optimisers and a Ctrl-C flag.

**Example**

>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> net.parameter_groups = lambda: {"weights": list(net.parameters())}
>>> opt = adam_per_group(net, {"weights": 0.01})
>>> opt.param_groups[0]["lr"]
0.01
"""

from __future__ import annotations

import signal
from typing import Any, Callable

import torch


def adam_per_group(model: torch.nn.Module, lr: dict[str, float], amsgrad: bool = False) -> torch.optim.Adam:
    """Adam with one learning rate per entry of ``model.parameter_groups()``.

    ``lr`` maps group names (``input_scaling``, ``weights``, ``output_scaling`` for
    circuits, ``weights`` for MLPs) to rates; a ``default`` entry covers the rest.
    ``amsgrad`` selects the AMSGrad variant.
    """
    groups = model.parameter_groups()
    missing = [g for g in groups if g not in lr and "default" not in lr]
    if missing:
        raise ValueError(f"lr has no learning rate for parameter group(s) {missing}; "
                         f"set lr: {{{', '.join(f'{g}: ...' for g in groups)}}}.")
    return torch.optim.Adam([{"params": ps, "lr": lr.get(g, lr.get("default"))} for g, ps in groups.items()],
                            amsgrad=amsgrad)


class InterruptFlag:
    """Turn Ctrl-C into a flag checked between updates, so the last checkpoint is whole."""

    def __init__(self):
        self.hit = False
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not in the main thread
            self._old = None

    def _handler(self, *_):
        if self.hit:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.hit = True

    def __bool__(self) -> bool:
        return self.hit

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def rebuild_agent(state: dict, make: Callable[[dict], Any], backend: str | None = None,
                  **device_overrides) -> Any:
    """An agent rebuilt from a checkpoint ``state`` (which stores its ``config``).

    ``make(config_dict)`` constructs the agent; ``backend`` and ``device_overrides``
    (extra keys for the ``model:`` mapping) let a trained circuit run on another target.
    """
    cfg = dict(state["config"])
    if backend is not None:
        cfg["backend"] = backend
    if device_overrides:
        cfg["model"] = {**cfg["model"], **device_overrides}
    agent = make(cfg)
    agent.load_state_dict(state)
    return agent


def train_and_evaluate(agent: Any, run, title: str, n_params: int, info_keys=()) -> dict:
    """The body of every single-agent ``run(cfg, run_dir)``: resume, learn, plot, evaluate, summarise.

    ``agent`` has ``load_state_dict``, ``learn(run)``, ``evaluate(episodes)``, ``episodes_done``,
    ``env_steps``, ``recent`` and ``solved``; its ``cfg`` has ``eval_episodes``.
    """
    import numpy as np

    if run.resume and (state := run.load_checkpoint()) is not None:
        agent.load_state_dict(state)
    agent.learn(run)
    run.plot_curve("episode", "return", title=title)
    rows = agent.evaluate(agent.cfg.eval_episodes)
    run.write_eval(rows)
    summary = {"episodes": agent.episodes_done, "env_steps": agent.env_steps,
               "mean_recent_return": float(np.mean(agent.recent)) if agent.recent else None,
               "eval_mean_return": float(np.mean([r["return"] for r in rows])) if rows else None,
               "params": n_params, "solved": agent.solved}
    for key in info_keys:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        summary[f"eval_mean_{key}"] = float(np.mean(values)) if values else None
    return summary


def reached_target(recent, cfg) -> bool:
    """Whether the mean of the last ``cfg.solved_window`` returns reaches ``cfg.solved_return``."""
    import numpy as np

    return (cfg.solved_return is not None and len(recent) == cfg.solved_window
            and float(np.mean(recent)) >= cfg.solved_return)
