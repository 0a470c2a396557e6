"""TensorBoard logging of a run (``TrainConfig.tensorboard``, ``bsam train --tensorboard``).

The event files go to ``<run folder>/tensorboard/``, beside ``log.csv``. Every scalar uses the
global step as its x value: per epoch the row of ``log.csv`` (:data:`EPOCH_TAGS`: learning rate,
mean training loss, validation MAE and bMAE per region) at the step that ended the epoch, and
with ``steps=True`` every step's losses and gradient norm (:data:`STEP_TAGS`).

A resumed run appends without duplicates: an epoch is written (and flushed) *before* its
checkpoint, and a writer opened on a resumed run passes ``purge_step`` = the checkpoint's step
+ 1, which tells TensorBoard to drop whatever an interrupted session logged after the last
checkpoint (the rest of an unfinished epoch, or an epoch whose checkpoint was never written).

Needs the ``tensorboard`` package: ``pip install "bsam-landscape[tensorboard]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bsam.errors import UserError
from bsam.regions import ALL_REGIONS
from bsam.train.log import VAL_METRICS
from bsam.train.result import TrainCallback

__all__ = [
    "TENSORBOARD_DIR",
    "INSTALL_HINT",
    "EPOCH_TAGS",
    "STEP_TAGS",
    "TensorBoardMissingError",
    "TensorBoardLogger",
    "require_tensorboard",
]

#: The folder of the event files inside a run folder.
TENSORBOARD_DIR = "tensorboard"
#: How to install what TensorBoard logging needs.
INSTALL_HINT = 'pip install "bsam-landscape[tensorboard]"'
#: ``log.csv`` column -> TensorBoard tag of the per-epoch scalars.
EPOCH_TAGS: dict[str, str] = {
    "lr": "train/lr",
    "train_loss": "train/loss",
    **{f"val_{m}_{r}": f"val_{m}/{r}" for m in VAL_METRICS for r in ALL_REGIONS},
}
#: :class:`bsam.optim.StepResult` attribute -> TensorBoard tag of the per-step scalars.
STEP_TAGS: dict[str, str] = {
    "loss": "step/loss",
    "loss_at_perturbed": "step/loss_at_perturbed",
    "grad_norm": "step/grad_norm",
}


class TensorBoardMissingError(UserError, ImportError):
    """TensorBoard logging was asked for, but the ``tensorboard`` package is not installed."""


def _summary_writer() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise TensorBoardMissingError(
            f"TensorBoard logging (--tensorboard) needs the tensorboard package ({err}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return SummaryWriter


def require_tensorboard() -> None:
    """Check that TensorBoard logging can run, before a run writes anything.

    Raises
    ------
    TensorBoardMissingError
        The ``tensorboard`` package is missing (the message says how to install it).
    """
    _summary_writer()


class TensorBoardLogger(TrainCallback):
    """Write a run's scalars as TensorBoard events under ``log_dir`` (module docstring).

    Parameters
    ----------
    log_dir : path-like
        Folder of the event files (created).
    steps : bool
        Also log every step's :data:`STEP_TAGS`.
    purge_step : int or None
        First global step this session writes; TensorBoard hides every event of an earlier
        session at this step or later. :func:`bsam.train.train` passes the resumed step + 1.

    Raises
    ------
    TensorBoardMissingError
        The ``tensorboard`` package is missing (the message says how to install it).
    """

    def __init__(
        self, log_dir: str | Path, *, steps: bool = False, purge_step: int | None = None
    ) -> None:
        self.log_dir = Path(log_dir)
        self.steps = steps
        writer = _summary_writer()
        self.writer: Any = writer(log_dir=str(self.log_dir), purge_step=purge_step)

    def log_epoch(self, row: dict[str, float]) -> None:
        """Write one ``log.csv`` row (:func:`bsam.train.log.epoch_row`) at its global step and
        flush, so that the events are on disk before the epoch's checkpoint."""
        step = int(row["step"])
        for column, tag in EPOCH_TAGS.items():
            self.writer.add_scalar(tag, float(row[column]), step)
        self.writer.flush()

    def on_step_end(self, epoch: int, step: int, result: Any) -> None:
        """With ``steps``: write the step's losses and gradient norm at global step ``step``."""
        if self.steps:
            for name, tag in STEP_TAGS.items():
                self.writer.add_scalar(tag, float(getattr(result, name)), step)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
