"""Every preset under configs/ names a trainer and validates against its Config (no training here)."""

import re
from pathlib import Path

import pytest

from classical.common.config import load_yaml, resolve_algo, validate

PRESETS = sorted(Path("configs").glob("*.yaml"))


def test_there_are_presets():
    assert len(PRESETS) >= 30


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_validates_against_its_trainer_config(path):
    data = dict(load_yaml(path))
    data.pop("solved", None)   # read by `qrl seeds` (qrl.experiments.spec.SolvedCriterion), not by the trainer
    module = resolve_algo(data.pop("algo"))
    cfg = validate(module.Config, data, str(path))
    assert cfg.model_dump(exclude_unset=True) == data   # every key is used as written, nothing coerced away


def _readme_fresh_seed_rows() -> dict[str, str]:
    """Preset name -> row of README's fresh-seed table (the table whose header starts '| preset | fresh seeds |')."""
    lines = Path("README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset | fresh seeds |"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows[re.search(r"`([^`]+)`", line.split("|")[1]).group(1)] = line
    return rows


def test_every_preset_that_claims_to_solve_its_task_has_a_measured_readme_row():
    # A `solved` criterion is a claim that the preset solves its task; `qrl seeds` checks it on fresh seeds and
    # the README publishes the measured rate (issue 18). A preset whose training merely stops at a threshold
    # (`solved_return`) without that key is listed under the table as not yet measured.
    rows = _readme_fresh_seed_rows()
    text = Path("README.md").read_text()
    after_table = text[text.index(list(rows.values())[-1]):][:800]   # the note under the table
    for path in PRESETS:
        data = load_yaml(path)
        if "solved" in data:
            assert path.stem in rows, f"{path.name} has a `solved` criterion but no row in README's fresh-seed table"
            assert re.search(r"\b\d+ of \d+\b", rows[path.stem]), rows[path.stem]
            assert "not measured" not in rows[path.stem], rows[path.stem]
        elif "solved_return" in data:
            assert f"`{path.stem}`" in after_table, f"{path.name} stops at a threshold: say under README's table that it is not measured"
    assert set(rows) <= {p.stem for p in PRESETS}, set(rows) - {p.stem for p in PRESETS}
