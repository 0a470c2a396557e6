"""bsam: Balanced Sharpness-Aware Minimization for imbalanced regression.

The training side of the toolkit: shot regions, balance weights, regression losses and metrics,
the SAM-family optimizers, datasets, models and the training loop.
"""

from bsam import losses, metrics
from bsam._version import __version__
from bsam.optim import (
    BSAM,
    OFFICIAL_BSAM,
    SAM,
    ImbSAM,
    StepResult,
    imbsam_step,
    official_bsam_config,
    plain_step,
    sam_step,
)
from bsam.regions import ALL_REGIONS, REGION_NAMES, ShotRegions
from bsam.weights import BalanceWeights

__all__ = [
    "__version__",
    "ALL_REGIONS",
    "REGION_NAMES",
    "ShotRegions",
    "BalanceWeights",
    "losses",
    "metrics",
    "SAM",
    "BSAM",
    "ImbSAM",
    "StepResult",
    "sam_step",
    "imbsam_step",
    "plain_step",
    "OFFICIAL_BSAM",
    "official_bsam_config",
]
