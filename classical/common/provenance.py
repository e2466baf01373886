"""Which code produced a run: the package version and the git commit, never failing.

The version has one source, ``pyproject.toml``, read through the installed package's
metadata. The commit is that of the checkout the code was imported from; outside a
git checkout (a wheel install, no ``git`` on the PATH) it is ``"unknown"``.

**Example**

>>> info = provenance()
>>> sorted(info)
['git_commit', 'qrl_version']
>>> isinstance(info["git_commit"], str)
True
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "qrl-lab"
UNKNOWN = "unknown"


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """The installed version of ``qrl-lab`` (``"unknown"`` when it is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout this code runs from, with ``-dirty`` if it has local changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40",
                              "--exclude=*"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else UNKNOWN


def provenance() -> dict[str, str]:
    """``{"qrl_version": ..., "git_commit": ...}`` for a run's ``config.yaml``."""
    return {"qrl_version": package_version(), "git_commit": git_commit()}
