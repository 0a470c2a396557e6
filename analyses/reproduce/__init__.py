"""The reproduction of the BSAM paper's artefacts (``bsam reproduce``) as library calls.

>>> from analyses.reproduce import ReproduceConfig, reproduce
>>> result = reproduce(ReproduceConfig.quick_config(out="/tmp/quick"))   # doctest: +SKIP
>>> result.report                                                          # doctest: +SKIP
"""

from analyses.reproduce.config import (
    ABLATION_RHOS,
    METHOD_LABELS,
    Recipe,
    ReproduceConfig,
    RunSpec,
    plan_runs,
)
from analyses.reproduce.pipeline import STAGES, ReproduceResult, render, reproduce

__all__ = [
    "ABLATION_RHOS",
    "METHOD_LABELS",
    "Recipe",
    "ReproduceConfig",
    "RunSpec",
    "plan_runs",
    "STAGES",
    "ReproduceResult",
    "render",
    "reproduce",
]
