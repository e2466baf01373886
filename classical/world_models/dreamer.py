"""Dreamer-style agent: a world model learned from replayed sequences, and an actor-critic
learned purely in the model's imagination on latent states, with λ-returns.

Per training round: sample sequences, update the world model, start imagined
rollouts of ``imag_horizon`` steps from every posterior state with the actor's own
actions, and

- critic: regress ``V(s_t)`` onto the λ-return
  ``R_t = r_{t+1} + γ c_{t+1} [(1-λ) V'(s_{t+1}) + λ R_{t+1}]``, ``R_H = V'(s_H)``
  (``V'`` a slowly updated target critic, ``c`` the continue head);
- actor: maximise the λ-returns by backpropagating through the learned dynamics
  (continuous actions), plus an entropy bonus.

The actor is built from a ``model:`` spec (``{"type": "mlp"}``, or ``{"type": "vqc"}``
once ``qrl.models`` is imported), so a quantum policy takes the same slot. It reads
either the latent feature ``[h, z]`` (``actor_input: latent``) or an observation
(``actor_input: obs``): the real one in the environment, the decoded one in
imagination — a small circuit then sees 3–4 numbers, not the latent.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir, load_checkpoint_file, save_checkpoint_file
from classical.common.seeding import episode_seed, rng_state, seed_everything, set_rng_state
from classical.common.training import LearningSession, budget_spent, lr_for
from classical.rl.base import run_checkpoint
from classical.rl.models import build_model
from classical.world_models.envs import eval_start_seed, make_env
from classical.world_models.rssm import LatentState, stack_states
from classical.world_models.world_model import SequenceReplay, WorldModel, mlp


LR_KEYS = {"world_model", "actor", "critic", "default"}


class Config(TrainerConfig):
    """Dreamer-style actor-critic in a learned world model's imagination."""

    env_id: str = Field("qrl/FourDControl-v0", description="gymnasium id with a Box action space")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make")
    seed: int = Field(0, description="seed for environment, networks and sampling")
    total_env_steps: int | None = Field(3000, ge=1, description="budget in real environment steps")
    episodes: int | None = Field(None, ge=1, description="budget in real episodes")
    prefill_steps: int = Field(500, ge=1, description="initial steps with uniform random actions")
    train_every: int = Field(50, ge=1, description="real steps between training rounds")
    updates_per_round: int = Field(25, ge=1, description="gradient updates per training round")
    batch_size: int = Field(16, ge=1, description="sequences per batch")
    seq_len: int = Field(32, ge=2, description="length of replayed sequences")
    imag_horizon: int = Field(15, ge=1, description="imagination horizon H")
    gamma: float = Field(0.97, gt=0, le=1, description="discount")
    lam: float = Field(0.95, ge=0, le=1, description="λ of the λ-returns")
    entropy_scale: float = Field(1e-3, ge=0, description="actor entropy bonus")
    deter_dim: int = Field(64, ge=1, description="RSSM GRU size")
    stoch_dim: int = Field(8, ge=1, description="RSSM Gaussian latent size")
    width: int = Field(64, ge=1, description="width of the world model's internal MLPs and of the critic")
    latent: Literal["gaussian", "categorical"] = Field("gaussian", description="RSSM latent type")
    free_nats: float = Field(1.0, ge=0, description="free nats of the KL term")
    kl_balance: float = Field(0.8, ge=0, le=1, description="KL balancing α")
    lr: dict[str, float] = Field(default_factory=lambda: {"world_model": 1e-3, "actor": 3e-4, "critic": 3e-4},
                                 description="Adam learning rates: keys world_model, actor, critic, default "
                                             "(README: lr)")
    max_grad_norm: float | None = Field(100.0, gt=0, description="gradient norm clip of each network "
                                                                  "(None: no clipping)")
    target_tau: float = Field(0.02, gt=0, le=1, description="Polyak rate of the target critic")
    actor: dict = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                        description="actor network spec for classical.rl.models.build_model")
    actor_input: Literal["latent", "obs"] = Field("latent", description="what the actor reads")
    backend: str | None = Field(None, description="backends.yaml entry for a quantum actor")
    eval_episodes: int = Field(10, ge=1, description="deterministic evaluation episodes at the end")

    @model_validator(mode="after")
    def _known_lr_keys(self):
        unknown = sorted(set(self.lr) - LR_KEYS)
        if unknown:
            raise ValueError(f"lr keys {unknown} are not used by Dreamer; use {sorted(LR_KEYS)}")
        return self


