"""What :func:`bsam.train.train` returns and raises, and the hooks it calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from bsam.errors import UserError
from bsam.optim import StepResult
from bsam.train.config import TrainConfig

__all__ = ["TrainResult", "TrainCallback", "NonFiniteLossError"]


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss, or a weight or buffer to be saved, became NaN/inf; the run stopped
    without saving (the last good ``last.pt``/``best.pt`` keep their bytes).

    Attributes
    ----------
    epoch, step, batch : int
        1-based epoch, 1-based global step, and 0-based index of the batch in its epoch.
    value : float
        The offending loss value.
    """

    def __init__(self, message: str, *, epoch: int, step: int, batch: int, value: float) -> None:
        super().__init__(message)
        self.epoch, self.step, self.batch, self.value = epoch, step, batch, value


class TrainCallback:
    """Hooks into :func:`train`; override the methods you need (all are no-ops here)."""

    def on_step_end(self, epoch: int, step: int, result: StepResult) -> None:
        """Called after every optimizer step (``epoch`` and ``step`` 1-based)."""

    def on_epoch_end(self, epoch: int, row: dict[str, float], model: nn.Module) -> None:
        """Called after the checkpoints of epoch ``epoch`` (1-based) are written, on every rank
        (``row`` is the log row on rank 0 and empty elsewhere)."""


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    out_dir : Path
        The run folder.
    config : TrainConfig
        The resolved configuration.
    metrics : dict
        Content of ``metrics.json`` (empty on ranks other than 0).
    epochs_completed : int
        Epochs in ``last.pt``.
    resumed_from : int
        Epoch the call resumed from (0 when it started fresh).
    already_done : bool
        True when the run was finished before the call (nothing was trained).
    """

    out_dir: Path
    config: TrainConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    epochs_completed: int = 0
    resumed_from: int = 0
    already_done: bool = False

    @property
    def best_path(self) -> Path:
        """Path of ``best.pt``."""
        return self.out_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        """Path of ``last.pt``."""
        return self.out_dir / "last.pt"
