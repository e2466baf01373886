"""Every ``**Example**`` in the packages' docstrings runs and prints what it shows (doctests).

One test per module, so a failure names the module. Modules whose import needs an
optional extra that is not installed are skipped, saying which extra.
"""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qrl", "classical", "hybrid")
EXTRAS = {"flwr": "federated", "opacus": "federated", "causallearn": "causal", "pettingzoo": "marl",
          "mpe2": "marl", "optuna": "tune", "ray": "federated"}


def module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "deploy" in parts:  # Flower deployment scripts, run by flwr itself
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = module_names()


def test_every_package_module_is_collected():
    assert {"qrl.models", "classical.common.rundir", "hybrid.marl_quantum"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if top in EXTRAS:
            pytest.skip(f"{name} needs {top}: pip install 'qrl-lab[{EXTRAS[top]}]'")
        raise
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    if not tests:
        pytest.skip(f"{name} has no docstring examples")
    monkeypatch.chdir(ROOT)  # examples name presets as configs/...
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
