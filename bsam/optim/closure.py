"""The closure protocol of the SAM-family optimizers: the closure is told which pass it is in.

Every SAM-family update is, with three losses evaluated on the same batch,

.. math::

    \\epsilon = \\rho\\, \\frac{\\nabla L_{\\text{perturb}}(\\theta)}
                               {\\|\\nabla L_{\\text{perturb}}(\\theta)\\|_2}, \\qquad
    g = \\nabla L_{\\text{head}}(\\theta) + \\nabla L_{\\text{descent}}(\\theta + \\epsilon),
    \\qquad \\theta \\leftarrow \\mathrm{base}(\\theta, g),

where SAM has :math:`L_{\\text{perturb}} = L_{\\text{descent}} = L` and no head part, BSAM has
:math:`L_{\\text{perturb}} = \\frac1N \\sum_i w_i \\ell_i` (balance weights) and the
weight-independent descent loss, and ImbSAM has the head (non-tail) part :math:`L_H` as head
loss and the tail part :math:`L_T` as both perturbation and descent loss.

``optimizer.step(closure)`` calls ``closure(phase)`` once per loss, with ``phase`` a
:class:`Phase` (a ``str``: ``"head"``, ``"perturb"``, ``"descent"``), the way optax's SAM passes
the pass index to its gradient function. The closure zeroes the gradients, runs the forward
pass and the backward pass of *that* loss and returns it, as in ``torch.optim``. A closure
without a positional parameter is called without arguments (plain SAM only, where all passes
share one loss); BSAM and ImbSAM refuse it, so balance weights or the head/tail split cannot be
dropped silently.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum

import torch

__all__ = ["Phase", "takes_phase", "call_closure"]

Closure = Callable[..., torch.Tensor]


class Phase(str, Enum):
    """Which loss a SAM-family closure must differentiate (compare with plain strings)."""

    #: ImbSAM's head part at ``theta`` (its gradient is added to the update unperturbed).
    HEAD = "head"
    #: The loss at ``theta`` whose gradient gives ``eps`` (BSAM: the balance-weighted loss).
    PERTURB = "perturb"
    #: The loss at ``theta + eps`` whose gradient makes the update.
    DESCENT = "descent"


def takes_phase(closure: Callable[..., object]) -> bool:
    """Whether ``closure`` accepts a positional argument (then it is given the :class:`Phase`)."""
    try:
        params = inspect.signature(closure).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: torch's zero-argument form
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in positional for p in params)


def call_closure(closure: Closure, phase: Phase) -> torch.Tensor:
    """``closure(phase)`` or, for a zero-argument closure, ``closure()``; with grad enabled."""
    with torch.enable_grad():
        return closure(phase) if takes_phase(closure) else closure()


def require_phase(closure: Closure | None, optimizer: str, losses: str, one_call: str) -> None:
    """Raise unless ``closure`` takes the pass argument.

    ``losses`` says which loss each phase must return, ``one_call`` names the one-call step that
    does the same without a closure (both go into the error message).
    """
    if closure is None:
        raise ValueError(
            f"{optimizer}.step needs a closure(phase) (zero_grad + forward + backward of the "
            "phase's loss, returning it); or call first_step() and second_step() yourself"
        )
    if not takes_phase(closure):
        raise TypeError(
            f"{optimizer}.step got a closure without arguments, which would use one loss in "
            f"every pass; define closure(phase) (phase: bsam.optim.Phase) that backpropagates "
            f"and returns {losses}, or use bsam.optim.{one_call}"
        )
