"""Networks for the single-agent algorithms, and the registry that builds them from a config.

Algorithms never construct a network themselves: they call :func:`build_model`
with a ``model:`` mapping from the config. ``type: mlp`` is defined here;
``qrl.models`` registers ``type: vqc`` (the quantum circuits) when it is
imported, so an algorithm takes a circuit or an MLP in the same slot while
``classical`` never imports ``qrl``.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError
from torch import nn

HEADS = ("policy", "q", "value")
_REGISTRY: dict[tuple[str, str], Callable[..., nn.Module]] = {}
_SCHEMAS: dict[tuple[str, str], type[BaseModel]] = {}


class MLPSpec(BaseModel):
    """The keys of ``{type: mlp, ...}`` (every head)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mlp"] = Field("mlp", description="a multi-layer perceptron")
    hidden: list[NonNegativeInt] = Field([64, 64], description="hidden layer widths; [] for a linear map")
    activation: Literal["tanh", "relu"] = Field("tanh", description="activation after each hidden layer")


def _load_plugins(kind: str) -> None:
    """Import the package that provides model type ``kind`` (entry point group ``qrl.models``).

    ``qrl`` declares ``vqc = "qrl.models"`` there, so a fresh interpreter can build (and
    ``load``) a circuit agent without importing ``qrl`` first, and ``classical`` never
    imports ``qrl`` by name (as PennyLane finds its device plugins).
    """
    if any(k == kind for k, _ in _REGISTRY):
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group="qrl.models"):
        if ep.name == kind:
            ep.load()


def register_model(kind: str, head: str, factory: Callable[..., nn.Module],
                   schema: type[BaseModel] | None = None) -> None:
    """Make ``model: {type: kind}`` buildable for ``head`` ("policy", "q" or "value").

    ``schema`` is a pydantic model (``extra="forbid"``) of the spec's keys; specs are checked
    against it before the factory runs, so a wrong key is reported as ``model.<key>``.
    """
    assert head in HEADS, head
    _REGISTRY[(kind, head)] = factory
    if schema is not None:
        _SCHEMAS[(kind, head)] = schema


def validate_model_spec(spec: Any, where: str, key: str = "model", head: str | None = None) -> dict:
    """Check a model spec against its type's schema; return it with defaults filled in.

    Args:
        spec: the mapping under ``model:`` (or ``actor:``, ``critic:``, ...).
        where: the config file, for the message.
        key: the config key holding the spec, so errors read ``model.n_layers``.
        head: the head it will be built as; ``None`` accepts the keys of any head of that type.

    Raises:
        ValueError: (a ``ConfigError``) naming ``where``, ``key.<field>``, what is wrong and the fix.

    **Example**

    >>> validate_model_spec({"type": "mlp", "hidden": [8]}, "x.yaml")["activation"]
    'tanh'
    """
    from classical.common.config import ConfigError, format_validation_error

    example = "{type: mlp, hidden: [64, 64]}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: key '{key}' = {spec!r}: expected a model spec such as {example}.")
    kind = spec.get("type", "mlp")
    if isinstance(kind, str):
        _load_plugins(kind)
    kinds = sorted({k for k, _ in _REGISTRY})
    if not isinstance(kind, str) or kind not in kinds:
        hint = " (qrl.models registers vqc; the qrl CLI imports it)" if kind == "vqc" else ""
        raise ConfigError(f"{where}: key '{key}.type' = {kind!r}: unknown model type; "
                          f"choose one of {', '.join(kinds)}{hint}.")
    if "backend" in spec:  # build_model's argument: the run's backend, with its backends file and job ledger
        raise ConfigError(f"{where}: key '{key}.backend': a network cannot choose its own backend (its circuits "
                          "would bypass the run's backends file and job ledger); set the top-level `backend:` "
                          f"(or --backend) instead and drop '{key}.backend'.")
    heads = [head] if head is not None else ["policy", "q", "value"]
    schemas = [_SCHEMAS[(kind, h)] for h in heads if (kind, h) in _SCHEMAS]
    if not schemas:
        return dict(spec)
    # without a head, the most permissive schema (the one with most keys) decides
    schema = max(schemas, key=lambda s: len(s.model_fields))
    try:
        return schema.model_validate({"type": kind, **spec}).model_dump()
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where, prefix=key)) from None


def build_model(spec: dict, head: str, in_dim: int, out_dim: int, backend: Any = None) -> nn.Module:
    """Build the network described by a config's ``model:`` mapping.

    Args:
        spec: ``{"type": "mlp" | "vqc", ...keyword arguments of that model}``.
        head: "policy" (logits), "q" (one value per action) or "value" (one number).
        in_dim: observation size.
        out_dim: actions (ignored for "value").
        backend: where quantum models run, forwarded untouched to their factory (ignored by
            classical ones): a ``backends.yaml`` entry name, or the run's resolved backend
            (``RunDir.backend``; for circuits a ``qrl.backends.Backend``, which also names the
            backends file and the job ledger).

    **Example**

    >>> build_model({"type": "mlp", "hidden": [8]}, "q", 4, 2).n_params
    58
    """
    spec = dict(spec)
    kind = spec.pop("type", "mlp")
    _load_plugins(kind)
    if (kind, head) in _SCHEMAS:
        given = set(spec)
        checked = validate_model_spec({"type": kind, **spec}, "model spec", head=head)
        spec = {k: v for k, v in checked.items() if k in given}  # the factory keeps its own defaults
    if (kind, head) not in _REGISTRY:
        known = sorted({k for k, h in _REGISTRY if h == head})
        hint = " (quantum models register themselves when qrl.models is imported; the qrl CLI does this)" \
            if kind == "vqc" else ""
        raise ValueError(f"model type '{kind}' has no '{head}' network; known: {', '.join(known)}{hint}.")
    factory = _REGISTRY[(kind, head)]
    if kind != "mlp" and backend is not None:
        spec["backend"] = backend
    try:
        return factory(in_dim, out_dim, **spec)
    except TypeError as err:
        raise ValueError(f"model '{kind}': {err}; check the keys under 'model:' in the config.") from None


class MLP(nn.Module):
    """A plain multi-layer perceptron with tanh activations.

    **Example**

    >>> MLP(4, 2, hidden=(8,)).n_params   # 4*8+8 + 8*2+2
    58
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (64, 64),
                 activation: str = "tanh"):
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(sizes[-1], out_dim))
        self.net = nn.Sequential(*layers)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"weights": list(self.parameters())}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())


class MLPValue(MLP):
    """An MLP state value, shape [batch]."""

    def __init__(self, in_dim: int, _out_dim: int = 1, **kwargs):
        super().__init__(in_dim, 1, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


def mlp_sized_to(n_params: int, in_dim: int, out_dim: int, n_hidden_layers: int = 1) -> tuple[int, ...]:
    """Hidden sizes whose MLP has the parameter count closest to ``n_params`` (for matched baselines)."""
    best, best_gap = (1,), None
    for width in range(1, 4096):
        hidden = (width,) * n_hidden_layers
        gap = abs(MLP(in_dim, out_dim, hidden).n_params - n_params)
        if best_gap is None or gap < best_gap:
            best, best_gap = hidden, gap
        elif gap > best_gap:
            break
    return best


register_model("mlp", "policy", MLP, MLPSpec)
register_model("mlp", "q", MLP, MLPSpec)
register_model("mlp", "value", MLPValue, MLPSpec)
