"""Keeping the IBM Quantum token out of everything qrl prints, logs or stores.

The token reaches qrl only through ``QISKIT_IBM_TOKEN`` (or a saved account, which qrl
never reads). :func:`redact` replaces its value in any text; :func:`install` makes every
log record and every exception that passes through the CLI go through it, so a failing
account shows ``***`` where the token would have been.

**Example**

>>> import os
>>> os.environ["QISKIT_IBM_TOKEN"] = "abc123secret"
>>> redact("token=abc123secret rejected")
'token=*** rejected'
>>> del os.environ["QISKIT_IBM_TOKEN"]
"""

from __future__ import annotations

import logging
import os

TOKEN_VARIABLES = ("QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "QISKIT_IBM_API_KEY")
MASK = "***"
_MIN_SECRET = 6  # shorter values would mask ordinary words


def secrets() -> list[str]:
    """The secret values currently in the environment (longest first)."""
    values = {os.environ.get(v, "").strip() for v in TOKEN_VARIABLES}
    return sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for value in secrets():
        text = text.replace(value, MASK)
    return text


def redact_exception(err: BaseException) -> BaseException:
    """Redact ``err``'s arguments and those of its cause/context chain in place; return ``err``."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        except (AttributeError, TypeError):  # exceptions with read-only args keep them
            pass
        for name in ("message", "msg", "text"):
            value = getattr(current, name, None)
            if isinstance(value, str):
                try:
                    setattr(current, name, redact(value))
                except (AttributeError, TypeError):
                    pass
        current = current.__cause__ or current.__context__
    return err


class RedactingRecord(logging.LogRecord):
    """A log record whose message (after %-formatting) never contains a secret."""

    def getMessage(self) -> str:  # noqa: N802  (logging's name)
        message = redact(super().getMessage())
        if self.exc_info and self.exc_info[1] is not None:
            redact_exception(self.exc_info[1])
            self.exc_text = None
        return message


def install() -> None:
    """Route every log record through :class:`RedactingRecord` (idempotent)."""
    if logging.getLogRecordFactory() is not RedactingRecord:
        logging.setLogRecordFactory(RedactingRecord)
