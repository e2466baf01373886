"""The docs site builds from nothing in strict mode (a broken reference fails the build)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_strict_build(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install 'qrl-lab[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="pip install 'qrl-lab[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "classical" / "index.html").read_text()
    assert "classical.common.rundir.RunDir" in api and "&gt;&gt;&gt;" in api  # docstrings and examples
    assert "<blockquote" not in api  # doctest lines are code, not Markdown quotes
    vocabulary = (tmp_path / "site" / "config" / "index.html").read_text()
    assert "total_env_steps" in vocabulary  # the README section included by the snippet
