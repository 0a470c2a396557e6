"""ImbSAM: sharpness-aware minimization restricted to the tail of the target distribution.

ImbSAM (Zhou et al., "ImbSAM: A Closer Look at Sharpness-Aware Minimization in Class-Imbalanced
Recognition", ICCV 2023) applies the SAM perturbation to the tail classes only. For regression,
the tail is the few-shot region of :class:`bsam.regions.ShotRegions`: the samples whose target
falls in a bin with fewer than ``few`` training samples (``ShotRegions.fit(..., few=20)`` by
default, ``TrainConfig.few`` in the training loop). With a batch of ``N`` samples, per-sample
losses ``l_i``, optional weights ``w_i``, the tail set ``T`` and the tail scale ``s``:

.. math::

    L_H(\\theta) = \\frac{1}{N} \\sum_{i \\notin T} w_i \\ell_i(\\theta), \\qquad
    L_T(\\theta) = \\frac{s}{N} \\sum_{i \\in T} w_i \\ell_i(\\theta),

and the update direction is

.. math::

    \\nabla L_H(\\theta) + \\nabla L_T(\\theta + \\epsilon_T), \\qquad
    \\epsilon_T = \\rho \\, \\nabla L_T(\\theta) / \\|\\nabla L_T(\\theta)\\|_2 .

**The official code** (github cool-xuan/Imbalanced_SAM, ``utils/trainval.py``, function
``forbackward``, branch ``optim_mode == 'imbsam'``) forms the head loss as
``loss[~tail_mask].sum() / targets.size(0)`` and the tail loss as
``loss[tail_mask].sum() / targets.size(0) * 2``, at ``theta`` and again at ``theta + eps``: the tail
scale is ``s = 2`` (the default here). At ``theta`` the factor does not change ``eps``, which is
normalised; it doubles the tail gradient of the update. The model stays in train mode for both
forward passes (``model.train()`` once per epoch in ``train_model``; the second pass is
``model(images)`` on the whole batch), so BatchNorm running statistics are updated by both passes
(``bn_mode="both"``). Its ``imbsam.py`` saves the head gradient (``first_step``), perturbs along
the tail gradient with ``rho / (||g_T|| + 1e-16)`` (``second_step``) and adds the head gradient
back before the base step (``third_step``).

With ``s = 1``, :math:`L_H + L_T` is the (weighted) batch mean loss, so the step tends to the
plain weighted step as ``rho -> 0`` (the method ``imbsam-mean`` of :data:`bsam.train.METHODS`).

The scale is applied to the tail gradient at ``theta + eps`` in :meth:`ImbSAM.second_step`
(linear, so it equals differentiating ``s`` times the tail loss); closures and
:func:`bsam.optim.imbsam_step` give the unscaled tail part :math:`\\frac1N \\sum_{i \\in T}`.
A batch without tail samples gives a plain step on :math:`L_H` (and ``eps = 0``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from bsam.optim.closure import Phase, call_closure, require_phase, takes_phase
from bsam.optim.sam import SAM, ParamsT

__all__ = ["ImbSAM"]


class ImbSAM(SAM):
    """Imbalanced SAM (Zhou et al., ICCV 2023): SAM on the tail part of the loss only.

    Pseudocode of one step (``head``/``tail`` are the two parts of the batch loss, each a sum
    over its samples divided by the batch size ``N``; ``s = tail_scale``)::

        g_H = grad head(theta)                     # closure("head"); save_head_grad()
        g_T = grad tail(theta)                     # closure("perturb")
        eps = rho * g_T / ||g_T||_2                # first_step()
        g_T' = grad tail(theta + eps)              # closure("descent")
        theta <- base_update(theta, g_H + s g_T')  # second_step(): theta back, s g_T' + g_H, step

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimise, or parameter groups.
    base_optimizer : type of torch.optim.Optimizer
        The optimizer that makes the update (e.g. ``torch.optim.SGD``).
    rho : float, default 0.05
        Radius of the tail perturbation; must be > 0.
    tail_scale : float, default 2.0
        Factor ``s`` of the tail part: 2 as in the official code (its tail loss is
        ``sum / N * 2``, :mod:`bsam.optim.imbsam`), 1 for head + tail = the batch mean. Must be
        finite and > 0.
    **base_kwargs
        Passed to ``base_optimizer``.

    Notes
    -----
    :func:`bsam.optim.imbsam_step` runs a whole step from a ``tail_mask``; ``step(closure)``
    calls ``closure("head")``, ``closure("perturb")`` and ``closure("descent")``, each of which
    backpropagates its loss (the SAM closure contract, :mod:`bsam.optim.closure`).
    """

    def __init__(
        self,
        params: ParamsT,
        base_optimizer: Callable[..., Optimizer],
        rho: float = 0.05,
        *,
        tail_scale: float = 2.0,
        **base_kwargs: Any,
    ) -> None:
        if not (isinstance(tail_scale, int | float) and 0 < tail_scale < float("inf")):
            raise ValueError(
                f"Invalid tail_scale value: {tail_scale}; must be finite and > 0 (2 as in the "
                "official ImbSAM code, 1 for head + tail = the batch mean)"
            )
        super().__init__(params, base_optimizer, rho=rho, adaptive=False, **base_kwargs)
        #: Factor of the tail gradient at ``theta + eps`` (an attribute, not a group
        #: hyperparameter, so checkpoints written before it existed still load).
        self.tail_scale = float(tail_scale)

    @torch.no_grad()
    def save_head_grad(self, zero_grad: bool = True) -> None:
        """Save the current gradients as the head-part gradient ``g_H`` (added in second_step).

        Parameters
        ----------
        zero_grad : bool, default True
            Set the gradients to ``None`` afterwards, ready for the tail backward pass.
        """
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if p.grad is None:
                    state["head_grad_set"] = False
                    continue
                buf = state.get("head_grad")
                if buf is None or buf.shape != p.grad.shape:
                    state["head_grad"] = p.grad.detach().clone()
                else:
                    buf.copy_(p.grad)
                state["head_grad_set"] = True
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore ``theta`` (copy back), scale the tail gradient by ``tail_scale``, add the
        saved head gradient, take the base step.

        Parameters
        ----------
        zero_grad : bool, default False
            Set the gradients to ``None`` after the base step.
        """
        self.restore()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and self.tail_scale != 1.0:
                    p.grad.mul_(self.tail_scale)
                state = self.state.get(p)
                if not state or not state.get("head_grad_set"):
                    continue
                if p.grad is None:
                    p.grad = state["head_grad"].clone()
                else:
                    p.grad.add_(state["head_grad"])
                state["head_grad_set"] = False
        self.base_step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(  # type: ignore[override]
        self, closure: Callable[..., torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Run a whole ImbSAM step with the SAM closure contract (:mod:`bsam.optim.closure`).

        Parameters
        ----------
        closure : callable
            ``closure(phase)`` zeroes the gradients, runs the forward and backward pass of the
            phase's loss and returns it: the head part ``L_H`` for ``"head"`` and the tail part
            ``L_T`` for ``"perturb"`` (at ``theta``) and ``"descent"`` (at ``theta + eps``),
            each a sum over its samples divided by the batch size, without the factor
            ``tail_scale`` (the step applies it to the gradient). A batch without tail samples
            (zero tail gradient) skips the ``"descent"`` call: a plain step on ``L_H``. The
            closure form costs one forward pass more than :func:`bsam.optim.imbsam_step`.
            Deprecated: a zero-argument closure returning ``(head_loss, tail_loss)`` without
            backward.

        Returns
        -------
        torch.Tensor
            ``L_H + L_T`` at ``theta`` as the closure returned them (unscaled), detached.
        """
        if closure is not None and not takes_phase(closure):
            return self._tuple_closure_step(closure)
        require_phase(
            closure,
            "ImbSAM",
            "the head part for 'head' and the tail part for 'perturb' and 'descent'",
            "imbsam_step",
        )
        head = call_closure(closure, Phase.HEAD)
        self.save_head_grad(zero_grad=True)
        tail = call_closure(closure, Phase.PERTURB)
        norm = self.first_step(zero_grad=True)
        if float(norm) > 0.0:  # eps = 0 leaves the tail gradient at theta, which is zero
            call_closure(closure, Phase.DESCENT)
        self.second_step()
        return (head + tail).detach()

    def _tuple_closure_step(self, closure: Callable[[], Any]) -> torch.Tensor:
        """The old protocol: ``closure()`` returns ``(head, tail)`` without calling backward."""
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            parts = closure()
        if not (isinstance(parts, tuple) and len(parts) == 2):
            raise TypeError(
                "ImbSAM.step got a closure without arguments that does not return "
                f"(head_loss, tail_loss) (it returned {type(parts).__name__}); define "
                "closure(phase) returning the head part for 'head' and the tail part for "
                "'perturb' and 'descent', or use bsam.optim.imbsam_step"
            )
        warnings.warn(
            "ImbSAM.step with a closure returning (head_loss, tail_loss) is deprecated; pass "
            "closure(phase) that backpropagates the phase's loss, as for SAM",
            DeprecationWarning,
            stacklevel=3,
        )
        head, tail = parts
        with torch.enable_grad():
            if not tail.requires_grad:
                head.backward()
                self.base_step()
                return (head + tail).detach()
            head.backward(retain_graph=True)
            self.save_head_grad(zero_grad=True)
            tail.backward()
        self.first_step(zero_grad=True)
        with torch.enable_grad():
            _, tail_perturbed = closure()
            tail_perturbed.backward()
        self.second_step()
        return (head + tail).detach()
