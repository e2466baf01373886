"""Model-free baseline for the world-model section: TD3 (Fujimoto et al. 2018) on Pendulum-v1
(or ``--env qrl/FourDControl-v0``) with the same real-step budget as CEM-MPC (2,000 steps on
Pendulum, 1,000 on the 4-D task), 10 evaluation episodes on the same starts as CEM-MPC.

Compact on purpose (one file, benchmark only): twin critics, target policy smoothing,
delayed actor updates, Polyak targets, 1 update per environment step after a random
warm-up. Usage::

    OMP_NUM_THREADS=1 python benchmarks/world_models_td3.py --seeds 0 1 2 --steps 2000
    OMP_NUM_THREADS=1 python benchmarks/world_models_td3.py --env qrl/FourDControl-v0 --steps 1000 --warmup 100
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
from torch import nn

from classical.common.buffers import ReplayBuffer
from classical.common.seeding import seed_everything
from classical.world_models.envs import eval_start_seed, make_env


def net(i: int, o: int, out_act: nn.Module | None = None) -> nn.Sequential:
    layers = [nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o)]
    return nn.Sequential(*layers, *([out_act] if out_act else []))


def td3(seed: int, steps: int, warmup: int = 500, env_id: str = "Pendulum-v1", eval_episodes: int = 10, gamma: float = 0.99,
        tau: float = 0.005, batch: int = 256) -> dict:
    torch.set_num_threads(1)
    rng = seed_everything(seed)
    env = make_env(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    scale = float(env.action_space.high[0])
    actor = net(obs_dim, act_dim, nn.Tanh())
    critics = nn.ModuleList([net(obs_dim + act_dim, 1), net(obs_dim + act_dim, 1)])
    actor_t, critics_t = copy.deepcopy(actor), copy.deepcopy(critics)
    a_opt = torch.optim.Adam(actor.parameters(), lr=1e-3)
    c_opt = torch.optim.Adam(critics.parameters(), lr=1e-3)
    buf = ReplayBuffer(steps)
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        if t < warmup:
            action = rng.uniform(-scale, scale, act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                action = scale * actor(torch.as_tensor(obs)[None])[0].numpy()
            action = np.clip(action + rng.normal(0, 0.1 * scale, act_dim), -scale, scale).astype(np.float32)
        nxt, r, term, trunc, _ = env.step(action)
        buf.add(obs=obs[None], action=action[None], reward=np.array([r], np.float32),
                next_obs=nxt[None], done=np.array([float(term)], np.float32))
        obs = env.reset()[0] if term or trunc else nxt
        if t >= warmup:
            b = buf.sample(batch, rng)
            with torch.no_grad():
                noise = (torch.randn_like(b["action"]) * 0.2 * scale).clamp(-0.5 * scale, 0.5 * scale)
                a2 = (scale * actor_t(b["next_obs"]) + noise).clamp(-scale, scale)
                x2 = torch.cat([b["next_obs"], a2], -1)
                q2 = torch.min(critics_t[0](x2), critics_t[1](x2)).squeeze(-1)
                y = b["reward"] + gamma * (1 - b["done"]) * q2
            x = torch.cat([b["obs"], b["action"]], -1)
            c_loss = sum(((c(x).squeeze(-1) - y) ** 2).mean() for c in critics)
            c_opt.zero_grad()
            c_loss.backward()
            c_opt.step()
            if t % 2 == 0:
                a_loss = -critics[0](torch.cat([b["obs"], scale * actor(b["obs"])], -1)).mean()
                a_opt.zero_grad()
                a_loss.backward()
                a_opt.step()
                with torch.no_grad():
                    for m, mt in ((actor, actor_t), (critics, critics_t)):
                        for p, pt in zip(m.parameters(), mt.parameters()):
                            pt.lerp_(p, tau)
    returns = []
    for i in range(eval_episodes):
        obs, _ = env.reset(seed=eval_start_seed(seed, i))
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                obs, r, term, trunc, _ = env.step(scale * actor(torch.as_tensor(obs)[None])[0].numpy())
            total += r
            done = term or trunc
        returns.append(total)
    return {"eval_return_mean": float(np.mean(returns)), "eval_return_std": float(np.std(returns))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--env", default="Pendulum-v1", help="Pendulum-v1 or qrl/FourDControl-v0")
    parser.add_argument("--warmup", type=int, default=500, help="uniform random steps before learning")
    parser.add_argument("--out", default="runs/wm_td3.jsonl")
    args = parser.parse_args()
    for seed in args.seeds:
        t0 = time.time()
        case = "pendulum_td3" if args.env == "Pendulum-v1" else "four_d_td3"
        row = {"case": case, "seed": seed, "env_steps": args.steps,
               **td3(seed, args.steps, warmup=args.warmup, env_id=args.env),
               "wall_s": round(time.time() - t0, 1)}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
