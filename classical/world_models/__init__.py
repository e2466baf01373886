"""World models: learned dynamics, CEM model-predictive control, RSSM, Dreamer and I2A.

Importing this package registers the 4-D control task as ``qrl/FourDControl-v0``.
"""

from classical.world_models import envs as _envs  # noqa: F401  (registers the env ids)
