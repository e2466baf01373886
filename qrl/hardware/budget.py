"""Shot, QPU-seconds and job budgets, checked before anything is submitted.

QPU time is estimated from circuit executions x shots with a simple model: a fixed
per-job overhead plus a per-shot cost (IBM's default repetition delay of 250 µs plus a
typical 4-qubit circuit of a few µs), times the mitigation multiplier. It is an
estimate for budgeting, not a quote; the ledger records the service's reported usage
when a job finishes and budgets use that where available.

**Example**

>>> budget = Budget.from_option({"shots": 1_000_000, "jobs": 10})
>>> budget.check({"jobs": 9, "shots": 0, "qpu_seconds": 0.0}, jobs=1, shots=10_000,
...              qpu_seconds=3.0)   # fits: nothing raised
"""

from __future__ import annotations

from dataclasses import dataclass

from qrl.hardware.retry import BudgetExceededError

JOB_OVERHEAD_SECONDS = 2.0
SECONDS_PER_SHOT = 2.6e-4


def estimate_qpu_seconds(executions: int, shots: int | None, cost_factor: float = 1.0) -> float:
    """Estimated QPU seconds for one job of ``executions`` circuits x ``shots`` shots."""
    if not shots:
        return 0.0
    return JOB_OVERHEAD_SECONDS + executions * shots * SECONDS_PER_SHOT * cost_factor


@dataclass(frozen=True)
class Budget:
    """Upper limits for one run (None = unlimited).

    Attributes:
        shots: Total shots (circuit executions x shots per execution).
        qpu_seconds: Total QPU seconds (reported usage, else the estimate).
        jobs: Total primitive jobs.
    """

    shots: int | None = None
    qpu_seconds: float | None = None
    jobs: int | None = None

    @classmethod
    def from_option(cls, value) -> Budget:
        """Builds a budget from ``None``, a ``Budget`` or a mapping with shots/qpu_seconds/jobs."""
        if value is None:
            return cls()
        if isinstance(value, Budget):
            return value
        if not isinstance(value, dict):
            raise ValueError(
                f"budget must be a mapping like {{shots: 1000000, qpu_seconds: 600, jobs: 50}}, "
                f"not {value!r}."
            )
        unknown = set(value) - {"shots", "qpu_seconds", "jobs"}
        if unknown:
            raise ValueError(
                f"budget has unknown keys {sorted(unknown)}; use shots, qpu_seconds and jobs."
            )
        for key, limit in value.items():
            if limit is not None and (not isinstance(limit, (int, float)) or limit < 0):
                raise ValueError(f"budget.{key} must be a non-negative number or null, not {limit!r}.")
        return cls(**value)

    @property
    def unlimited(self) -> bool:
        return self.shots is None and self.qpu_seconds is None and self.jobs is None

    def check(self, used: dict, *, jobs: int, shots: int, qpu_seconds: float) -> None:
        """Raises :class:`BudgetExceededError` if ``used`` plus the planned job exceeds a limit."""
        for name, limit, planned in (("jobs", self.jobs, jobs), ("shots", self.shots, shots),
                                     ("qpu_seconds", self.qpu_seconds, qpu_seconds)):
            if limit is None:
                continue
            if used[name] + planned > limit:
                raise BudgetExceededError(
                    f"budget exceeded: {name} used {used[name]:g} + next job {planned:g} "
                    f"> limit {limit:g}; raise budget.{name} in the backend entry or with "
                    f"--budget-{name.replace('_', '-')}, or lower shots."
                )
