"""Run directories: one folder per training run, the same for every agent.

A run directory holds

- ``config.yaml``: the resolved configuration the run used, with a ``provenance``
  entry (package version and git commit) saying which code produced it;
- ``metrics.csv``: one row per logged episode / update / round;
- ``checkpoint.pt``: model, optimiser and RNG states, written atomically;
- ``curve.png``: the learning curve drawn from ``metrics.csv``;
- ``eval.csv``: the final deterministic evaluation;
- ``tb/``: TensorBoard event files, one scalar per numeric metric column and more
  (:mod:`classical.common.tracking`); ``tensorboard --logdir runs/`` shows every run.

Every row logged is also shown on the run's progress display when one is started
(:meth:`RunDir.start_progress`; ``qrl train`` does), so every trainer gets both
without code of its own.

Resuming truncates ``metrics.csv`` to the rows that existed when the checkpoint
was written, so a resumed run writes exactly the rows an uninterrupted one would.
"""

from __future__ import annotations

import atexit
import csv
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
import yaml

from classical.common.progress import Progress
from classical.common.provenance import provenance
from classical.common.tracking import STEP_COLUMN, TB_DIR, Tracker
from classical.common.tracking import numeric as numeric_or_none

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
        tensorboard: also write every row to TensorBoard event files in ``tb/``.
        wandb_project: also log to this Weights & Biases project (needs ``wandb`` installed).

    **Example**

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.log({"episode": 1, "return": 10.0})
    >>> run.read_metrics()[0]["return"]
    '10.0'
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False,
                 metrics_name: str = "metrics.csv", tensorboard: bool = True,
                 wandb_project: str | None = None):
        self.path = Path(path)
        self.metrics_name = metrics_name
        self.path.mkdir(parents=True, exist_ok=True)
        self.resume = resume
        self.tensorboard = tensorboard
        self.wandb_project = wandb_project
        self._fields: list[str] | None = None
        self._tracker = None
        self._rows_tracked = 0
        self._watched: list[Any] = []
        self._sources: list[Any] = []
        self.progress = None
        self._progress_key: str | None = None
        self._returns: list[float] = []
        if not resume:
            for name in (metrics_name, CHECKPOINT, "eval.csv", "curve.png"):
                (self.path / name).unlink(missing_ok=True)
            shutil.rmtree(self.path / TB_DIR, ignore_errors=True)
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
        """Append one row to ``metrics.csv`` (the first row fixes the columns); track and show it."""
        tracker = self.tracker  # opened before the row is written: it counts the rows already there
        new = self._fields is None
        if new:
            self._fields = list(row)
        with open(self.metrics_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(dict(row))
        if tracker is not None:
            self._rows_tracked += 1
            tracker.log_row(row, self._rows_tracked)
        if self.progress is not None:
            self._advance_progress(row)

    # -- tracking and progress -------------------------------------------------
    @property
    def tracker(self) -> Tracker | None:
        """The TensorBoard (and W&B) tracker, opened at first use; ``None`` when tracking is off.

        Opened lazily so that a resumed run has already cut ``metrics.csv`` back to its
        checkpoint: the event stream is reopened with ``purge_step`` just past the last kept row.
        """
        if self._tracker is None and (self.tensorboard or self.wandb_project):
            rows = self.read_metrics()
            self._rows_tracked = len(rows)
            purge = None
            if self.resume:
                last = numeric_or_none(rows[-1].get(STEP_COLUMN)) if rows else None
                purge = int(last) + 1 if last is not None else len(rows) + 1
            config = self._read_config_file() if (self.path / "config.yaml").exists() else {}
            self._tracker = Tracker(self.path / TB_DIR, purge_step=purge,
                                    wandb_project=self.wandb_project, wandb_config=config)
            for owner in self._watched:
                self._tracker.watch(owner)
            for source in self._sources:
                self._tracker.add_source(source)
            atexit.register(self.close)
        return self._tracker

    def watch(self, owner: Any) -> None:
        """Track the learning rates and gradient norms of ``owner``'s optimisers (an agent, or one optimiser)."""
        self._watched.append(owner)
        if self._tracker is not None:
            self._tracker.watch(owner)

    def add_scalar_source(self, source) -> None:
        """Record the scalars ``source()`` returns (tag -> number) with every row."""
        self._sources.append(source)
        if self._tracker is not None:
            self._tracker.add_source(source)

    def start_progress(self, total: float | None, key: str | None = None, unit: str = "ep",
                       desc: str = "", **kwargs) -> Progress:
        """Show every logged row on a :class:`~classical.common.progress.Progress` display.

        ``key`` is the column whose value is the position (``episode``, ``env_steps``,
        ``round``); without it each row counts one ``unit``. The display shows the mean
        of the last 20 ``return`` values and the env steps per second when the rows have them.
        """
        rows = self.read_metrics() if self.resume else []
        initial = 0.0
        if rows:
            initial = numeric_or_none(rows[-1].get(key)) if key else len(rows)
        self._progress_key = key
        self.progress = Progress(total, unit=unit, desc=desc, initial=initial or 0, **kwargs)
        return self.progress

    def own_progress(self, total: float | None, key: str | None, unit: str, desc: str) -> bool:
        """Start a progress display unless one is running (``qrl train`` starts its own); return
        whether this call started it (the caller then closes ``run.progress`` when it is done)."""
        if self.progress is not None:
            return False
        self.start_progress(total, key, unit, desc)
        return True

    def close_progress(self) -> None:
        """Print the last progress line and stop showing rows."""
        if self.progress is not None:
            self.progress.close()
            self.progress = None

    def _advance_progress(self, row: Mapping[str, Any]) -> None:
        fields = {}
        ret = numeric_or_none(row.get("return"))
        if ret is not None:
            self._returns = (self._returns + [ret])[-20:]
            fields["mean_return"] = sum(self._returns) / len(self._returns)
        steps = numeric_or_none(row.get(STEP_COLUMN))
        wall = numeric_or_none(row.get("wall_seconds"))
        if steps is not None:
            fields["env_steps"] = int(steps)
            if wall:
                fields["steps_per_s"] = round(steps / wall)
        key = self._progress_key
        position = numeric_or_none(row.get(key)) if key else None
        if position is not None:
            self.progress.update_to(position, **fields)
        else:
            self.progress.update(1, **fields)

    def close(self) -> None:
        """Flush and close the event files and the progress display (safe to call twice)."""
        self.close_progress()
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
            atexit.unregister(self.close)

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
        returns = [x for r in rows if (x := numeric_or_none(r.get("return"))) is not None]
        if returns and name == "eval.csv" and (tracker := self.tracker) is not None:
            steps = numeric_or_none(self.read_metrics()[-1].get(STEP_COLUMN)) if self._rows_tracked else None
            tracker.log_scalars({"eval/return_mean": sum(returns) / len(returns)},
                                int(steps) if steps is not None else self._rows_tracked)
            tracker.flush()
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
