"""What one training step measured: :class:`StepResult`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

__all__ = ["StepResult"]

_RENAMED = {"perturb_loss": "perturbation_loss", "perturbed_loss": "loss_at_perturbed"}


def _deprecated_alias(old: str, new: str) -> property:
    def read(self: StepResult) -> float:
        message = f"StepResult.{old} is deprecated; use {new}"
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(read, doc=f"Deprecated name of :attr:`{new}` (read-only).")


@dataclass(frozen=True, init=False)
class StepResult:
    """What one training step measured (Python floats, summed over ranks under DDP).

    Attributes
    ----------
    loss : float
        Descent loss at ``theta`` (before the update): ``(1/N) sum_i v_i l_i`` with the descent
        weights ``v``; taken from the first pass's per-element losses (no extra forward).
    perturbation_loss : float
        The loss differentiated at ``theta`` to get the perturbation: ``(1/N) sum_i w_i l_i`` of
        SAM/BSAM, the tail part ``L_T(theta)`` of ImbSAM (0 without tail samples), the training
        loss itself for a plain step. Formerly ``perturb_loss``.
    grad_norm : float
        ``||g||_2`` of the gradient of ``perturbation_loss`` at ``theta`` (one norm over all
        parameters with a gradient; ``|theta|``-scaled for adaptive SAM).
    loss_at_perturbed : float
        The loss whose gradient made the update, at the point where it was taken: the descent
        loss at ``theta + eps`` (SAM/BSAM), ``L_H(theta) + L_T(theta + eps)`` (ImbSAM), equal to
        ``loss`` for a plain step. Formerly ``perturbed_loss``.

    The constructor takes the four values positionally (the old order) or by name; the old
    keyword and attribute names ``perturb_loss`` / ``perturbed_loss`` still work, deprecated.
    """

    loss: float
    perturbation_loss: float
    grad_norm: float
    loss_at_perturbed: float

    def __init__(
        self,
        loss: float,
        perturbation_loss: float | None = None,
        grad_norm: float = 0.0,
        loss_at_perturbed: float | None = None,
        **old_names: float,
    ) -> None:
        unknown = sorted(set(old_names) - set(_RENAMED))
        if unknown:
            raise TypeError(f"StepResult got unexpected fields {unknown}; see its docstring")
        if old_names:
            used = ", ".join(f"{old}=... (use {_RENAMED[old]}=)" for old in old_names)
            warnings.warn(f"StepResult({used}) is deprecated", DeprecationWarning, stacklevel=2)
        if perturbation_loss is None:
            perturbation_loss = old_names.get("perturb_loss", float(loss))
        if loss_at_perturbed is None:
            loss_at_perturbed = old_names.get("perturbed_loss", float(loss))
        object.__setattr__(self, "loss", float(loss))
        object.__setattr__(self, "perturbation_loss", float(perturbation_loss))
        object.__setattr__(self, "grad_norm", float(grad_norm))
        object.__setattr__(self, "loss_at_perturbed", float(loss_at_perturbed))

    perturb_loss = _deprecated_alias("perturb_loss", "perturbation_loss")
    perturbed_loss = _deprecated_alias("perturbed_loss", "loss_at_perturbed")
