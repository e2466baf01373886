"""Versioning: ``qrl --version``, ``qrl.__version__``, provenance in every run's config.yaml, py.typed."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

import qrl
from classical.common import provenance as P
from classical.common.rundir import RunDir
from qrl.cli import app

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_version_comes_from_pyproject():
    assert qrl.__version__ == PYPROJECT_VERSION


def test_cli_version_prints_version_and_commit():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.startswith(f"qrl {PYPROJECT_VERSION} (git ")
    commit = res.output.split("(git ")[1].split(")")[0]
    expected = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    assert commit.removesuffix("-dirty") == expected


def test_run_config_records_version_and_commit_and_reads_back_as_a_preset(tmp_path):
    run = RunDir(tmp_path)
    run.write_config({"algo": "classical.rl.reinforce", "seed": 3})
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert raw["provenance"]["qrl_version"] == PYPROJECT_VERSION
    assert len(raw["provenance"]["git_commit"].removesuffix("-dirty")) == 40
    assert run.read_config() == {"algo": "classical.rl.reinforce", "seed": 3}
    assert run.read_provenance() == raw["provenance"]


def test_commit_is_unknown_without_git_and_never_fails(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    P.git_commit.cache_clear()
    monkeypatch.setattr(P.subprocess, "run", no_git)
    try:
        assert P.git_commit() == "unknown"
    finally:
        P.git_commit.cache_clear()


def test_version_is_unknown_when_not_installed(monkeypatch):
    def missing(name):
        raise P.metadata.PackageNotFoundError(name)

    P.package_version.cache_clear()
    monkeypatch.setattr(P.metadata, "version", missing)
    try:
        assert P.package_version() == "unknown"
    finally:
        P.package_version.cache_clear()


def test_packages_ship_py_typed():
    for package in ("qrl", "classical", "hybrid"):
        assert (ROOT / package / "py.typed").exists()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert all("py.typed" in data[p] for p in ("qrl", "classical", "hybrid"))


def test_a_run_config_yaml_trains_again_as_a_preset(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("algo: classical.rl.reinforce\nmodel: {type: mlp, hidden: [8]}\nlr: {default: 0.01}\n"
                   "batch_episodes: 2\nepisodes: 2\neval_episodes: 0\nenv_kwargs: {max_episode_steps: 5}\n")
    first = tmp_path / "first"
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(first)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["train", "--config", str(first / "config.yaml"), "--out",
                                   str(tmp_path / "second")])
    assert res.exit_code == 0, res.output
    assert RunDir(tmp_path / "second", resume=True).read_config() == RunDir(first, resume=True).read_config()
