"""Property-based fuzz of every preset: any mutation gets exit code 0 or 2 from `qrl train --check`.

Mutations: drop a key, rename a key, a wrong type, a negative, a huge value, an unknown key
in a model spec, a bad value for a model key, unknown ``env_kwargs``. ``--check`` validates the
config, environment, model specs, backend and output folder without training, so each
example costs milliseconds; the run is derandomised, so the suite sees the same examples
every time. The number of examples tried is in README ("Guarantees").
"""

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qrl.cli import app

PRESETS = sorted(Path("configs").glob("*.yaml"))
MODEL_KEYS = ("model", "actor", "critic", "world_model")
EXAMPLES_PER_PRESET = 12
runner = CliRunner()

WRONG_VALUES = st.sampled_from([None, "x", "", [], [1, "a"], {}, {"k": 1}, True, 0.5, -1, -2.5, 0,
                                10**12, 1e308, float("inf"), float("nan"), -10**12, "1e3", [[]]])
MODEL_BAD = st.sampled_from([("n_layers", -2), ("n_layers", 0), ("n_layers", "five"), ("n_qubits", -1),
                             ("hidden", 64), ("hidden", [-3]), ("hidden", ["a"]), ("type", "cnn"),
                             ("type", 7), ("entangler", "star"), ("encoding", "rq"), ("n_layerz", 3),
                             ("activation", "gelu"), ("rotations", "xq"), ("beta", "hot")])


@st.composite
def mutated(draw, preset: dict) -> dict:
    data = dict(preset)
    keys = sorted(k for k in data if k != "algo")
    kind = draw(st.sampled_from(["drop", "rename", "wrong", "model", "env_kwargs", "several"]))
    for _ in range(draw(st.integers(2, 4)) if kind == "several" else 1):
        op = draw(st.sampled_from(["drop", "rename", "wrong", "model", "env_kwargs"])) if kind == "several" else kind
        if op in ("drop", "rename", "wrong") and keys:
            key = draw(st.sampled_from(keys))
            if op == "drop":
                data.pop(key, None)
            elif op == "rename":
                data[key + draw(st.sampled_from(["_", "s", "x"]))] = data.pop(key, None)
            else:
                data[key] = draw(WRONG_VALUES)
        elif op == "model":
            slot = draw(st.sampled_from([k for k in MODEL_KEYS if isinstance(data.get(k), dict)] or ["model"]))
            key, value = draw(MODEL_BAD)
            spec = data.get(slot)
            data[slot] = {**(spec if isinstance(spec, dict) else {}), key: value}
        elif op == "env_kwargs":
            data["env_kwargs"] = draw(st.sampled_from([{"no_such_kwarg": 1}, "x", [1], {"max_episode_steps": -5}]))
    return data


OUTCOMES: dict[int, int] = {}


def _check(tmp_path, data) -> tuple[int, str]:
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["train", "--config", str(path), "--check", "--out", str(tmp_path / "run")])
    OUTCOMES[res.exit_code] = OUTCOMES.get(res.exit_code, 0) + 1
    return res.exit_code, res.output if res.exception is None or isinstance(res.exception, SystemExit) \
        else f"{type(res.exception).__name__}: {res.exception}"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_passes_the_check_unchanged(preset, tmp_path):
    code, text = _check(tmp_path, yaml.safe_load(preset.read_text()))
    assert code == 0, text


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_mutated_presets_get_exit_0_or_2_never_a_traceback(preset, tmp_path_factory):
    original = yaml.safe_load(preset.read_text())
    tmp_path = tmp_path_factory.mktemp(preset.stem)

    @settings(max_examples=EXAMPLES_PER_PRESET, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated(original))
    def run(data):
        code, text = _check(tmp_path, data)
        assert code in (0, 2), f"exit {code} for {data}:\n{text}"
        assert "Traceback" not in text
        if code == 2:
            assert text.startswith("error: ") or "Invalid value" in text, text

    run()
