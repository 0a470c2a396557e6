"""The SAM-family optimizers (SAM, BSAM, ImbSAM), one-call training steps and the official preset.

* :class:`SAM` / :class:`BSAM` (:mod:`bsam.optim.sam`): two-pass sharpness-aware wrapper around a
  base optimizer; BSAM perturbs along the balance-weighted loss (Liu et al., ICCV 2025).
* :class:`ImbSAM` (:mod:`bsam.optim.imbsam`): SAM on the tail part of the loss (Zhou et al., 2023).
* :class:`Phase` (:mod:`bsam.optim.closure`): the pass a ``step(closure)`` closure is told.
* :func:`plain_step`, :func:`sam_step`, :func:`imbsam_step` (:mod:`bsam.optim.step`): one call per
  training step (one process or one rank of a data-parallel run), returning a
  :class:`StepResult` (:mod:`bsam.optim.result`).
* :data:`BN_MODES`, :func:`running_stats_frozen` (:mod:`bsam.optim.batchnorm`): which pass updates
  BatchNorm running statistics.
* :data:`OFFICIAL_BSAM`, :func:`official_bsam_config` (:mod:`bsam.optim.presets`): the authors'
  configuration as plain data.
"""

from bsam.optim.batchnorm import BN_MODES, running_stats_frozen
from bsam.optim.closure import Phase
from bsam.optim.imbsam import ImbSAM
from bsam.optim.presets import OFFICIAL_BSAM, BSAMPreset, official_bsam_config
from bsam.optim.result import StepResult
from bsam.optim.sam import BSAM, SAM
from bsam.optim.step import PERTURB_SYNC, imbsam_step, plain_step, sam_step

__all__ = [
    "SAM",
    "BSAM",
    "ImbSAM",
    "Phase",
    "StepResult",
    "BN_MODES",
    "PERTURB_SYNC",
    "plain_step",
    "sam_step",
    "imbsam_step",
    "running_stats_frozen",
    "BSAMPreset",
    "OFFICIAL_BSAM",
    "official_bsam_config",
]
