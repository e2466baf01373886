"""Deep self-play by PSRO on two-sided particle tasks: populations, an empirical meta-game, PPO oracles.

Two players face each other: the two agents of ``ParticleEnv(mode="competitive",
n_agents=2)``, or the two teams of an mpe2 task (``simple_adversary``: adversary vs
agents; ``simple_tag``: predators vs prey), teams named by
:func:`~classical.marl.metrics.team_of`. A player's *policy* is one actor per agent it
controls. PSRO (Lanctot et al. 2017) keeps a population of policies per player:

1. the empirical meta-game: ``payoff[i, j]`` is player 0's mean payoff over
   ``meta_episodes`` episodes of its policy i against player 1's policy j;
   a population member is the greedy policy of its actors everywhere (in the meta-game, as an oracle's
   opponent and in the evaluation), so the meta-game ranks what is evaluated;
2. the meta-strategies: the meta-game solved by :func:`classical.marl.games.selfplay_equilibrium`
   (``meta_solver``: exact PSRO/LP or fictitious play);
3. one oracle per player: a MAPPO learner (:mod:`classical.marl.mappo`) trains its
   player's agents for ``oracle_episodes`` episodes against opponents drawn from the
   other player's meta-strategy each episode; the result joins the population.

The payoff of an episode is zero-sum by construction: ``(R_0 - R_1) / 2`` with ``R_p``
the mean return per agent of player p (for the competitive particle task this is
player 0's own return); who *wins* an episode is the task's own criterion (:func:`winner`: a catch
in ``simple_tag``, the nearer team to the target in ``simple_adversary``, the higher return in
the particle task). In ``simple_tag`` the payoff is never negative (the prey's reward is only
penalties): the meta-game is constant-sum in effect, and the prey's side minimises it. The
approximate exploitability after each iteration (``nash_conv``) is what the new best
responses gain against the previous meta-strategies; ``psro.csv`` has it with each
player's win rates against the three opponents below after every iteration.

At the end the meta-strategy mixture of each player (a policy drawn per episode from the
meta-strategy, then acting greedily) is evaluated against a uniformly random opponent, the
held-back first policy of the population and the task's scripted team
(:mod:`classical.marl.scripted`); ``eval.csv`` has one row per episode and opponent. The
scripted team also plays each seat against the same opponents on the same layouts
(``*_reference_payoff``, ``*_reference_win_rate``).

**Example**

>>> import tempfile
>>> from classical.common.rundir import RunDir
>>> cfg = Config(env_kwargs={"n_agents": 2, "mode": "competitive", "max_steps": 5}, iterations=2,
...              oracle_episodes=4, episodes_per_update=2, meta_episodes=2, eval_episodes=4)
>>> summary = run(cfg, RunDir(tempfile.mkdtemp()))
>>> summary["population"], len(summary["meta_strategy_0"])
(3, 3)
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from classical.common.config import TrainerConfig
from classical.common.rundir import RunDir
from classical.common.seeding import seed_everything
from classical.common.stats import success_rate
from classical.marl import mappo
from classical.marl.envs import JointEnv, make_joint_env
from classical.marl.games import exploitability, selfplay_equilibrium
from classical.marl.loop import EVAL_SEED_BASE
from classical.marl.metrics import team_of
from classical.marl.scripted import RandomOpponent, ScriptedOpponent, scripted_team  # noqa: F401 (re-exported)
from classical.rl.base import MultiAgent, load_multi_agent
from classical.rl.models import build_model


class Config(TrainerConfig):
    """PSRO self-play settings; ``configs/marl_*_psro.yaml`` are presets of this."""

    env_id: str = Field("particle", description="'particle' (competitive mode) or simple_adversary / simple_tag")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"n_agents": 2, "mode": "competitive",
                                                                "max_steps": 10},
                                       description="keyword arguments of the task")
    actor: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                                  description="each agent's actor model spec")
    critic: dict[str, Any] = Field(default_factory=lambda: {"type": "mlp", "hidden": [64, 64]},
                                   description="the oracles' centralised value model spec")
    backend: str | None = Field(None, description="backends.yaml entry for circuit actors")
    lr: dict[str, float] = Field(default_factory=lambda: {"default": 1e-3}, description="oracle Adam step sizes")
    gamma: float = Field(0.99, gt=0, le=1, description="discount")
    ent_coef: float = Field(0.01, ge=0, description="oracle entropy bonus")
    epochs: int = Field(10, ge=1, description="oracle PPO passes per batch")
    minibatches: int = Field(4, ge=1, description="oracle minibatches per pass")
    episodes_per_update: int = Field(8, ge=1, description="oracle episodes per PPO batch")
    max_grad_norm: float | None = Field(10.0, gt=0, description="gradient norm clip (None: off)")
    iterations: int = Field(4, ge=1, description="PSRO iterations (one new policy per player each)")
    oracle_episodes: int = Field(200, ge=1, description="training episodes of each best-response oracle")
    warm_start: bool = Field(True, description="an oracle continues its player's previous learner (actors, critic, "
                                               "value statistics, optimiser state); false: a fresh learner")
    meta_episodes: int = Field(20, ge=1, description="episodes per pair of policies in the empirical meta-game")
    meta_solver: Literal["psro", "fictitious"] = Field("psro", description="games.selfplay_equilibrium method")
    episodes: int | None = Field(1600, ge=1, description="stop after this many oracle training episodes "
                                                          "(2 x iterations x oracle_episodes runs every oracle)")
    total_env_steps: int | None = Field(None, ge=1, description="stop after this many oracle env steps")
    eval_episodes: int = Field(100, ge=1, description="evaluation episodes per opponent at the end")
    curve_eval_episodes: int = Field(20, ge=0, description="episodes per opponent after each iteration, for "
                                                            "the win-rate curve in psro.csv (0: off)")
    seed: int = Field(0, description="random seed")

    @staticmethod
    def build_env(env_id: str, **env_kwargs) -> JointEnv:
        """The task of ``env_id`` (what ``qrl train`` checks before a run)."""
        return make_joint_env(env_id, env_kwargs)


def player_agents(env: JointEnv) -> list[list[int]]:
    """The agent indices of the two players: the two teams, or the two agents of a one-team task."""
    teams = [team_of(a) for a in env.agents]
    names = list(dict.fromkeys(teams))
    if len(names) == 2:
        return [[i for i, t in enumerate(teams) if t == n] for n in names]
    if len(names) == 1 and env.n_agents == 2:
        return [[0], [1]]
    raise ValueError(f"self-play needs two players (two teams, or two agents); {env.agents} are neither.")


class Policy(nn.Module):
    """One player's policy: an actor per agent it controls, acting on that agent's observation."""

    def __init__(self, actors: list[nn.Module], agents: list[int], obs_dims: list[int], n_actions: int):
        super().__init__()
        self.actors, self.agents, self.obs_dims, self.n_actions = nn.ModuleList(actors), agents, obs_dims, n_actions

    def reset(self) -> None:
        """Start an episode (the actors are memoryless)."""

    def act(self, obs: np.ndarray, explore: bool, rng: np.random.Generator) -> dict[int, int]:
        with torch.no_grad():
            out = {}
            for net, i in zip(self.actors, self.agents):
                logits = net(torch.as_tensor(obs[i], dtype=torch.float32)[None])[0]
                out[i] = int(torch.distributions.Categorical(logits=logits).sample() if explore else logits.argmax())
        return out


def winner(env_id: str, players: list[list[int]], returns: np.ndarray) -> int | None:
    """The player who won an episode with per-agent ``returns``, or None for a tie.

    - ``simple_tag``: the predators (player 0) win when they touch the prey at least once (their reward
      is +10 per contact and nothing else, so a positive return); otherwise the prey wins.
    - ``simple_adversary``: the good agents (player 1) win when their return is positive: their reward is
      the adversary's distance to the target minus their nearest agent's, so over the episode their
      nearest agent was closer to the target than the adversary; otherwise the adversary wins.
    - otherwise (the zero-sum particle task): the player with the higher mean return per agent.
    """
    r0, r1 = (float(np.mean(returns[players[p]])) for p in (0, 1))
    if env_id == "simple_tag":
        return 0 if r0 > 0 else 1
    if env_id == "simple_adversary":
        return 1 if r1 > 0 else 0
    return None if r0 == r1 else int(r1 > r0)


def play(env: JointEnv, players: list[list[int]], policies, seed: int, explore: bool = True,
         env_id: str = "particle") -> dict:
    """One episode between ``policies[0]`` and ``policies[1]``: player 0's payoff, the winner (:func:`winner`)
    and the per-agent returns."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for pol in policies:
        pol.reset()
    returns, done, steps = np.zeros(env.n_agents), False, 0
    while not done:
        actions = np.zeros(env.n_agents, dtype=np.int64)
        for pol in policies:
            for i, a in pol.act(obs, explore, rng).items():
                actions[i] = a
        obs, _, rewards, terminated, truncated = env.step(actions)
        returns += rewards
        done, steps = terminated or truncated, steps + 1
    r0, r1 = (returns[players[p]].mean() for p in (0, 1))
    return {"payoff": float((r0 - r1) / 2), "winner": winner(env_id, players, returns), "steps": steps,
            **{f"return_{a}": float(r) for a, r in zip(env.agents, returns)}}


