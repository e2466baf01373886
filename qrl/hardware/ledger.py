"""A durable record of every primitive job a run submits (SQLite, WAL mode).

Each job is keyed deterministically by ``run_id`` + a digest of its PUBs (circuits,
observables, angle rows, shots, backend) + how many times that digest occurred before
in the process. A run that is killed and started again with the same command produces
the same keys, so finished jobs are read back from the ledger (results are stored in it)
and jobs still running on IBM Quantum are fetched by id instead of resubmitted.

**Example**

>>> import tempfile
>>> ledger = Ledger(Path(tempfile.mkdtemp()) / "jobs.sqlite")
>>> ledger.record_submitted("k1", run_id="r", step=0, backend="aer", job_id="j1",
...                         pub_shapes=[[2, 8]], shots=None, executions=16)
>>> ledger.record_done("k1", [np.zeros((2, 8))], qpu_seconds=None)
>>> ledger.lookup("k1")["status"]
'done'
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT UNIQUE NOT NULL,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    backend TEXT NOT NULL,
    mode TEXT,
    job_id TEXT,
    pub_shapes TEXT NOT NULL,
    shots INTEGER,
    executions INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    qpu_seconds REAL,
    qpu_seconds_estimate REAL,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    result BLOB
);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run_id);
"""

FIELDS = ("id", "job_key", "run_id", "step", "backend", "mode", "job_id", "pub_shapes", "shots",
          "executions", "status", "attempts", "qpu_seconds", "qpu_seconds_estimate", "error",
          "created", "updated")


def _pack(arrays: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, *arrays)
    return buffer.getvalue()


def _unpack(blob: bytes) -> list[np.ndarray]:
    with np.load(io.BytesIO(blob)) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class Ledger:
    """SQLite job ledger of one run directory (``<run>/jobs.sqlite``).

    Args:
        path: Database file; created with its parent directory if missing.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _row(self, row) -> dict | None:
        if row is None:
            return None
        record = dict(zip(FIELDS, row))
        record["pub_shapes"] = json.loads(record["pub_shapes"])
        return record

    def lookup(self, job_key: str) -> dict | None:
        """The record of ``job_key`` (without the result), or None."""
        cur = self._db.execute(f"SELECT {', '.join(FIELDS)} FROM jobs WHERE job_key=?", (job_key,))
        return self._row(cur.fetchone())

    def get(self, ident: str) -> dict | None:
        """A record by ledger row id, Runtime job id or job key."""
        cur = self._db.execute(
            f"SELECT {', '.join(FIELDS)} FROM jobs WHERE CAST(id AS TEXT)=? OR job_id=? "
            "OR job_key=? ORDER BY id LIMIT 1", (str(ident), str(ident), str(ident)))
        return self._row(cur.fetchone())

    def result(self, job_key: str) -> list[np.ndarray] | None:
        """Stored expectation values of a finished job, or None."""
        row = self._db.execute("SELECT result FROM jobs WHERE job_key=?", (job_key,)).fetchone()
        return _unpack(row[0]) if row and row[0] is not None else None

    def record_submitted(self, job_key: str, *, run_id: str, step: int, backend: str,
                         job_id: str | None, pub_shapes, shots: int | None, executions: int,
                         mode: str | None = None, qpu_seconds_estimate: float | None = None):
        """Records a submitted job (or a resubmission of the same key: attempts += 1)."""
        now = time.time()
        self._db.execute(
            "INSERT INTO jobs (job_key, run_id, step, backend, mode, job_id, pub_shapes, shots, "
            "executions, status, qpu_seconds_estimate, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?) "
            "ON CONFLICT(job_key) DO UPDATE SET job_id=excluded.job_id, status='submitted', "
            "attempts=attempts+1, error=NULL, updated=excluded.updated",
            (job_key, run_id, step, backend, mode, job_id, json.dumps(pub_shapes), shots,
             executions, qpu_seconds_estimate, now, now))

    def record_done(self, job_key: str, result: list[np.ndarray], qpu_seconds: float | None):
        self._db.execute(
            "UPDATE jobs SET status='done', result=?, qpu_seconds=?, updated=? WHERE job_key=?",
            (_pack(result), qpu_seconds, time.time(), job_key))

    def record_failed(self, job_key: str, error: str, status: str = "failed"):
        self._db.execute("UPDATE jobs SET status=?, error=?, updated=? WHERE job_key=?",
                         (status, error[:2000], time.time(), job_key))

    def jobs(self, run_id: str | None = None) -> list[dict]:
        """All records (of one run if given), oldest first."""
        query = f"SELECT {', '.join(FIELDS)} FROM jobs"
        args: tuple = ()
        if run_id is not None:
            query += " WHERE run_id=?"
            args = (run_id,)
        return [self._row(r) for r in self._db.execute(query + " ORDER BY id", args)]

    @staticmethod
    def scalar_source(path: str | Path, run_id: str):
        """A function returning ``hardware/jobs``, ``hardware/shots`` and ``hardware/qpu_seconds``
        of ``run_id`` so far (nothing while the ledger file does not exist), for TensorBoard."""
        path = Path(path)
        opened: list[Ledger] = []

        def scalars() -> dict:
            if not opened:
                if not path.exists():
                    return {}
                opened.append(Ledger(path))
            return {f"hardware/{k}": v for k, v in opened[0].totals(run_id).items()}

        return scalars

    def totals(self, run_id: str) -> dict:
        """Jobs, shots and QPU seconds a run has used (failed attempts included: they cost too)."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(executions * COALESCE(shots, 0) * attempts), 0), "
            "COALESCE(SUM(COALESCE(qpu_seconds, qpu_seconds_estimate, 0)), 0) "
            "FROM jobs WHERE run_id=?", (run_id,)).fetchone()
        return {"jobs": int(row[0]), "shots": int(row[1]), "qpu_seconds": float(row[2])}
