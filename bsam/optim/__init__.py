"""The SAM-family optimizers (SAM, BSAM, ImbSAM), one-call training steps and the official preset.

* :class:`SAM` / :class:`BSAM` (:mod:`bsam.optim.sam`): two-pass sharpness-aware wrapper around a
  base optimizer; BSAM perturbs along the balance-weighted loss (Liu et al., ICCV 2025).
* :class:`ImbSAM` (:mod:`bsam.optim.imbsam`): SAM on the tail part of the loss (Zhou et al., 2023).
* :func:`plain_step`, :func:`sam_step`, :func:`imbsam_step` (:mod:`bsam.optim.step`): one call per
  training step, returning a :class:`StepResult`.
* :data:`OFFICIAL_BSAM`, :func:`official_bsam_config` (:mod:`bsam.optim.presets`): the authors'
  configuration as plain data.
"""

from bsam.optim.imbsam import ImbSAM
from bsam.optim.presets import OFFICIAL_BSAM, BSAMPreset, official_bsam_config
from bsam.optim.sam import BSAM, SAM
from bsam.optim.step import (
    BN_MODES,
    StepResult,
    imbsam_step,
    plain_step,
    running_stats_frozen,
    sam_step,
)

__all__ = [
    "SAM",
    "BSAM",
    "ImbSAM",
    "StepResult",
    "BN_MODES",
    "plain_step",
    "sam_step",
    "imbsam_step",
    "running_stats_frozen",
    "BSAMPreset",
    "OFFICIAL_BSAM",
    "official_bsam_config",
]