def _learner(cfg: Config, env: JointEnv, backend: Any = None) -> mappo.MAPPO:
    """A fresh MAPPO learner with one actor per agent (a player trains only its own)."""
    return mappo.MAPPO(mappo.Config(env_id=cfg.env_id, env_kwargs=cfg.env_kwargs, actor=cfg.actor,
                                    critic=cfg.critic, share_actor=False, backend=cfg.backend, lr=cfg.lr,
                                    gamma=cfg.gamma, ent_coef=cfg.ent_coef, epochs=cfg.epochs,
                                    minibatches=cfg.minibatches, max_grad_norm=cfg.max_grad_norm,
                                    episodes=cfg.oracle_episodes, seed=cfg.seed), env, backend)


def _oracle(cfg: Config, env: JointEnv, players, populations, meta, player: int, learner: mappo.MAPPO,
            first_episode: int, rng, backend: Any = None) -> tuple[Policy, list[dict], int]:
    """Train ``learner`` as a best response for ``player`` against the other's meta-strategy mixture
    (MAPPO, own agents only); return the frozen policy, the episode rows and the env steps."""
    mine, other = players[player], players[1 - player]
    rows, steps, episode = [], 0, 0
    while episode < cfg.oracle_episodes:
        opponent = populations[1 - player][rng.choice(len(meta[1 - player]), p=meta[1 - player])]

        def act(obs, opponent=opponent):
            actions = learner._act(obs, explore=True)
            for i, a in opponent.act(obs, False, rng).items():   # frozen policies act greedily everywhere
                actions[i] = a
            return actions

        n = min(cfg.episodes_per_update, cfg.oracle_episodes - episode)
        batch, ep_rows = mappo.collect_episodes(env, act, n, first_episode + episode, cfg.seed)
        losses = learner.update(batch, agents=mine)
        for row in ep_rows:
            steps += row.pop("steps")
            r_me = np.mean([row[f"return_{env.agents[i]}"] for i in mine])
            r_other = np.mean([row[f"return_{env.agents[i]}"] for i in other])
            rows.append({"player": player, "payoff": float(r_me - r_other) / 2, **row, **losses})
        episode += n
    return _snapshot(cfg, env, learner, mine, backend), rows, steps


