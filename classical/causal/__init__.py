"""Causal RL: causal graphs, discovery (PC, NOTEARS, PCMCI), SCMs, causal world models and agents.

Importing this package is cheap: numpy, scipy and networkx only (torch-based
parts live in :mod:`classical.causal.world_model`, :mod:`~classical.causal.agent`
and :mod:`~classical.causal.train`, imported on demand).
"""

from classical.causal.graph import CausalGraph, cpdag_from_dag
from classical.causal.metrics import edge_scores, fdr, shd, tpr
from classical.causal.notears import notears
from classical.causal.pc import pc
from classical.causal.pcmci import pcmci

__all__ = ["CausalGraph", "cpdag_from_dag", "edge_scores", "fdr", "notears", "pc", "pcmci",
           "shd", "tpr"]