class GaussianActor(nn.Module):
    """Wraps a network with ``2·A`` outputs into a tanh-squashed Gaussian policy scaled to the bounds."""

    def __init__(self, net: nn.Module, low: np.ndarray, high: np.ndarray, min_std: float = 0.1):
        super().__init__()
        self.net = net
        self.register_buffer("centre", torch.as_tensor((high + low) / 2, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor((high - low) / 2, dtype=torch.float32))
        self.min_std = min_std

    def forward(self, x: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action, entropy)``; the action is reparameterised (gradients reach the input)."""
        out = self.net(x).float()
        mean, raw_std = out.chunk(2, -1)
        std = F.softplus(raw_std) + self.min_std
        pre = mean if deterministic else mean + std * torch.randn_like(std)
        entropy = (0.5 * torch.log(2 * torch.pi * torch.e * std**2)).sum(-1)
        return self.centre + self.scale * torch.tanh(pre), entropy


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, discounts: torch.Tensor,
                   lam: float) -> torch.Tensor:
    """λ-returns ``[H, B]`` from ``rewards[t] = r_{t+1}``, ``values [H+1, B]``, ``discounts[t] = γ c_{t+1}``.

    **Example**

    >>> r, v, d = torch.ones(2, 1), torch.zeros(3, 1), torch.full((2, 1), 0.5)
    >>> lambda_returns(r, v, d, lam=1.0).squeeze(-1).tolist()   # 1 + 0.5·1, 1
    [1.5, 1.0]
    """
    out, last = [], values[-1]
    for t in reversed(range(rewards.shape[0])):
        last = rewards[t] + discounts[t] * ((1 - lam) * values[t + 1] + lam * last)
        out.append(last)
    return torch.stack(out[::-1])


class DreamerAgent(nn.Module):
    """World model + actor + critic, with the imagination update.

    **Example**

    >>> wm = WorldModel(4, 2, deter_dim=16, stoch_dim=4, hidden=16)
    >>> actor = GaussianActor(nn.Linear(20, 4), np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    >>> agent = DreamerAgent(wm, actor, Config())
    >>> start = wm.rssm.initial(3)
    >>> traj, actions, entropy = agent.imagine(start, horizon=5)
    >>> traj.feature.shape, actions.shape
    (torch.Size([6, 3, 20]), torch.Size([5, 3, 2]))
    """

    def __init__(self, world_model: WorldModel, actor: GaussianActor, cfg: Config):
        super().__init__()
        self.wm, self.actor, self.cfg = world_model, actor, cfg
        self.critic = mlp(world_model.rssm.feature_dim, 1, cfg.width)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)

    def actor_features(self, state: LatentState) -> torch.Tensor:
        if self.cfg.actor_input == "obs":
            return self.wm.decoder(state.feature)
        return state.feature

    def imagine(self, start: LatentState, horizon: int) -> tuple[LatentState, torch.Tensor, torch.Tensor]:
        """Roll the prior forward with the actor's own actions; states ``[H+1, B]`` (start first)."""
        states, actions, entropies = [start], [], []
        state = start
        for _ in range(horizon):
            action, entropy = self.actor(self.actor_features(state))
            state = self.wm.rssm.img_step(state, action)
            states.append(state)
            actions.append(action)
            entropies.append(entropy)
        return stack_states(states), torch.stack(actions), torch.stack(entropies)

    def value(self, state: LatentState, target: bool = False) -> torch.Tensor:
        return (self.target_critic if target else self.critic)(state.feature).squeeze(-1)

    def behaviour_losses(self, post: LatentState) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Actor and critic losses from imagined rollouts starting at every posterior state."""
        cfg = self.cfg
        start = LatentState(post.h.detach().flatten(0, 1), post.z.detach().flatten(0, 1),
                            tuple(s.detach().flatten(0, 1) for s in post.stats))
        traj, _, entropy = self.imagine(start, cfg.imag_horizon)
        nxt = LatentState(traj.h[1:], traj.z[1:], tuple(s[1:] for s in traj.stats))
        rewards = self.wm.reward(nxt)
        discounts = cfg.gamma * self.wm.cont_prob(nxt)
        returns = lambda_returns(rewards, self.value(traj, target=True), discounts, cfg.lam)
        # weight of step t: probability the episode is still running there
        weights = torch.cumprod(torch.cat([torch.ones_like(discounts[:1]), discounts[:-1]]), 0).detach()
        actor_loss = -(weights * (returns + cfg.entropy_scale * entropy)).mean()
        head = LatentState(traj.h[:-1].detach(), traj.z[:-1].detach(), ())
        critic_loss = (weights * (self.value(head) - returns.detach()) ** 2).mean()
        return actor_loss, critic_loss, {"imag_return": returns[0].mean().item(),
                                         "entropy": entropy.mean().item()}

    @torch.no_grad()
    def update_target(self) -> None:
        for p, tp in zip(self.critic.parameters(), self.target_critic.parameters()):
            tp.lerp_(p, self.cfg.target_tau)

    # -- the agent contract (classical/rl/base.py) ---------------------------------
    def predict(self, obs, state: tuple | None = None, deterministic: bool = True) -> tuple[np.ndarray, tuple | None]:
        """The action for one observation, and the next recurrent state.

        A latent actor filters ``obs`` into the RSSM state: ``state`` is ``(latent, previous
        action)``, None at an episode's start. An observation actor is memoryless (state None).
        The filter samples the posterior latent; a deterministic call draws it from a generator
        seeded with ``cfg.seed`` (the global torch RNG is left as it was), so it is reproducible.
        """
        if not deterministic:
            return self._act(obs, state, deterministic)
        with torch.random.fork_rng():
            torch.manual_seed(self.cfg.seed)
            return self._act(obs, state, deterministic)

    @torch.no_grad()
    def _act(self, obs, state: tuple | None, deterministic: bool) -> tuple[np.ndarray, tuple | None]:
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(1, -1)
        if self.cfg.actor_input == "obs":
            action, _ = self.actor(x, deterministic)
            return action[0].numpy(), None
        latent, prev = state if state is not None else (self.wm.rssm.initial(1),
                                                        torch.zeros(1, self.actor.centre.shape[0]))
        latent, _ = self.wm.rssm.obs_step(latent, prev, self.wm.encoder(x))
        action, _ = self.actor(latent.feature, deterministic)
        return action[0].numpy(), (latent, action)

    def save(self, path) -> None:
        save_checkpoint_file(path, {"config": self.cfg.model_dump(), "agent": self.state_dict()})

    @classmethod
    def load(cls, path, **overrides) -> DreamerAgent:
        """Rebuild a saved agent in a fresh interpreter (``overrides`` change config fields)."""
        state = load_checkpoint_file(path)
        agent = agent_for_task(Config(**{**state["config"], **overrides}))
        agent.load_state_dict(state["agent"])
        return agent


def build_agent(cfg: Config, obs_dim: int, action_dim: int, low, high, backend: Any = None) -> DreamerAgent:
    """The world model, actor and critic; ``backend`` (default ``cfg.backend``) is where a circuit actor runs."""
    wm = WorldModel(obs_dim, action_dim, cfg.deter_dim, cfg.stoch_dim, cfg.width, cfg.latent,
                    free_nats=cfg.free_nats, kl_balance=cfg.kl_balance)
    in_dim = obs_dim if cfg.actor_input == "obs" else wm.rssm.feature_dim
    net = build_model(cfg.actor, "policy", in_dim, 2 * action_dim,
                      backend=cfg.backend if backend is None else backend)
    return DreamerAgent(wm, GaussianActor(net, low, high), cfg)


def agent_for_task(cfg: Config) -> DreamerAgent:
    """An untrained agent sized for ``cfg``'s environment."""
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    space = env.action_space
    return build_agent(cfg, env.observation_space.shape[0], space.shape[0], space.low, space.high)


def load_agent(run_dir, backend: str | None = None) -> DreamerAgent:
    """The trained agent of a run folder, ready to ``predict(obs, state)`` (``qrl.load``)."""
    config, state = run_checkpoint(run_dir, backend)
    agent = agent_for_task(Config(**config))
    agent.load_state_dict(state["agent"])
    return agent


class _Controller:
    """Acts in the real environment, carrying the agent's recurrent state (latents sampled from the global RNG)."""

    def __init__(self, agent: DreamerAgent, action_dim: int):
        self.agent, self.state = agent, None

    def reset(self) -> None:
        self.state = None

    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        action, self.state = self.agent._act(obs, self.state, deterministic)
        return action


def run(cfg: Config, run: RunDir) -> dict:
    """Train within the budget (real steps and/or episodes), then evaluate the deterministic actor."""
    torch.set_num_threads(1)
    rng = seed_everything(cfg.seed)
    start_time = time.perf_counter()
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    agent = build_agent(cfg, obs_dim, action_dim, low, high, run.backend)
    wm_opt = torch.optim.Adam(agent.wm.parameters(), lr=lr_for(cfg.lr, "world_model"))
    actor_opt = torch.optim.Adam(agent.actor.parameters(), lr=lr_for(cfg.lr, "actor"))
    critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=lr_for(cfg.lr, "critic"))
    step_limit = cfg.total_env_steps or float("inf")
    replay = SequenceReplay(cfg.total_env_steps + 1000 if cfg.total_env_steps else 1_000_000)
    controller = _Controller(agent, action_dim)
    env_steps, episode, metrics = 0, 0, {}

    state = run.load_checkpoint() if run.resume else None
    if state is not None:
        agent.load_state_dict(state["agent"])
        for opt, key in ((wm_opt, "wm_opt"), (actor_opt, "actor_opt"), (critic_opt, "critic_opt")):
            opt.load_state_dict(state[key])
        replay.load_state_dict(state["replay"])
        set_rng_state(state["rng"], rng)
        env_steps, episode, metrics = state["env_steps"], state["episode"], state["metrics"]

    def train_round() -> dict:
        out = {}
        for _ in range(cfg.updates_per_round):
            batch = replay.sample(cfg.batch_size, cfg.seq_len, rng)
            wm_loss, out, post = agent.wm.loss(batch)
            wm_opt.zero_grad()
            wm_loss.backward()
            if cfg.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(agent.wm.parameters(), cfg.max_grad_norm)
            wm_opt.step()
            actor_loss, critic_loss, extra = agent.behaviour_losses(post)
            actor_opt.zero_grad()
            critic_opt.zero_grad()
            (actor_loss + critic_loss).backward()  # actor and critic share no parameters
            if cfg.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(agent.actor.parameters(), cfg.max_grad_norm)
            actor_opt.step()
            critic_opt.step()
            agent.update_target()
            out.update(extra, critic_loss=critic_loss.item())
        return out

    with LearningSession(run, None) as session:   # a checkpoint per episode; Ctrl-C stops between two
        while not budget_spent(cfg, episode, env_steps):
            obs, _ = env.reset(seed=episode_seed(cfg.seed, episode, stride=100_003))
            controller.reset()
            replay.add(obs=obs, action=np.zeros(action_dim), reward=0.0, cont=1.0, is_first=True)
            ep_return, done = 0.0, False
            while not done and env_steps < step_limit:
                if env_steps < cfg.prefill_steps:
                    action = rng.uniform(low, high).astype(np.float32)
                else:
                    action = controller.act(obs, deterministic=False)
                obs, reward, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
                replay.add(obs=obs, action=action, reward=reward, cont=1.0 - float(terminated), is_first=False)
                ep_return += float(reward)
                env_steps += 1
                if env_steps >= cfg.prefill_steps and env_steps % cfg.train_every == 0:
                    metrics = train_round()
            episode += 1
            run.log({"episode": episode, "env_steps": env_steps, "return": ep_return,
                     **{k: metrics.get(k, float("nan")) for k in ("wm_loss", "kl", "recon", "imag_return")}})
            session.step_done(episode - 1, episode, lambda: {
                "agent": agent.state_dict(), "wm_opt": wm_opt.state_dict(), "actor_opt": actor_opt.state_dict(),
                "critic_opt": critic_opt.state_dict(), "replay": replay.state_dict(), "rng": rng_state(rng),
                "env_steps": env_steps, "episode": episode, "metrics": metrics}, last=budget_spent(cfg, episode, env_steps))
    run.plot_curve(x="env_steps", y="return", window=5)
    rows = evaluate(agent, env, controller, cfg.eval_episodes, seed=eval_start_seed(cfg.seed, 0))
    run.write_eval(rows)
    returns = [r["return"] for r in rows]
    n_params = sum(p.numel() for m in (agent.wm, agent.actor, agent.critic) for p in m.parameters())
    return {"episodes": episode, "env_steps": env_steps, "eval_return_mean": float(np.mean(returns)),
            "n_params": n_params, "wall_seconds": round(time.perf_counter() - start_time, 3),
            "eval_return_std": float(np.std(returns))}


def evaluate(agent: DreamerAgent, env, controller: _Controller, episodes: int, seed: int) -> list[dict]:
    """Deterministic (mean-action) episodes on fixed seeds."""
    rows = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        controller.reset()
        total, done, steps = 0.0, False, 0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(controller.act(obs, deterministic=True))
            total += float(reward)
            steps += 1
            done = terminated or truncated
        rows.append({"episode": i, "return": total, "steps": steps})
    return rows
