"""Experiment tracking: every metric row of a run as TensorBoard scalars (and W&B when asked).

:class:`~classical.common.rundir.RunDir` owns one :class:`Tracker`, so every trainer that
logs its rows through ``run_dir.log`` is tracked without code of its own. Each row
becomes one TensorBoard event holding a scalar per numeric column (``metrics/<column>``)
at step ``env_steps`` (the row number when the run has no ``env_steps`` column), plus

- ``train/env_steps_per_s``: ``env_steps / wall_seconds`` (or over the tracker's wall clock);
- ``train/lr/<group>`` and ``train/grad_norm/<group>`` for every optimiser the run
  :meth:`~Tracker.watch`-es (groups named by ``adam_per_group``: ``input_scaling``,
  ``weights``, ``output_scaling`` for circuits); the gradient norm is the one the last
  update used;
- whatever the scalar sources added with :meth:`~Tracker.add_source` return
  (``qrl train`` adds ``hardware/jobs``, ``hardware/shots``, ``hardware/qpu_seconds``
  for runs that submit circuits);
- ``eval/return_mean`` when the final evaluation is written.

One event per row, handed to TensorBoard's writer thread in batches (every
``batch_rows`` rows or ``batch_secs`` seconds: waking the thread for each event costs
more than writing it), keeps the cost a fraction of a millisecond a row; events reach
the disk every ``flush_secs`` and when the run closes. A resumed run reopens the same ``tb/`` folder
with ``purge_step`` set to the step after the checkpoint's last row, so TensorBoard
drops the events an interrupted run wrote past its checkpoint: the stream reads like
an uninterrupted run's.

**Example**

>>> import tempfile
>>> from pathlib import Path
>>> tracker = Tracker(Path(tempfile.mkdtemp()) / "tb")
>>> tracker.log_row({"episode": 1, "return": 9.0, "env_steps": 9, "wall_seconds": 0.5}, row_number=1)
>>> tracker.close()
>>> read_scalars(tracker.path)["metrics/return"]
[(9, 9.0)]
"""

from __future__ import annotations

import math
import numbers
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

TB_DIR = "tb"
STEP_COLUMN = "env_steps"


