"""Federated RL on Flower: CartPole clients with their own physics, FedAvg/FedProx,
client-level DP with an accountant, pairwise-masked secure aggregation, trimmed mean
and Krum against malicious clients, and compressed updates.

Files follow Flower's quickstart: ``task.py`` (environment, policy, local training),
``client_app.py``, ``server_app.py``; ``strategy.py`` decodes updates before Flower's
aggregation rules; ``privacy.py``, ``secure_aggregation.py``, ``compression.py`` hold
one mechanism each; ``simulation.py`` runs the apps on one machine; ``train.py`` is the
``qrl fed train`` entry.
"""
