"""Sharpness-aware minimization: the SAM and BSAM optimizers (two passes per step).

SAM (Foret et al., ICLR 2021) minimises the worst-case loss in a ball of radius ``rho``,

.. math::

    \\min_\\theta \\max_{\\|\\epsilon\\|_2 \\le \\rho} L(\\theta + \\epsilon),
    \\qquad \\hat\\epsilon = \\rho \\, g / \\|g\\|_2, \\quad g = \\nabla L(\\theta),

and updates with the gradient taken at :math:`\\theta + \\hat\\epsilon`. BSAM (Liu, Wang, Duan, Li,
"Balanced Sharpness-Aware Minimization for Imbalanced Regression", ICCV 2025) uses the same
perturbation rule, with :math:`g = g_w` the gradient of the *balance-weighted* loss
:math:`(1/N) \\sum_i w_i \\ell_i`. The weighting lives entirely in the loss of the first pass,
so the two classes share the update; :class:`BSAM` only insists on a closure that is told the pass
(:mod:`bsam.optim.closure`), and :func:`bsam.optim.sam_step` builds the two losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from bsam.optim.closure import Phase, call_closure, require_phase

__all__ = ["SAM", "BSAM"]

ParamsT = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class SAM(Optimizer):
    """Sharpness-aware minimization around any base optimizer (Foret et al., ICLR 2021).

    One step is two passes::

        g      = grad L_p(theta)                    # first pass (perturbation loss)
        eps    = rho * g / ||g||_2                  # one global norm over all params with a grad
               (adaptive: eps = rho * theta^2 * g / || |theta| * g ||_2, ASAM, Kwon et al. 2021)
        theta' = theta + eps                        # first_step()
        g'     = grad L_d(theta')                   # second pass (descent loss)
        theta  <- base_update(theta, g')            # second_step(): copy theta back, base step

    The wrapper and its base optimizer share ``param_groups`` (one list of the same dicts), so a
    learning-rate scheduler attached to either drives both, and ``rho`` can differ per group.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimise, or parameter groups (dicts with ``"params"`` and options).
    base_optimizer : type of torch.optim.Optimizer (or a callable ``(param_groups, **kw)``)
        The optimizer that makes the descent update, e.g. ``torch.optim.SGD``.
    rho : float, default 0.05
        Radius of the perturbation ball; must be > 0.
    adaptive : bool, default False
        Scale the perturbation element-wise by ``|theta|`` (ASAM).
    **base_kwargs
        Passed to ``base_optimizer`` (``lr``, ``momentum``, ``weight_decay``, ...).

    Notes
    -----
    * Parameters whose ``grad`` is ``None`` in the first pass are neither perturbed nor counted in
      the norm (an unused layer).
    * A zero gradient norm gives ``eps = 0`` (no NaN); a non-finite norm raises
      ``FloatingPointError``.
    * ``second_step`` restores ``theta`` by copying the saved values back, so the weights at which
      the base step is taken are bit-identical to those before ``first_step``.
    * ``state_dict()`` is the base optimizer's state dict (its ``param_groups`` also carry ``rho``
      and ``adaptive``); the saved ``theta`` copies are transient and not stored.
    * BatchNorm running statistics are updated by every forward pass in train mode; see
      :func:`bsam.optim.sam_step` (``bn_mode``) for updating them once per step.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = SAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9)
    >>> x, y = torch.randn(8, 3), torch.randn(8, 1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    """

    def __init__(
        self,
        params: ParamsT,
        base_optimizer: Callable[..., Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
        **base_kwargs: Any,
    ) -> None:
        if not isinstance(rho, (int, float)) or not math.isfinite(rho) or rho <= 0:
            raise ValueError(f"Invalid rho value: {rho!r}; rho must be a finite number > 0")
        if not callable(base_optimizer):
            raise TypeError(
                f"Invalid base_optimizer: {base_optimizer!r}; pass an optimizer class such as "
                "torch.optim.SGD"
            )
        defaults = dict(rho=float(rho), adaptive=bool(adaptive), **base_kwargs)
        super().__init__(params, defaults)
        for group in self.param_groups:
            group_rho = group["rho"]
            if not isinstance(group_rho, (int, float)) or not group_rho > 0:
                raise ValueError(
                    f"Invalid rho value in a parameter group: {group_rho!r}; rho must be > 0"
                )
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        # One list of the same group dicts: schedulers and per-group options act on both.
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    # ------------------------------------------------------------------ passes
    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """Global L2 norm of the current gradients (scaled by ``|theta|`` when adaptive).

        .. math:: \\|g\\|_2 = \\Big(\\sum_p \\|T_p\\, g_p\\|_2^2\\Big)^{1/2},
                  \\quad T_p = |\\theta_p| \\text{ (adaptive) or } 1.

        Returns a 0-dim tensor on the device of the first parameter with a gradient (0 when no
        parameter has a gradient).
        """
        norms = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad * p.abs() if group["adaptive"] else p.grad
                norms.append(torch.linalg.vector_norm(g, 2))
        if not norms:
            return torch.zeros(())
        device = norms[0].device
        dtype = norms[0].dtype
        return torch.linalg.vector_norm(torch.stack([n.to(device, dtype) for n in norms]), 2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> torch.Tensor:
        """Move every parameter with a gradient to ``theta + eps``, ``eps = rho g / ||g||_2``.

        Saves ``theta`` for :meth:`second_step`. With ``adaptive=True``,
        ``eps = rho * theta**2 * g / || |theta| g ||_2``.

        Parameters
        ----------
        zero_grad : bool, default False
            Set the gradients to ``None`` afterwards (ready for the second backward pass).

        Returns
        -------
        torch.Tensor
            The (0-dim) gradient norm ``||g||_2`` used for the perturbation.

        Raises
        ------
        FloatingPointError
            When the gradient norm is NaN or infinite.
        """
        norm = self.grad_norm()
        norm_value = float(norm)
        if not math.isfinite(norm_value):
            raise FloatingPointError(
                f"Non-finite gradient norm in SAM first_step: {norm_value}; the loss or its "
                "gradient contains NaN/inf (check the inputs, the targets and the learning rate)"
            )
        for group in self.param_groups:
            scale = group["rho"] / norm_value if norm_value > 0.0 else 0.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                saved = state.get("theta")
                if saved is None or saved.shape != p.shape:
                    state["theta"] = p.detach().clone()
                else:
                    saved.copy_(p)
                eps = p.grad * scale
                if group["adaptive"]:
                    eps.mul_(p.square())
                p.add_(eps)
                state["perturbed"] = True
        if zero_grad:
            self.zero_grad(set_to_none=True)
        return norm

    @torch.no_grad()
    def restore(self) -> None:
        """Copy the saved ``theta`` back into every parameter perturbed by :meth:`first_step`."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if state and state.get("perturbed"):
                    p.copy_(state["theta"])
                    state["perturbed"] = False

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore ``theta`` exactly (copy back) and take the base optimizer's step.

        The gradients present now (taken at ``theta + eps``) drive the base update.

        Parameters
        ----------
        zero_grad : bool, default False
            Set the gradients to ``None`` after the base step.
        """
        self.restore()
        self.base_step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def base_step(self) -> None:
        """Take the base optimizer's step with the current gradients (no perturbation).

        Also marks the wrapper as stepped for an attached ``torch.optim.lr_scheduler``, which
        otherwise warns that the scheduler stepped before the optimizer when the update is made
        through :meth:`second_step` rather than :meth:`step`.
        """
        self.base_optimizer.step()
        self._opt_called = True  # the flag torch's LR schedulers read

    def step(  # type: ignore[override]
        self, closure: Callable[..., torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Run a whole SAM step: closure at ``theta``, perturb, closure at ``theta + eps``, update.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, runs the forward and backward pass and returns the loss. It is
            called twice: as ``closure("perturb")`` at ``theta`` (the loss whose gradient gives
            ``eps``) and ``closure("descent")`` at ``theta + eps`` (:mod:`bsam.optim.closure`).
            Plain SAM also accepts a zero-argument closure (one loss in both passes).

        Returns
        -------
        torch.Tensor
            The loss returned by the first call (at ``theta``), detached.
        """
        self._check_closure(closure)
        loss = call_closure(closure, Phase.PERTURB)
        self.first_step(zero_grad=True)
        call_closure(closure, Phase.DESCENT)
        self.second_step()
        return loss.detach()

    def _check_closure(self, closure: Callable[..., torch.Tensor] | None) -> None:
        if closure is None:
            raise ValueError(
                "SAM.step needs a closure (zero_grad + forward + backward, returning the loss); "
                "or call first_step() and second_step() around your own backward passes"
            )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict (momentum etc.); param groups include ``rho``."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict written by :meth:`state_dict` (base state and param-group options).

        A state dict of the plain base optimizer (e.g. from a vanilla run) loads too: groups
        without ``rho`` / ``adaptive`` take this optimizer's defaults.
        """
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        for group in self.param_groups:
            group.setdefault("rho", self.defaults["rho"])
            group.setdefault("adaptive", self.defaults["adaptive"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (``None`` by default)."""
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group to the wrapper and to the base optimizer (shared dict)."""
        if hasattr(self, "base_optimizer"):
            for key, value in self.defaults.items():
                param_group.setdefault(key, value)
            self.base_optimizer.add_param_group(param_group)
            self.param_groups = self.base_optimizer.param_groups
        else:
            super().add_param_group(param_group)


class BSAM(SAM):
    """Balanced sharpness-aware minimization (Liu, Wang, Duan, Li, ICCV 2025).

    The update rule is SAM's, with the perturbation taken along the balance-weighted loss::

        g_w    = grad (1/N) sum_i w(k(y_i)) l_i(theta)      # closure("perturb")
        eps    = rho * g_w / ||g_w||_2                      # first_step()
        g      = grad (1/N) sum_i v_i l_i(theta + eps)       # closure("descent")
        theta <- base_update(theta, g)                       # second_step()

    with ``w`` the balance weights (:class:`bsam.weights.BalanceWeights`) and ``v`` the descent
    weights, independent of ``w`` (``v = 1`` in the paper's Table 5). The weighting lives in the
    loss of the first pass, so :meth:`step` requires a closure that is told the pass
    (``closure(phase)``, :mod:`bsam.optim.closure`): a zero-argument closure is a ``TypeError``,
    because it would silently run plain SAM. :func:`bsam.optim.sam_step` builds both losses
    from ``perturb_weights`` / ``descent_weights``; with all weights 1, BSAM is SAM step for step.
    ``first_step`` / ``second_step`` work as for :class:`SAM`.

    Parameters
    ----------
    params, base_optimizer, rho, adaptive, **base_kwargs
        As for :class:`SAM`.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
    >>> x, y, w = torch.randn(8, 3), torch.randn(8), torch.rand(8) + 0.5
    >>> def closure(phase):
    ...     opt.zero_grad()
    ...     err = (model(x).squeeze(1) - y).abs()
    ...     loss = (w * err).mean() if phase == "perturb" else err.mean()
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    """

    def _check_closure(self, closure: Callable[..., torch.Tensor] | None) -> None:
        require_phase(
            closure,
            "BSAM",
            "the balance-weighted loss for 'perturb' and the descent loss for 'descent'",
            "sam_step(..., perturb_weights=w)",
        )