def _snapshot(cfg: Config, env: JointEnv, learner: mappo.MAPPO, agents: list[int], backend: Any = None) -> Policy:
    """A frozen copy of ``agents``' actors (rebuilt from the spec: circuits do not deep-copy)."""
    actors = []
    for i in agents:
        net = build_model(cfg.actor, "policy", env.obs_dim, env.n_actions, cfg.backend if backend is None else backend)
        net.load_state_dict(learner.actor[i].state_dict())
        actors.append(net)
    return Policy(actors, agents, [env.obs_dims[i] for i in agents], env.n_actions)


def _meta_entry(env, players, a: Policy, b: Policy, episodes: int, seed: int) -> float:
    return float(np.mean([play(env, players, (a, b), seed=seed + k, explore=False)["payoff"]
                          for k in range(episodes)]))


def run(cfg: Config, run_dir: RunDir) -> dict:
    """PSRO: grow both populations for ``cfg.iterations``, log the meta-game, evaluate; return the summary."""
    torch.set_num_threads(1)
    rng = seed_everything(cfg.seed)
    env = make_joint_env(cfg.env_id, cfg.env_kwargs)
    players = player_agents(env)
    start = time.perf_counter()
    populations: list[list[Policy]] = [[], []]
    learners = []
    for p in (0, 1):          # the first policies: the untrained actors of a fresh learner
        seed_everything(cfg.seed + 17 * p)
        learners.append(_learner(cfg, env, run_dir.backend))
        populations[p].append(_snapshot(cfg, env, learners[p], players[p], run_dir.backend))
    meta_seed = 3 * 10**8 + cfg.seed * 10_007
    payoff = np.array([[_meta_entry(env, players, populations[0][0], populations[1][0], cfg.meta_episodes,
                                    meta_seed)]])
    meta = [np.ones(1), np.ones(1)]
    episodes, env_steps, curve = 0, 0, []
    max_episodes, max_steps = cfg.episodes or float("inf"), cfg.total_env_steps or float("inf")
    for it in range(cfg.iterations):
        if episodes >= max_episodes or env_steps >= max_steps:
            break
        new = []
        for p in (0, 1):
            if not cfg.warm_start and it > 0:
                learners[p] = _learner(cfg, env, run_dir.backend)
            policy, rows, steps = _oracle(cfg, env, players, populations, meta, p, learners[p],
                                          2 * it * cfg.oracle_episodes + p * cfg.oracle_episodes, rng,
                                          run_dir.backend)
            for row in rows:
                episodes += 1
                row_steps = row.get("steps", 0)
                run_dir.log({"iteration": it + 1, "episode": episodes, "env_steps": env_steps + row_steps, **row})
            env_steps += steps
            new.append(policy)
        # What each new best response gains against the previous meta-strategies (approximate NashConv).
        old_value = float(meta[0] @ payoff @ meta[1])
        br0 = sum(w * _meta_entry(env, players, new[0], populations[1][j], cfg.meta_episodes, meta_seed)
                  for j, w in enumerate(meta[1]) if w > 0)
        br1 = sum(w * _meta_entry(env, players, populations[0][i], new[1], cfg.meta_episodes, meta_seed)
                  for i, w in enumerate(meta[0]) if w > 0)
        nash_conv = max(0.0, br0 - old_value) + max(0.0, old_value - br1)
        populations[0].append(new[0])
        populations[1].append(new[1])
        n = len(populations[0])
        grown = np.zeros((n, n))
        grown[: n - 1, : n - 1] = payoff
        for i in range(n):
            grown[i, n - 1] = _meta_entry(env, players, populations[0][i], populations[1][n - 1],
                                          cfg.meta_episodes, meta_seed)
        for j in range(n - 1):
            grown[n - 1, j] = _meta_entry(env, players, populations[0][n - 1], populations[1][j],
                                          cfg.meta_episodes, meta_seed)
        payoff = grown
        meta = list(selfplay_equilibrium(payoff, method=cfg.meta_solver, seed=cfg.seed))
        point = {"iteration": it + 1, "env_steps": env_steps, "nash_conv": nash_conv,
                 "meta_value": float(meta[0] @ payoff @ meta[1]), "meta_exploitability": exploitability(payoff, *meta)}
        if cfg.curve_eval_episodes:
            _, during = evaluate_populations(cfg, env, players, populations, meta, cfg.curve_eval_episodes)
            point.update({k: v for k, v in during.items() if k.endswith("win_rate")})
        curve.append(point)
    wall = time.perf_counter() - start
    agent = PSROAgent(cfg, env, populations, meta, backend=run_dir.backend)
    run_dir.save_checkpoint({"learner": agent.state_dict(), "episodes": episodes, "env_steps": env_steps})
    rows, summary = evaluate_populations(cfg, env, players, populations, meta, reference=True)
    run_dir.write_eval(rows)
    run_dir.write_eval(curve, name="psro.csv")
    return {"episodes": episodes, "env_steps": env_steps, "n_params": sum(
                p.numel() for pop in populations for pol in pop for p in pol.parameters()) // max(1, len(populations[0])),
            "wall_seconds": wall, "population": len(populations[0]), "meta_payoff": payoff.round(4).tolist(),
            "meta_strategy_0": meta[0].round(4).tolist(), "meta_strategy_1": meta[1].round(4).tolist(),
            "nash_conv": [c["nash_conv"] for c in curve], **summary}


