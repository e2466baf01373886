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

A folder is never reused by accident: :func:`check_out_path` refuses a non-empty
folder unless the run is resumed or overwritten, :func:`prepare_run_folder`
removes every artefact of an overwritten run (or none), and :func:`check_resume`
refuses to resume under a config that differs from the checkpoint's in anything
but the budget. Checkpoints hold tensors, plain containers and numbers only and
are loaded with ``torch.load(weights_only=True)``, so opening a run folder someone
sent you never executes their code.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
import yaml

from classical.common.progress import Progress
from classical.common.config import ConfigError
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


#: Config keys that set a training budget; only these may change on resume (with an explicit flag).
BUDGET_KEYS = ("episodes", "total_env_steps")
#: Files whose presence marks a folder as a qrl run folder.
RUN_MARKERS = ("config.yaml", CHECKPOINT, "metrics.csv", "rounds.csv", "eval.csv")
#: Written by the caller around a run (qrl compare's per-seed log); kept and appended to.
CALLER_FILES = ("train.log",)


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """A SHA-256 of the resolved config (algo and every field), independent of key order."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_NDARRAY = "__ndarray__"


def _encode(obj: Any) -> Any:
    """Make ``obj`` loadable with ``weights_only=True``: NumPy arrays become tagged tensors,
    NumPy scalars Python numbers; containers are walked."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("a checkpoint cannot hold an object array; store numbers or tensors")
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(obj).astype(_TORCH_SAFE.get(obj.dtype.str, obj.dtype))),
                "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if _NDARRAY in obj and set(obj) == {_NDARRAY, "dtype"}:
            return obj[_NDARRAY].numpy().astype(np.dtype(obj["dtype"]))
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_decode(v) for v in obj)
    return obj


# torch has no tensors of these NumPy dtypes; they travel as int64 and are cast back on load.
_TORCH_SAFE = {"<u4": np.int64, "<u2": np.int32, "|b1": np.bool_}


