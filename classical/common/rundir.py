"""Run directories: one folder per training run, the same for every agent.

A run directory holds

- ``config.yaml``: the resolved configuration the run used, with a ``provenance``
  entry (package version and git commit) saying which code produced it;
- ``metrics.csv``: one row per logged episode / update / round;
- ``checkpoint.pt``: model, optimiser and RNG states, written atomically;
- ``curve.png``: the learning curve drawn from ``metrics.csv``;
- ``eval.csv``: the final deterministic evaluation.

Resuming truncates ``metrics.csv`` to the rows that existed when the checkpoint
was written, so a resumed run writes exactly the rows an uninterrupted one would.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
import yaml

from classical.common.provenance import provenance

CHECKPOINT = "checkpoint.pt"
PROVENANCE_KEY = "provenance"


def strip_provenance(config: Mapping[str, Any]) -> dict:
    """``config`` without the ``provenance`` entry a run folder's ``config.yaml`` carries.

    A run's ``config.yaml`` can then be validated as a preset again.
    """
    return {k: v for k, v in config.items() if k != PROVENANCE_KEY}


class RunDir:
    """A training run's folder.

    Args:
        path: the folder; created if missing.
        resume: keep existing metrics and checkpoint instead of starting afresh.
        metrics_name: the metrics file (``metrics.csv``; federated runs use ``rounds.csv``).

    **Example**

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.log({"episode": 1, "return": 10.0})
    >>> run.read_metrics()[0]["return"]
    '10.0'
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False,
                 metrics_name: str = "metrics.csv"):
        self.path = Path(path)
        self.metrics_name = metrics_name
        self.path.mkdir(parents=True, exist_ok=True)
        self.resume = resume
        self._fields: list[str] | None = None
        if not resume:
            for name in (metrics_name, CHECKPOINT, "eval.csv", "curve.png"):
                (self.path / name).unlink(missing_ok=True)
        elif self.metrics_path.exists():
            with open(self.metrics_path, newline="") as f:
                header = next(csv.reader(f), None)
            self._fields = header

    # -- files ---------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.path / self.metrics_name

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Write the resolved configuration as ``config.yaml``, with its ``provenance`` entry."""
        data = {k: v for k, v in config.items() if k != PROVENANCE_KEY}
        data[PROVENANCE_KEY] = provenance()
        _atomic_write_text(self.path / "config.yaml", yaml.safe_dump(data, sort_keys=False))

    def read_config(self) -> dict:
        """The configuration in ``config.yaml`` without its ``provenance`` entry (ready to validate)."""
        return strip_provenance(self._read_config_file())

    def read_provenance(self) -> dict:
        """The ``provenance`` entry of ``config.yaml``: ``qrl_version`` and ``git_commit``."""
        return dict(self._read_config_file().get(PROVENANCE_KEY) or {})

    def _read_config_file(self) -> dict:
        with open(self.path / "config.yaml") as f:
            return yaml.safe_load(f) or {}

    # -- metrics -------------------------------------------------------------
    def log(self, row: Mapping[str, Any]) -> None:
        """Append one row to ``metrics.csv``; the first row fixes the columns."""
        new = self._fields is None
        if new:
            self._fields = list(row)
        with open(self.metrics_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(dict(row))

    def read_metrics(self) -> list[dict[str, str]]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, newline="") as f:
            return list(csv.DictReader(f))

    def n_metric_rows(self) -> int:
        return len(self.read_metrics())

    def truncate_metrics(self, n_rows: int) -> None:
        """Keep the header and the first ``n_rows`` rows (used on resume)."""
        rows = self.read_metrics()[:n_rows]
        if self._fields is None:
            return
        tmp = self.metrics_path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.metrics_path)

    # -- checkpoints ---------------------------------------------------------
    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Write ``checkpoint.pt`` atomically, remembering how many metric rows it covers."""
        state = dict(state)
        state["_metric_rows"] = self.n_metric_rows()
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, with ``metrics.csv`` cut back to match it; ``None`` if there is none."""
        if not self.checkpoint_path.exists():
            return None
        state = torch.load(self.checkpoint_path, weights_only=False)
        self.truncate_metrics(state.get("_metric_rows", 0))
        return state

    # -- evaluation and plots ------------------------------------------------
    def write_eval(self, rows: Iterable[Mapping[str, Any]], name: str = "eval.csv") -> Path:
        """Write evaluation rows (episode, return, task-specific columns)."""
        rows = [dict(r) for r in rows]
        path = self.path / name
        fields: list[str] = []
        for r in rows:
            fields += [k for k in r if k not in fields]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def plot_curve(self, x: str = "episode", y: str = "return", window: int = 20,
                   title: str | None = None) -> Path:
        """Draw ``curve.png``: the raw metric and its moving average."""
        from classical.common.plotting import learning_curve

        rows = self.read_metrics()
        xs = [float(r[x]) for r in rows if r.get(x) not in (None, "")]
        ys = [float(r[y]) for r in rows if r.get(y) not in (None, "")]
        out = self.path / "curve.png"
        learning_curve(xs, ys, out, xlabel=x, ylabel=y, window=window,
                       title=title or self.path.name)
        return out


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
