"""Griffe extension for the API reference: our docstrings as mkdocstrings should render them.

- Doctest runs (``>>>`` lines and their output, up to a blank line) become ``pycon``
  code blocks; Markdown would otherwise read them as nested block quotes.
- Sphinx roles (:class:`~pkg.mod.Name`, :func:`pkg.f`, :mod:`pkg`) become autorefs
  links, so a reference to something that does not exist fails the strict build.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)`")


def _link(match: re.Match) -> str:
    short, target = match.group(1), match.group(2)
    if not target.startswith(("qrl", "classical", "hybrid")):
        return f"`{target}`"  # a name outside our packages: shown as code, not linked
    return f"[`{target.rsplit('.', 1)[-1] if short else target}`][{target}]"


def fence_doctests(text: str) -> str:
    """Wrap every run of doctest lines (and the output below them) in a ``pycon`` fence."""
    out: list[str] = []
    in_doctest = in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_doctest and stripped.startswith(">>>"):
            out.append("```pycon")
            in_doctest = True
        elif in_doctest and not stripped:
            out.append("```")
            in_doctest = False
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out)


class QrlDocstrings(griffe.Extension):
    """Rewrites docstrings before they are parsed (see the module docstring)."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_link, fence_doctests(obj.docstring.value))