def evaluate_populations(cfg: Config, env, players, populations, meta, episodes: int | None = None,
                         reference: bool = False) -> tuple[list[dict], dict]:
    """Each player's meta-strategy mixture against random, held-back first and scripted opponents
    (:func:`~classical.marl.scripted.scripted_team`; ``episodes`` per opponent, default ``cfg.eval_episodes``).

    Per player and opponent the summary has the mean payoff, the win rate (:func:`winner`) with its Wilson
    95% interval and each team's mean return (``player{p}_vs_{opponent}_team_return_{team}``: summed over
    the team's agents). With ``reference`` the scripted controller also plays each player's seat against the
    same opponents on the same layouts (an episode's random draws come from its seed), so
    ``player{p}_vs_{opponent}_reference_payoff`` and ``..._reference_win_rate`` are what the controller gets
    there: a margin over it is skill, not layout luck (the seats are not symmetric on a finite set of layouts).
    """
    rng = np.random.default_rng(cfg.seed)
    episodes = episodes or cfg.eval_episodes
    opponents = {"random": lambda p: RandomOpponent(players[p], env.n_actions),
                 "first": lambda p: populations[p][0]}
    has_script = scripted_team(env, cfg.env_id, players[0]) is not None
    if has_script:
        opponents["scripted"] = lambda p: scripted_team(env, cfg.env_id, players[p])
    reference = reference and has_script
    teams = list(dict.fromkeys(team_of(env.agents[i]) for p in (0, 1) for i in players[p]))
    rows, summary = [], {}
    for me in (0, 1):
        sign = 1 if me == 0 else -1
        for name, make in opponents.items():
            opponent = make(1 - me)
            wins, payoffs, ref, ref_wins, team_returns = 0, [], [], 0, {t: [] for t in teams}
            for k in range(episodes):
                mine = populations[me][rng.choice(len(meta[me]), p=meta[me])]
                pair = (mine, opponent) if me == 0 else (opponent, mine)
                seed = EVAL_SEED_BASE + cfg.seed * 10_007 + k
                out = play(env, players, pair, seed=seed, explore=False, env_id=cfg.env_id)
                mine_payoff = out.pop("payoff") * sign
                won = out.pop("winner") == me
                out.pop("steps")
                payoffs.append(mine_payoff)
                wins += won
                for t in teams:
                    team_returns[t].append(sum(out[f"return_{a}"] for a in env.agents if team_of(a) == t))
                rows.append({"player": me, "opponent": name, "episode": k, "payoff": mine_payoff,
                             "win": float(won), **out})
                if reference:
                    scripted = scripted_team(env, cfg.env_id, players[me])
                    pair = (scripted, opponent) if me == 0 else (opponent, scripted)
                    out = play(env, players, pair, seed=seed, explore=False, env_id=cfg.env_id)
                    ref.append(out["payoff"] * sign)
                    ref_wins += out["winner"] == me
            rate = success_rate(wins, episodes)
            summary[f"player{me}_vs_{name}_payoff"] = float(np.mean(payoffs))
            summary[f"player{me}_vs_{name}_win_rate"] = rate.point
            summary[f"player{me}_vs_{name}_win_rate_ci"] = [round(rate.low, 4), round(rate.high, 4)]
            for t in teams:
                summary[f"player{me}_vs_{name}_team_return_{t}"] = float(np.mean(team_returns[t]))
            if reference:
                summary[f"player{me}_vs_{name}_reference_payoff"] = float(np.mean(ref))
                summary[f"player{me}_vs_{name}_reference_win_rate"] = ref_wins / episodes
    summary["eval_return_mean"] = summary["player0_vs_random_payoff"]
    return rows, summary


