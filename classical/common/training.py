"""Small pieces every training loop needs: per-group optimisers, the ε schedule, the budget and a Ctrl-C flag.

**Example**

>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> net.parameter_groups = lambda: {"weights": list(net.parameters())}
>>> opt = adam_per_group(net, {"default": 0.01})
>>> opt.param_groups[0]["lr"]
0.01
"""

from __future__ import annotations

import signal
from typing import Any, Callable, Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator


def lr_for(lr: Mapping[str, float], group: str, net: str | None = None) -> float:
    """The learning rate of parameter ``group`` of network ``net`` under the ``lr`` mapping.

    The most specific key wins: ``net.group`` > ``net`` > ``group`` > ``default``.

    **Example**

    >>> lr_for({"default": 0.01, "actor": 0.003, "actor.output_scaling": 0.1}, "output_scaling", "actor")
    0.1
    >>> lr_for({"default": 0.01, "actor": 0.003}, "weights", "critic")
    0.01
    """
    keys = ([f"{net}.{group}", net] if net else []) + [group, "default"]
    for key in keys:
        if key in lr:
            return lr[key]
    raise ValueError(f"lr has no learning rate for {'network ' + repr(net) + ', ' if net else ''}parameter group "
                     f"'{group}'; add one of the keys {keys} (e.g. lr: {{default: 0.001}}).")


def adam_per_group(model: torch.nn.Module, lr: Mapping[str, float], amsgrad: bool = False,
                   net: str | None = None) -> torch.optim.Adam:
    """Adam with one learning rate per entry of ``model.parameter_groups()``.

    ``lr`` maps group names (``input_scaling``, ``weights``, ``output_scaling`` for
    circuits, ``weights`` for MLPs), network names (``actor``, ``critic``, ...) or
    ``net.group`` to rates, with ``default`` as the catch-all (see :func:`lr_for`);
    ``net`` names the network this optimiser trains. ``amsgrad`` selects the AMSGrad variant.
    """
    groups = model.parameter_groups()
    # "name" labels the group's learning rate and gradient norm in TensorBoard
    return torch.optim.Adam([{"params": ps, "lr": lr_for(lr, g, net), "name": g} for g, ps in groups.items()],
                            amsgrad=amsgrad)


class Epsilon(BaseModel):
    """The one ε-greedy schedule: linear over a fraction of the budget, or a factor per episode.

    **Example**

    >>> Epsilon(start=1.0, end=0.05, fraction=0.5).at(0.25)
    0.525
    >>> Epsilon(start=1.0, end=0.01, decay=0.5).after_episode(0.5, progress=0.0)
    0.25
    """

    model_config = ConfigDict(extra="forbid")

    start: float = Field(1.0, ge=0, le=1, description="exploration rate at the start")
    end: float = Field(0.05, ge=0, le=1, description="lowest exploration rate")
    fraction: float | None = Field(None, gt=0, le=1, description="fall linearly from start to end over this "
                                                                  "fraction of the budget")
    decay: float | None = Field(None, gt=0, le=1, description="multiply by this after every episode")

    @model_validator(mode="after")
    def _one_rule(self) -> "Epsilon":
        if (self.fraction is None) == (self.decay is None):
            raise ValueError("epsilon needs exactly one of 'fraction' (linear over that part of the budget) "
                             "or 'decay' (a factor per episode), e.g. epsilon: {start: 1.0, end: 0.05, "
                             "fraction: 0.5}")
        return self

    def after_episode(self, current: float, progress: float) -> float:
        """ε for the next episode, from the current one and the spent part (0..1) of the budget."""
        if self.decay is not None:
            return max(self.end, current * self.decay)
        return self.at(progress)

    def at(self, progress: float) -> float:
        """ε of the linear rule after ``progress`` (0..1) of the budget."""
        assert self.fraction is not None, "the decay rule depends on the episode, not on progress"
        return self.start + min(1.0, progress / self.fraction) * (self.end - self.start)


def budget_progress(cfg: Any, episodes: int, env_steps: int) -> float:
    """The spent part (0..1) of the budget ``cfg.episodes`` / ``cfg.total_env_steps``, whichever is further."""
    parts = [done / limit for done, limit in ((episodes, getattr(cfg, "episodes", None)),
                                              (env_steps, getattr(cfg, "total_env_steps", None)))
             if limit is not None]
    return min(1.0, max(parts))


def budget_spent(cfg: Any, episodes: int, env_steps: int) -> bool:
    """Whether either set limit (``cfg.episodes``, ``cfg.total_env_steps``) is reached."""
    return budget_progress(cfg, episodes, env_steps) >= 1.0


