"""Where the notebooks keep the numbers they measure, and the paradigm matrix of notebook 07.

Notebooks 01–06 record their measurements with :func:`record_measurements`
(full mode: ``notebooks/results/NAME.json``, committed; quick mode:
``runs/notebook_results/NAME.json``). Notebook 07 fills the paradigm matrix
from them: the matrix is data, ``notebooks/paradigm_matrix.yaml`` (one
template per cell), and :func:`render` is the one function that fills a template.

The notebooks put this folder on ``sys.path`` and ``import results_store``.

**Example**

>>> render("{a.rows[arm=x].v:.1f} and {a.n}", {"a": {"rows": [{"arm": "x", "v": 2.25}], "n": 3}})
'2.2 and 3'
>>> render("{a.missing:.1f}", {"a": {}})
'not measured'
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import yaml

NOT_MEASURED = "not measured"
RESULTS_DIR = Path("notebooks/results")
QUICK_RESULTS_DIR = Path("runs/notebook_results")
MATRIX_FILE = Path(__file__).with_name("paradigm_matrix.yaml")
COLUMNS = ("sample efficiency", "interpretability", "scalability", "robustness")
_TOKEN = re.compile(r"\[([^\]]*)\]|\.?([^.\[\]]+)")


def record_measurements(name: str, measurements: dict, quick: bool) -> Path:
    """Save a notebook's measured numbers (full mode: notebooks/results, quick: runs/notebook_results)."""
    folder = QUICK_RESULTS_DIR if quick else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**measurements, "mode": "quick" if quick else "full"}, indent=1, default=str))
    return path


def load_measurements(name: str) -> dict | None:
    """A notebook's recorded numbers: the full-mode file if there is one, else the quick-mode one."""
    for folder in (RESULTS_DIR, QUICK_RESULTS_DIR):
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    return None


def lookup(data: Any, path: str) -> Any:
    """The value at ``path`` (``a.b[field=value][0].c``) in nested dicts and lists, or None if absent."""
    value = data
    for selector, key in _TOKEN.findall(path):
        if isinstance(value, list) and key:  # a key after a list reads its first row
            value = value[0] if value else None
        if value is None:
            return None
        if key:
            value = value.get(key) if isinstance(value, dict) else None
        elif "=" in selector:
            field, wanted = selector.split("=", 1)
            value = [row for row in value if isinstance(row, dict) and str(row.get(field)) == wanted] \
                if isinstance(value, list) else None
        else:
            try:
                value = value[int(selector)] if isinstance(value, list) else None
            except (ValueError, IndexError):
                return None
    return value


def render(template: str | list[str], data: dict) -> str:
    """Fill a cell template from ``data``; ``not measured`` if any value is missing.

    A list of templates gives the measured ones joined with ``; ``.
    """
    if isinstance(template, list):
        cells = [c for c in (render(t, data) for t in template) if c != NOT_MEASURED]
        return "; ".join(cells) if cells else NOT_MEASURED
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is None:
            continue
        value = lookup(data, field)
        if value is None:
            return NOT_MEASURED
        parts.append(format(str(value) if conversion else value, spec or ""))
    return "".join(parts)


def paradigm_matrix(matrix_file: Path = MATRIX_FILE) -> list[dict]:
    """The course's paradigm matrix, filled from what notebooks 01–06 recorded."""
    rows = []
    for entry in yaml.safe_load(Path(matrix_file).read_text()):
        data = {name: load_measurements(name) for name in entry["sources"]}
        row = {"paradigm": entry["paradigm"]}
        row.update({column: render(entry.get(column, NOT_MEASURED), data) for column in COLUMNS})
        row["source"] = ", ".join(m.get("mode", "?") for m in data.values() if m) or "none"
        rows.append(row)
    return rows
