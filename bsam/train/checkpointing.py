"""The checkpoint layout of a run (``best.pt``, ``last.pt``) and the progress it carries.

Both files hold ``model`` (name, kwargs), ``model_state``, ``epoch``, ``config``, ``data``
(name, root, kwargs), ``regions``, ``weights`` (``descent``, ``perturb``) and ``metrics``
(validation report, ``select``, best epoch and value). ``last.pt`` adds what a resume needs:
``optimizer_state``, ``scheduler_state`` (:mod:`bsam.train.schedule`), ``train_state``
(:class:`Progress`) and ``rng`` (:mod:`bsam.train.rng`). Every tensor is moved to the CPU, and
everything loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from bsam.regions import ShotRegions
from bsam.train.config import TrainConfig
from bsam.train.methods import FittedWeights

__all__ = ["Progress", "model_state", "nonfinite_entries", "to_cpu", "build_checkpoint"]


@dataclass
class Progress:
    """How far a run has got: global step, the log so far, the best epoch, training seconds."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float = math.inf
    best_epoch: int = 0
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``train_state`` entry of ``last.pt``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Progress:
        """Read a ``train_state`` entry."""
        return cls(
            step=int(state["step"]),
            history=list(state["history"]),
            best_value=float(state["best_value"]),
            best_epoch=int(state["best_epoch"]),
            train_seconds=float(state["train_seconds"]),
        )


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` detached and copied to the CPU."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def nonfinite_entries(model: nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers of ``model`` holding NaN or inf.

    A checkpoint is written only when this is empty: a diverged run can keep finite weights
    and a finite batch loss while a BatchNorm ``running_var`` has overflowed, and such a
    checkpoint evaluates to nonsense.
    """
    return [
        name
        for name, value in model.state_dict().items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def to_cpu(state: Any) -> Any:
    """``state`` (nested dicts / lists of tensors, e.g. an optimizer state) with CPU tensors."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, list):
        return [to_cpu(v) for v in state]
    return state


def build_checkpoint(
    cfg: TrainConfig,
    model: nn.Module,
    epoch: int,
    *,
    regions: ShotRegions,
    weights: FittedWeights,
    val: dict,
    progress: Progress,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict of ``epoch`` (module docstring).

    ``resume`` (``optimizer_state``, ``scheduler_state``, ``rng``) makes it a ``last.pt``: it is
    stored with ``train_state = progress.to_dict()``; without it the checkpoint is a ``best.pt``.
    """
    ckpt: dict[str, Any] = {
        "model": {"name": cfg.model, "kwargs": dict(cfg.model_kwargs)},
        "model_state": model_state(model),
        "epoch": epoch,
        "config": cfg.to_dict(),
        "data": {
            "name": cfg.data,
            "root": cfg.root,
            "kwargs": {"seed": cfg.data_seed, **cfg.data_kwargs},
        },
        "regions": regions.to_dict(),
        "weights": weights.to_dict(),
        "metrics": {
            "val": val,
            "select": cfg.select,
            "best_epoch": progress.best_epoch,
            "best_value": progress.best_value,
        },
    }
    if resume is not None:
        ckpt["optimizer_state"] = to_cpu(resume["optimizer_state"])
        ckpt["scheduler_state"] = resume["scheduler_state"]
        ckpt["train_state"] = progress.to_dict()
        ckpt["rng"] = resume["rng"]
    return ckpt