def save_checkpoint_file(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write ``state`` atomically in a form :func:`load_checkpoint_file` reads with ``weights_only=True``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(_encode(dict(state)), tmp)
    os.replace(tmp, path)


def load_checkpoint_file(path: str | os.PathLike) -> dict:
    """``torch.load(path, weights_only=True)`` with one clear error for a bad file.

    Raises:
        ConfigError: the file is missing, empty, truncated, not a checkpoint, or holds
            pickled objects other than tensors, containers and numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint file.")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: the checkpoint is empty (0 bytes); the run that wrote it was cut off. "
                          "Start the run again with --overwrite.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its directory sits at the end
        if head.startswith(b"PK"):
            raise ConfigError(f"{path}: the checkpoint is truncated (its end is missing: the run that wrote it "
                              "was cut off, or the copy is incomplete). Copy it again, or start the run again "
                              "with --overwrite.")
        raise ConfigError(f"{path}: not a qrl checkpoint (not a file torch.save writes). Point to the "
                          "checkpoint.pt of a run folder, or start the run again with --overwrite.")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, OSError, ValueError...
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise ConfigError(f"{path}: the checkpoint holds pickled Python objects, which are never loaded "
                              "(they could run code). Use a checkpoint qrl wrote, or start the run again with "
                              "--overwrite.") from None
        raise ConfigError(f"{path}: the checkpoint is damaged ({type(err).__name__} while reading it). Copy it "
                          "again, or start the run again with --overwrite.") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a qrl checkpoint (it holds a {type(state).__name__}, not a mapping).")
    return _decode(state)


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name not in CALLER_FILES)


def check_out_path(out: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> None:
    """Check that ``out`` can hold a run, without changing anything on disk.

    Raises:
        ConfigError: ``out`` is a file, lies under a file, is not writable, holds a run and
            neither ``resume`` nor ``overwrite`` is given, or holds files of something else.
    """
    out = Path(out)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == out else f"lies under {parent}, which is a file"
            raise ConfigError(f"--out {out}: {what}; give a folder path.")
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {existing} is not writable; choose a folder you can write to.")
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise ConfigError(f"--out {out}: nothing to resume (no {CHECKPOINT}); run without --resume "
                              "(add --overwrite to replace what is there).")
        return
    if not out.exists():
        return
    entries = _listing(out)
    if not entries:
        return
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    if not overwrite:
        raise ConfigError(f"--out {out} already holds a run ({shown}). Add --resume to continue it, "
                          "--overwrite to replace it, or choose another --out.")
    if not any((out / m).exists() for m in RUN_MARKERS):
        raise ConfigError(f"--out {out} holds files that are not a qrl run ({shown}); --overwrite only "
                          "replaces run folders. Choose an empty or new folder.")


def prepare_run_folder(out: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> None:
    """Create ``out``; with ``overwrite`` remove every artefact of the run in it, all or none.

    The old files are first moved aside into one hidden folder (renames within a folder);
    if any move fails they are moved back and nothing changes. Only then are they deleted.
    """
    out = Path(out)
    check_out_path(out, resume=resume, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if resume or not overwrite:
        return
    entries = [out / name for name in _listing(out)]
    if not entries:
        return
    trash = Path(tempfile.mkdtemp(prefix=".qrl-overwritten-", dir=out))
    moved: list[Path] = []
    try:
        for p in entries:
            os.rename(p, trash / p.name)
            moved.append(p)
    except OSError as err:
        for p in reversed(moved):
            os.rename(trash / p.name, p)
        trash.rmdir()
        raise ConfigError(f"--out {out}: cannot remove the old run ({err.strerror} on {err.filename}); "
                          "nothing was changed.") from None
    shutil.rmtree(trash, ignore_errors=True)


def read_checkpoint_config(out: str | os.PathLike) -> dict | None:
    """The resolved config a run folder's checkpoint was written under (``config.yaml`` for old runs)."""
    out = Path(out)
    state = load_checkpoint_file(out / CHECKPOINT)
    if isinstance(state.get("_config"), dict):
        return state["_config"]
    path = out / "config.yaml"
    if path.is_file():
        data = yaml.safe_load(path.read_text())
        return strip_provenance(data) if isinstance(data, dict) else None
    return None


def check_resume(out: str | os.PathLike, old: Mapping[str, Any] | None, new: Mapping[str, Any],
                 extend_budget: bool = False, allowed: Iterable[str] = ()) -> dict[str, tuple[Any, Any]]:
    """Refuse to resume under a different config; return the keys that change (budget and ``allowed``).

    Args:
        allowed: keys the caller was explicitly told to change (``qrl train --resume --backend X``
            moves a run to another backend, e.g. to fine-tune on hardware).

    Raises:
        ConfigError: listing every differing key (budget keys only without ``extend_budget``).
    """
    if old is None:
        return {}
    keys = [k for k in dict.fromkeys([*old, *new]) if _plain(old.get(k)) != _plain(new.get(k))]
    allowed = set(allowed)
    budget = [k for k in keys if k in BUDGET_KEYS]
    moved = [k for k in keys if k in allowed and k not in BUDGET_KEYS]
    other = [k for k in keys if k not in BUDGET_KEYS and k not in allowed]

    def show(ks):
        return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in ks)

    if other:
        raise ConfigError(f"--resume {out}: the config differs from the checkpoint's in {show(other)}. "
                          "Resume with the run's own config (its config.yaml), or start a new run in another "
                          "--out (or --overwrite this one).")
    if budget and not extend_budget:
        raise ConfigError(f"--resume {out}: the budget differs from the checkpoint's ({show(budget)}). "
                          "Add --extend-budget to continue with the new budget.")
    return {k: (old.get(k), new.get(k)) for k in budget + moved}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class RunDir:
    """A training run's folder.

    Args:
        path: the folder; created if missing.
        resume: keep existing metrics and checkpoint instead of starting afresh.
        metrics_name: the metrics file (``metrics.csv``; federated runs use ``rounds.csv``).
        tensorboard: also write every row to TensorBoard event files in ``tb/``.
        wandb_project: also log to this Weights & Biases project (needs ``wandb`` installed).
        config: the resolved config; stored in every checkpoint with its fingerprint so a
            resume under another config can be refused.
        backend: where the run's circuits execute, as its caller resolved it; trainers hand it
            to ``build_model(..., backend=...)`` in place of the config's backend name. Opaque
            here: ``qrl.training`` passes a ``qrl.backends.Backend`` (backends file, job ledger,
            run id). ``None``: the config's ``backend`` name.

    **Example**

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.log({"episode": 1, "return": 10.0})
    >>> run.read_metrics()[0]["return"]
    '10.0'
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False,
                 metrics_name: str = "metrics.csv", tensorboard: bool = True,
                 wandb_project: str | None = None, config: Mapping[str, Any] | None = None,
                 backend: Any = None):
        self.path = Path(path)
        self.backend = backend
        self.config = _plain(dict(config)) if config is not None else None
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

    def write_config(self, config: Mapping[str, Any], notes: Iterable[str] = ()) -> None:
        """Write the resolved configuration as ``config.yaml``, with its ``provenance`` entry.

        ``notes`` become comment lines at the top (e.g. a budget extended on resume); notes of
        an earlier ``config.yaml`` in the folder are kept above them.
        """
        path = self.path / "config.yaml"
        data = _plain({k: v for k, v in config.items() if k != PROVENANCE_KEY})
        data[PROVENANCE_KEY] = provenance()
        old = [line for line in path.read_text().splitlines() if line.startswith("# ")] \
            if self.resume and path.is_file() else []
        header = "".join(f"{line}\n" for line in old) + "".join(f"# {n}\n" for n in notes)
        _atomic_write_text(path, header + yaml.safe_dump(data, sort_keys=False))

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
        ret = numeric_or_none(row.get("return", row.get("mean_return")))  # federated rows: mean_return
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
        if self.config is not None:
            state["_config"] = self.config
            state["_config_fingerprint"] = config_fingerprint(self.config)
        save_checkpoint_file(self.checkpoint_path, state)

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, with ``metrics.csv`` cut back to match it; ``None`` if there is none."""
        if not self.checkpoint_path.exists():
            return None
        state = load_checkpoint_file(self.checkpoint_path)
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
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
        return path

    def write_results(self, results: Mapping[str, Any], name: str = "results.json") -> Path:
        """Write an experiment's results (numbers, strings, lists, mappings) as JSON."""
        path = self.path / name
        _atomic_write_text(path, json.dumps(_plain(dict(results)), indent=2) + "\n")
        return path

    def plot_curve(self, x: str = "episode", y: str = "return", window: int = 20,
                   title: str | None = None) -> Path:
        """Draw ``curve.png``: the raw metric and its moving average."""
        from classical.common.plotting import learning_curve

        rows = self.read_metrics()
        xs = [float(r[x]) for r in rows if r.get(x) not in (None, "")]
        ys = [float(r[y]) for r in rows if r.get(y) not in (None, "")]
        out = self.path / "curve.png"
        tmp = self.path / "curve.tmp.png"
        learning_curve(xs, ys, tmp, xlabel=x, ylabel=y, window=window,
                       title=title or self.path.name)
        os.replace(tmp, out)
        return out


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