def adam_networks(nets: dict[str, torch.nn.Module], lr: dict[str, float]) -> torch.optim.Adam:
    """One Adam over several named networks, a learning rate per parameter group.

    ``lr`` keys may name the network, the group or both (:func:`lr_for`). Networks without
    ``parameter_groups()`` (e.g. a ``ModuleList`` of models) count as one ``weights`` group
    per member's groups merged.

    **Example**

    >>> nets = {"actor": torch.nn.Linear(2, 2), "critic": torch.nn.Linear(2, 1)}
    >>> [g["lr"] for g in adam_networks(nets, {"default": 1e-3, "critic": 1e-2}).param_groups]
    [0.001, 0.01]
    """
    groups = []
    for net_name, net in nets.items():
        for group, params in _parameter_groups(net).items():
            groups.append({"params": list(params), "lr": lr_for(lr, group, net_name), "name": f"{net_name}.{group}"})
    return torch.optim.Adam(groups)


def _parameter_groups(net: torch.nn.Module) -> dict[str, list]:
    if hasattr(net, "parameter_groups"):
        return net.parameter_groups()
    if isinstance(net, torch.nn.ModuleList):
        merged: dict[str, list] = {}
        for member in net:
            for group, params in _parameter_groups(member).items():
                merged.setdefault(group, []).extend(params)
        return merged
    return {"weights": list(net.parameters())}


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


class LearningSession:
    """What every training loop does around its steps, written once: Ctrl-C stops the loop between
    two steps with a whole checkpoint, and checkpoints go to ``run`` every ``checkpoint_every``
    counts (episodes or updates, as the loop counts them; None: after every step) and after the last step.

    **Example**

    >>> class Run:
    ...     saved = []
    ...     def save_checkpoint(self, state):
    ...         self.saved.append(state["episode"])
    >>> run = Run()
    >>> with LearningSession(run, checkpoint_every=2) as session:
    ...     for episode in range(1, 6):
    ...         session.step_done(episode - 1, episode, lambda: {"episode": episode}, last=episode == 5)
    >>> run.saved
    [2, 4, 5]
    """

    def __init__(self, run: Any, checkpoint_every: int | None):
        self.run, self.every = run, checkpoint_every
        self.interrupted = InterruptFlag()

    def __enter__(self) -> "LearningSession":
        return self

    def __exit__(self, *exc) -> bool:
        self.interrupted.restore()
        return False

    def step_done(self, count_before: int, count: int, state: Callable[[], Mapping[str, Any]],
                  last: bool = False) -> None:
        """After one step: checkpoint if due, at the end or after Ctrl-C; then stop if Ctrl-C was pressed."""
        due = self.every is None or count // self.every > count_before // self.every
        if self.run is not None and (due or last or self.interrupted):
            self.run.save_checkpoint(state())
        if self.interrupted:
            raise KeyboardInterrupt


def rebuild_agent(state: dict, make: Callable[[dict], Any], backend: str | None = None,
                  networks: Sequence[str] = ("model",), **device_overrides) -> Any:
    """An agent rebuilt from a checkpoint ``state`` (which stores its ``config``).

    ``make(config_dict)`` constructs the agent; ``backend`` and ``device_overrides``
    (device options such as ``qrl evaluate``'s backends file and ledger) let a trained circuit
    run on another target. The options go into the circuit specs among ``networks`` (the config
    keys holding model specs) only: a classical network (``type: mlp``) runs on no device.
    """
    cfg = dict(state["config"])
    if backend is not None:
        cfg["backend"] = backend
    for name in networks if device_overrides else ():
        spec = cfg.get(name)
        if isinstance(spec, Mapping) and spec.get("type", "mlp") != "mlp":
            cfg[name] = {**spec, **device_overrides}
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
    run.watch(agent)  # learning rates and gradient norms per parameter group in TensorBoard
    agent.learn(run)
    run.plot_curve("episode", "return", title=title)
    rows = agent.evaluate(agent.cfg.eval_episodes)
    run.write_eval(rows)
    summary = {"episodes": agent.episodes_done, "env_steps": agent.env_steps,
               "eval_return_mean": float(np.mean([r["return"] for r in rows])) if rows else None,
               "n_params": n_params, "wall_seconds": round(agent.wall_seconds, 3),
               "train_return_mean_recent": float(np.mean(agent.recent)) if agent.recent else None,
               **solved_summary(agent.recent, agent.cfg)}
    for key in info_keys:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        summary[f"eval_{key}_mean"] = float(np.mean(values)) if values else None
    return summary


def solved_summary(recent, cfg) -> dict:
    """``solved`` and the ``solved_criterion`` it checked, or nothing when the config sets no target."""
    if getattr(cfg, "solved_return", None) is None:
        return {}
    return {"solved": reached_target(recent, cfg),
            "solved_criterion": f"mean training return of the last {cfg.solved_window} episodes "
                                f">= {cfg.solved_return:g}"}


def reached_target(recent, cfg) -> bool:
    """Whether the mean of the last ``cfg.solved_window`` returns reaches ``cfg.solved_return``."""
    import numpy as np

    return (cfg.solved_return is not None and len(recent) == cfg.solved_window
            and float(np.mean(recent)) >= cfg.solved_return)
