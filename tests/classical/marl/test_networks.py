import numpy as np
import torch

from classical.marl.buffer import MultiAgentReplayBuffer
from classical.marl.comm import CommChannel
from classical.marl.maac import AttentionCritic
from classical.marl.metrics import mutual_information, step_coordination
from classical.marl.networks import AgentNetwork, CentralCritic
from classical.marl.qmix import QMixer


def test_qmix_mixer_is_monotonic_in_every_agent_q():
    torch.manual_seed(0)
    mixer = QMixer(n_agents=3, state_dim=6)
    q = torch.randn(16, 3, requires_grad=True)
    mixer(q, torch.randn(16, 6)).sum().backward()
    assert torch.all(q.grad >= 0)


def test_comm_gradient_reaches_the_sender_and_messages_go_to_others():
    torch.manual_seed(0)
    for kind in ("continuous", "discrete"):
        channel = CommChannel(n_agents=3, obs_dim=4, msg_dim=2, kind=kind)
        net = AgentNetwork(3, 4, 5, comm=channel)
        net(torch.randn(8, 3, 4)).sum().backward()
        assert channel.sender.net[0].weight.grad.abs().sum() > 0
    channel = CommChannel(n_agents=3, obs_dim=1, msg_dim=1, kind="continuous")
    channel.last_messages = None
    received = channel(torch.randn(1, 3, 4))
    sent = channel.last_messages[0, :, 0]
    assert torch.allclose(received[0, 0], sent[[1, 2]]) and torch.allclose(received[0, 2], sent[[0, 1]])


def test_critics_shapes_and_attention_excludes_self():
    critic = CentralCritic(n_agents=3, obs_dim=4, n_actions=5)
    obs, acts = torch.randn(2, 3, 4), torch.randn(2, 3, 5)
    per_agent = acts.unsqueeze(1).expand(2, 3, 3, 5)
    assert torch.allclose(critic(obs, acts), critic(obs, per_agent))
    attn = AttentionCritic(n_agents=3, obs_dim=4, n_actions=5)
    assert attn(obs, acts).shape == (2, 3, 5)
    assert torch.all(attn.last_attention.diagonal(dim1=-2, dim2=-1) == 0)


def test_buffer_recent_is_in_order_and_clears():
    buf = MultiAgentReplayBuffer(capacity=4)
    z = np.zeros((2, 3), np.float32)
    for t in range(6):
        buf.add_step(z, np.zeros(2), np.array([t, t]), np.ones(2), z, np.zeros(2), False, t == 5)
    assert buf.recent(3)["actions"][:, 0].tolist() == [3, 4, 5]
    assert buf.recent(3)["truncated"].tolist() == [0, 0, 1]
    buf.clear()
    assert len(buf) == 0


def test_coordination_metrics_values():
    m = step_coordination(np.array([[0.0, 0.0], [0.1, 0.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]), 0.15)
    assert m["collisions"] == 1.0 and m["covered"] == 0.5 and np.isclose(m["landmark_distance"], 1.9)
    assert mutual_information([0, 0, 1, 1], [0, 1, 0, 1]) == 0.0
