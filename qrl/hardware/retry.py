"""Retries with exponential backoff for transient failures; permanent ones stop the run.

Transient: network errors, timeouts, HTTP 429/5xx from the service, and job failures
the service marks as retryable. Permanent: everything else (bad input, an
unauthorised account, a job the service rejected) — raised as :class:`JobFailedError`
with the job id and the service's message. A job that failed for a retryable reason is
submitted again; a network error while asking for a job's result asks again for the same
job (it is never paid for twice).

**Example**

>>> calls = []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise TransientJobError("503 service unavailable")
...     return "ok"
>>> call_with_retries(flaky, RetryPolicy(base_seconds=0), sleep=lambda s: None)
'ok'
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass


class HardwareError(RuntimeError):
    """Base of the errors a user of the hardware path sees (the CLI prints them in one line)."""


class TransientJobError(HardwareError):
    """A failure worth retrying (raised by fault injection and by job checks)."""


class JobFailedError(HardwareError):
    """A permanent failure: the message names the job id and the service's message."""


class BudgetExceededError(HardwareError):
    """Submitting the next job would exceed the run's shot, QPU-time or job budget."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how long to wait between them.

    Attributes:
        attempts: Total attempts including the first.
        base_seconds: Wait before the second attempt; doubles each time.
        cap_seconds: Longest single wait.
    """

    attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))


_RETRYABLE_TEXT = re.compile(
    r"\b(5\d\d|429)\b|timed? ?out|temporar|unavailable|connection|retry|try again|"
    r"internal error|too many requests", re.IGNORECASE)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is worth retrying (network, timeout, 429/5xx, retryable job failure)."""
    if isinstance(exc, TransientJobError):
        return True
    if isinstance(exc, (JobFailedError, BudgetExceededError, ValueError, TypeError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover - requests ships with qiskit-ibm-runtime
        pass
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError
    from qiskit_ibm_runtime.exceptions import (IBMNotAuthorizedError, RuntimeJobFailureError,
                                               RuntimeJobTimeoutError)

    if isinstance(exc, IBMNotAuthorizedError):
        return False
    if isinstance(exc, RuntimeJobTimeoutError):
        return True
    if isinstance(exc, RequestsApiError):
        status = getattr(exc, "status_code", -1)
        return status in (None, -1) or status == 429 or status >= 500
    if isinstance(exc, RuntimeJobFailureError):
        return bool(_RETRYABLE_TEXT.search(str(exc)))
    return False


def is_job_failure(exc: BaseException) -> bool:
    """True when the job itself failed (resubmit it), not the network while asking about it."""
    if isinstance(exc, TransientJobError):
        return True
    from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

    return isinstance(exc, RuntimeJobFailureError)


def call_with_retries(fn, policy: RetryPolicy = RetryPolicy(), sleep=time.sleep, on_retry=None,
                      retry_if=is_transient):
    """Calls ``fn()`` until it succeeds, retrying transient errors with exponential backoff.

    Args:
        fn: Zero-argument callable.
        policy: Attempts and backoff.
        sleep: Waiting function (tests pass a recorder).
        on_retry: Called as ``on_retry(attempt, exc, delay)`` before each wait.
        retry_if: Which exceptions to retry (default :func:`is_transient`).

    Raises:
        Exception: the last one, when it is permanent or the attempts are used up.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == policy.attempts or not retry_if(exc):
                raise
            delay = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
