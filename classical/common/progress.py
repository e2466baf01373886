"""One progress display for every long command: a live bar on a terminal, one line per update in logs.

On a terminal (the stream is a TTY) :class:`Progress` draws a tqdm bar that redraws in
place. Anywhere else (a log file, CI, a pipe) it writes one plain line per update,
at most one every ``min_interval`` seconds, and always the last one — never the
carriage-return fragments a bar leaves in a log.

**Example**

>>> import io
>>> out = io.StringIO()
>>> bar = Progress(total=4, unit="ep", desc="train", stream=out, min_interval=0)
>>> bar.update(2, mean_return=10.0)
>>> bar.close()
>>> out.getvalue().splitlines()[0].split(" elapsed")[0]
'train: 2/4 ep (50%) mean_return=10'
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Mapping, TextIO


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


class Progress:
    """A progress display over ``total`` units.

    Args:
        total: the budget (episodes, env steps, rounds, jobs); ``None`` when unknown.
        unit: what is counted (``ep``, ``step``, ``round``).
        desc: a short label printed first.
        initial: units already done (a resumed run).
        stream: where to write (``sys.stderr`` by default).
        interactive: draw a live bar; default: whether ``stream`` is a terminal.
        min_interval: seconds between two lines in non-interactive output.
    """

    def __init__(self, total: float | None, unit: str = "it", desc: str = "", initial: float = 0,
                 stream: TextIO | None = None, interactive: bool | None = None,
                 min_interval: float = 1.0):
        self.total = total
        self.unit = unit
        self.desc = desc
        self.n = initial
        self.fields: dict[str, Any] = {}
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.min_interval = min_interval
        self._start = time.perf_counter()
        self._last_line = -float("inf")
        self._printed = None
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._bar = None
        if self.interactive:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc or None,
                             file=self.stream, dynamic_ncols=True)

    # -- updates ------------------------------------------------------------------
    def update(self, advance: float = 1, **fields: Any) -> None:
        """Advance by ``advance`` units and set the fields shown after the count."""
        self.update_to(self.n + advance, **fields)

    def update_to(self, n: float, **fields: Any) -> None:
        """Set the position to ``n`` units and the fields shown after the count."""
        with self._lock:
            advance, self.n = n - self.n, n
            self.fields.update(fields)
            self._show(advance)

    def set_fields(self, **fields: Any) -> None:
        """Change the fields only (e.g. jobs and shots while an episode runs)."""
        with self._lock:
            self.fields.update(fields)
            self._show(0)

    def add_fields(self, **fields: Any) -> None:
        """Change fields without drawing; they show with the next update."""
        with self._lock:
            self.fields.update(fields)

    def _show(self, advance: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: _fmt(v) for k, v in self.fields.items()}, refresh=False)
            self._bar.update(advance) if advance else self._bar.refresh()
            return
        now = time.perf_counter()
        if now - self._last_line >= self.min_interval:
            self._write_line(now)

    def _write_line(self, now: float) -> None:
        line = self.line(now)
        if line == self._printed:
            return
        self.stream.write(line + "\n")
        self.stream.flush()
        self._printed = line
        self._last_line = now

    def line(self, now: float | None = None) -> str:
        """The current state as one line of text."""
        elapsed = (now or time.perf_counter()) - self._start
        count = f"{_fmt(self.n)}/{_fmt(self.total)} {self.unit}" if self.total else f"{_fmt(self.n)} {self.unit}"
        if self.total:
            count += f" ({100 * self.n / self.total:.0f}%)"
        fields = " ".join(f"{k}={_fmt(v)}" for k, v in self.fields.items())
        head = f"{self.desc}: " if self.desc else ""
        return f"{head}{count}{' ' + fields if fields else ''} elapsed {elapsed:.0f}s"

    # -- polling (hardware jobs run long inside one update) -------------------------
    def poll(self, fields: Callable[[], Mapping[str, Any]], every: float = 2.0) -> None:
        """Refresh the fields from ``fields()`` every ``every`` seconds until :meth:`close`."""

        def loop():
            while not self._stop.wait(every):
                try:
                    values = fields()
                except Exception:  # noqa: BLE001 - a failed poll must never stop the work
                    continue
                if any(self.fields.get(k) != v for k, v in values.items()):
                    self.set_fields(**values)

        self._poller = threading.Thread(target=loop, name="qrl-progress", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Stop polling; print the final line (non-interactive) or close the bar."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        with self._lock:
            if self._bar is not None:
                self._bar.set_postfix({k: _fmt(v) for k, v in self.fields.items()}, refresh=False)
                self._bar.close()
                self._bar = None
            elif self._printed is None or self._printed != self.line(self._last_line):
                self._write_line(time.perf_counter())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