class PSROAgent(MultiAgent):
    """What self-play leaves: each player's meta-strategy mixture over its population, as one agent.

    ``predict`` with ``deterministic=True`` lets each player use its most probable population
    policy, acting greedily; otherwise each call draws a policy from the meta-strategy and samples
    its actions.
    """

    def __init__(self, cfg: Config, env: JointEnv | None = None, populations: list[list[Policy]] | None = None,
                 meta: list[np.ndarray] | None = None, backend: Any = None):
        self.cfg, self.env = cfg, env or make_joint_env(cfg.env_id, cfg.env_kwargs)
        # where load_state_dict builds circuit members: the run's resolved backend (RunDir.backend)
        self.backend = cfg.backend if backend is None else backend
        self.players = player_agents(self.env)
        self.populations = populations or [[], []]
        self.meta = [np.asarray(m, dtype=np.float64) for m in meta] if meta is not None else [np.ones(0)] * 2
        self._record_origin("classical.marl.selfplay", cfg.model_dump(mode="json"))

    def learn(self, run=None):
        """PSRO grows the populations in :func:`run` (``qrl train``); the agent it leaves only acts."""
        raise NotImplementedError("PSRO trains through classical.marl.selfplay.run (qrl train --config "
                                  "configs/marl_particle_competitive_psro.yaml); a loaded PSROAgent only acts.")

    def _act(self, obs: np.ndarray, explore: bool, progress: float, rng) -> np.ndarray:
        actions = np.zeros(self.env.n_agents, dtype=np.int64)
        for p in (0, 1):
            k = rng.choice(len(self.meta[p]), p=self.meta[p]) if explore else int(np.argmax(self.meta[p]))
            for i, a in self.populations[p][k].act(obs, explore, rng).items():
                actions[i] = a
        return actions

    def state_dict(self) -> dict:
        return {"meta": [m.tolist() for m in self.meta],
                "populations": [[pol.state_dict() for pol in pop] for pop in self.populations]}

    def load_state_dict(self, state: dict) -> None:
        env, cfg = self.env, self.cfg
        self.meta = [np.asarray(m, dtype=np.float64) for m in state["meta"]]
        self.populations = [[], []]
        for p, saved in enumerate(state["populations"]):
            for weights in saved:
                agents = self.players[p]
                policy = Policy([build_model(cfg.actor, "policy", env.obs_dim, env.n_actions, self.backend)
                                 for _ in agents], agents, [env.obs_dims[i] for i in agents], env.n_actions)
                policy.load_state_dict(weights)
                self.populations[p].append(policy)


def agent_from_config(config: dict) -> PSROAgent:
    """An empty self-play agent for ``config`` (a :class:`Config` as a dict); ``load_state_dict`` fills it."""
    return PSROAgent(Config(**config))


def load_agent(run_dir, backend: str | None = None) -> PSROAgent:
    """The meta-strategy mixtures a self-play run ended with, ready to ``predict({agent: obs})`` (``qrl.load``)."""
    return load_multi_agent(run_dir, agent_from_config, backend)
