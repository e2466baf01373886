"""Every preset under configs/ names a trainer and validates against its Config (no training here)."""

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
