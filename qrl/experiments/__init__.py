"""Experiments over seeds: ``qrl compare`` (arms × seeds at equal environment steps) and ``qrl seeds``.

- :mod:`~qrl.experiments.spec`: the experiment file format and how arms resolve to training configs;
- :mod:`~qrl.experiments.runner`: training one (arm, seed) or (preset, seed) job, and the
  process/Ray executor that skips finished seeds;
- :mod:`~qrl.experiments.report`: statistics, ``summary.csv``, ``comparisons.csv``, figures;
- :mod:`~qrl.experiments.compare` and :mod:`~qrl.experiments.seeds`: the two commands;
- :mod:`~qrl.experiments.tune`: `qrl tune`, Optuna over tuning seeds judged like `qrl seeds`.

**Example**

>>> from qrl.experiments import load_experiment, run_experiment   # doctest: +SKIP
>>> summary, comparisons = run_experiment(load_experiment("experiments/cartpole_reinforce.yaml"))   # doctest: +SKIP
"""

from qrl.experiments.compare import compare, run_experiment
from qrl.experiments.report import load_results, markdown_table, report, verdict
from qrl.experiments.runner import execute, play_fixed_policy, train_preset
from qrl.experiments.spec import Experiment, load_experiment, resolve_arms

__all__ = ["Experiment", "compare", "execute", "load_experiment", "load_results", "markdown_table",
           "play_fixed_policy", "report", "resolve_arms", "run_experiment", "train_preset", "verdict"]
