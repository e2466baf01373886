"""Quantum algorithms around RL: amplitude estimation of returns, QAOA angle-setting agents, quantum kernels."""
