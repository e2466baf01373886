"""The README's "Load a trained run and act" example runs as written, in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from qrl.cli import app

ROOT = Path(__file__).resolve().parents[1]


def readme_example(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_load_a_trained_run_and_act_example(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: vqc, n_layers: 1}\n"
                   "lr: {default: 0.05}\nbatch_episodes: 2\nepisodes: 2\neval_episodes: 0\n")
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "runs" / "demo"),
                                   "--no-tensorboard"])
    assert res.exit_code == 0, res.output
    code = readme_example("Load a trained run and act")
    assert 'from_run("runs/demo")' in code or 'load("runs/demo")' in code
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ret = float(re.fullmatch(r"return (\S+)\n", out.stdout).group(1))
    assert 8.0 <= ret <= 500.0  # CartPole episodes last at least 8 steps, at most 500