def numeric(value: Any) -> float | None:
    """``value`` as a float when it is a number (bools, numpy and 0-d torch scalars, numeric
    strings as read back from a CSV file), else None."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        return float(value)
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # numpy scalar
        return float(value)
    return None


class Tracker:
    """TensorBoard event files (and optionally a Weights & Biases run) for one run directory.

    Args:
        path: the event folder (``<run>/tb``).
        purge_step: on resume, the first step to write again (events at or past it are dropped).
        flush_secs: how often queued events reach the disk.
        wandb_project: also log to this W&B project (needs ``pip install wandb``).
        wandb_config: the run's configuration, shown by W&B.
        batch_rows: rows kept before they are handed to the writer thread.
        batch_secs: longest time a row is kept before that.
    """

    def __init__(self, path: str | Path, purge_step: int | None = None, flush_secs: int = 30,
                 wandb_project: str | None = None, wandb_config: Mapping[str, Any] | None = None,
                 batch_rows: int = 64, batch_secs: float = 2.0):
        from torch.utils.tensorboard import SummaryWriter

        self.path = Path(path)
        self.writer = SummaryWriter(str(self.path), purge_step=purge_step, flush_secs=flush_secs,
                                    max_queue=4 * batch_rows)  # a whole batch fits: put() never waits
        self._file_writer = self.writer._get_file_writer()
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._sources: list[Callable[[], Mapping[str, float]]] = []
        self._start = time.perf_counter()
        self._start_steps: float | None = None
        self._pending: list[tuple[Any, int]] = []
        self._batch_rows, self._batch_secs = batch_rows, batch_secs
        self._last_push = time.perf_counter()
        self.wandb = _wandb_run(wandb_project, self.path.parent, wandb_config) if wandb_project else None

    # -- what to record besides the rows -----------------------------------------
    def watch(self, owner: Any) -> None:
        """Record learning rates and gradient norms of every optimiser ``owner`` holds.

        ``owner`` is an optimiser, or an object (an agent, a learner) whose attributes
        include optimisers; several optimisers are told apart by their attribute names.
        """
        if isinstance(owner, torch.optim.Optimizer):
            self._optimizers["optimizer"] = owner
            return
        for name, value in vars(owner).items():
            if isinstance(value, torch.optim.Optimizer):
                self._optimizers[name] = value

    def add_source(self, source: Callable[[], Mapping[str, float]]) -> None:
        """Call ``source()`` at every row and record the scalars it returns (tag -> value)."""
        self._sources.append(source)

    # -- writing -----------------------------------------------------------------
    def log_row(self, row: Mapping[str, Any], row_number: int) -> None:
        """Record one metric row: its numeric columns and the extras, as one event."""
        values = {f"metrics/{k}": x for k, v in row.items() if (x := numeric(v)) is not None}
        steps = numeric(row.get(STEP_COLUMN))
        step = int(steps) if steps is not None else row_number
        if steps is not None:
            if self._start_steps is None:
                self._start_steps = steps
            wall = numeric(row.get("wall_seconds"))
            if wall:
                values["train/env_steps_per_s"] = steps / wall
            elif (elapsed := time.perf_counter() - self._start) > 0 and steps > self._start_steps:
                values["train/env_steps_per_s"] = (steps - self._start_steps) / elapsed
        values.update(self._optimizer_scalars())
        for source in self._sources:
            values.update({k: float(v) for k, v in source().items()})
        self.log_scalars(values, step)

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        """Write ``values`` (tag -> number) as one event at ``step``."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])
        self._pending.append((summary, step))
        if len(self._pending) >= self._batch_rows or time.perf_counter() - self._last_push >= self._batch_secs:
            self._push()
        if self.wandb is not None:
            self.wandb.log(dict(values), step=step)

    def _optimizer_scalars(self) -> dict[str, float]:
        out = {}
        several = len(self._optimizers) > 1
        for opt_name, opt in self._optimizers.items():
            for i, group in enumerate(opt.param_groups):
                name = group.get("name", str(i) if len(opt.param_groups) > 1 else "all")
                name = f"{opt_name}.{name}" if several else name
                out[f"train/lr/{name}"] = float(group["lr"])
                grads = [p.grad for p in group["params"] if p.grad is not None]
                if grads:
                    norm = math.sqrt(sum(float(g.detach().pow(2).sum()) for g in grads))
                    out[f"train/grad_norm/{name}"] = norm
        return out

    def _push(self) -> None:
        for summary, step in self._pending:
            self._file_writer.add_summary(summary, step)
        self._pending.clear()
        self._last_push = time.perf_counter()

    def flush(self) -> None:
        """Write every pending event to the disk."""
        self._push()
        self.writer.flush()

    def close(self) -> None:
        """Write what is pending and close the event files.

        When the folder is gone (a run folder deleted before an unclosed run's close at interpreter
        exit, e.g. a test's temporary folder), the pending rows have nowhere to go: they are dropped
        silently instead of failing in TensorBoard's writer thread, and nothing is recreated.
        """
        if not self.path.is_dir():
            self._pending.clear()
            try:
                self.writer.close()
            except OSError:  # an event written just before the folder went
                pass
        else:
            self._push()
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _wandb_run(project: str, run_path: Path, config: Mapping[str, Any] | None):
    """A W&B run for ``run_path`` that a resumed run continues (its id is kept in the folder)."""
    try:
        import wandb
    except ImportError:
        raise ValueError(f"--wandb-project {project}: Weights & Biases is not installed; "
                         "`pip install wandb`, or drop the flag (TensorBoard logs are in tb/).") from None
    id_file = run_path / "wandb_id.txt"
    run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
    id_file.write_text(run_id)
    return wandb.init(project=project, name=run_path.name, id=run_id, resume="allow", dir=str(run_path),
                      config=dict(config or {}))


def read_scalars(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the event files in ``path``: tag -> [(step, value), ...].

    Reads with TensorBoard's own ``EventAccumulator``, which applies purges as
    TensorBoard does.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
