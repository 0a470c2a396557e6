"""Mixed precision and memory format of a training run: autocast, float16 loss scaling, channels_last.

``TrainConfig.amp`` picks the autocast dtype of every forward pass (``off``: float32, ``bf16``:
:data:`torch.bfloat16`, ``fp16``: :data:`torch.float16`); ``TrainConfig.channels_last`` puts the
model's 4-D weights and the 4-D input batches in :data:`torch.channels_last`. The step engine
(:mod:`bsam.optim.step`) is unchanged; precision is built around it:

* :class:`PrecisionModel` wraps the network: its forward runs the wrapped model under
  ``torch.autocast`` and returns **float32** outputs, so every loss (and every metric) is
  computed in float32. The parameters (master weights), their gradients and the optimizer state
  stay float32.
* float16 needs **loss scaling** (Micikevicius et al., "Mixed Precision Training", ICLR 2018):
  :class:`LossScaler` is dynamic as :class:`torch.amp.GradScaler` (initial scale ``2**16``,
  halved on a non-finite gradient, doubled after 2000 steps without one). The wrapper multiplies
  the gradient that flows back into the network by the scale (the same as scaling the loss,
  whose value stays unscaled); :class:`UnscalingSync`, the step's ``sync`` hook (called after
  every backward pass, :class:`bsam.distributed.StepSync`), divides the gradients by the scale
  and raises :class:`GradientOverflow` when one is not finite. The perturbation
  ``eps = rho g / ||g||`` does not depend on the scale; the base step gets unscaled gradients.
* :meth:`Precision.step` runs one step; for float16 it snapshots the parameters, buffers
  (BatchNorm statistics) and optimizer state first and, when the step overflowed, restores them
  bit for bit (also after SAM's perturbation), skips the update and halves the scale.

bfloat16 has float32's exponent range and needs no scaling.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from bsam.distributed import StepSync
from bsam.optim import StepResult

__all__ = [
    "AMP_DTYPES",
    "GradientOverflow",
    "LossScaler",
    "Precision",
    "PrecisionModel",
    "UnscalingSync",
    "check_amp",
]

#: The autocast dtype of each ``TrainConfig.amp`` mode but ``off``.
AMP_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


class GradientOverflow(ArithmeticError):
    """A scaled float16 gradient holds inf/NaN: the step is skipped and the scale halved."""


def check_amp(amp: str, device: torch.device) -> None:
    """Raise a one-line ``ValueError`` when ``amp`` cannot run on ``device``.

    ``off`` runs everywhere; ``bf16``/``fp16`` need ``torch.autocast`` on the device type, and
    ``bf16`` on CUDA needs a GPU with bfloat16 (compute capability 8.0, Ampere, or newer).
    """
    if amp == "off":
        return
    if amp not in AMP_DTYPES:
        raise ValueError(f"Invalid amp {amp!r}: choose one of ['off', *{list(AMP_DTYPES)}]")
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(
            f"Invalid amp {amp!r} on device {device}: torch has no autocast for "
            f"{device.type!r}; use --amp off (or --device cpu / cuda)"
        )
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"Invalid amp 'bf16' on {torch.cuda.get_device_name(device)}: it has no bfloat16; "
            "use --amp fp16"
        )


@dataclass
class LossScaler:
    """Dynamic loss scale for float16 gradients, updated as :class:`torch.amp.GradScaler`.

    After each step, with ``found_inf`` whether a scaled gradient was non-finite::

        found_inf:  scale <- scale * backoff_factor;  good_steps <- 0   (the update is skipped)
        otherwise:  good_steps += 1; at growth_interval: scale <- scale * growth_factor, 0

    Defaults are GradScaler's (``init_scale=2**16``, ``growth_factor=2``,
    ``backoff_factor=0.5``, ``growth_interval=2000``); powers of two keep the (un)scaling exact.
    ``skipped`` counts the skipped steps.
    """

    scale: float = 2.0**16
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    good_steps: int = 0
    skipped: int = 0

    def update(self, found_inf: bool) -> None:
        """Back off after an overflow, grow after ``growth_interval`` good steps."""
        if found_inf:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            self.skipped += 1
            return
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= self.growth_factor
            self.good_steps = 0

    def scale_grad(self, grad: torch.Tensor) -> torch.Tensor:
        """``grad * scale``: the backward hook on the network's float32 output."""
        return grad * self.scale

    def state_dict(self) -> dict[str, Any]:
        """The scaler's fields (floats and ints; stored in ``last.pt`` as ``amp_scaler``)."""
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, type(getattr(self, f.name))(state[f.name]))


class PrecisionModel(nn.Module):
    """``module`` run under ``torch.autocast(dtype)`` (and channels_last 4-D inputs), float32 out.

    With a ``scaler``, the gradient flowing back into ``module`` from the output is multiplied
    by ``scaler.scale`` (loss scaling without touching the loss). The wrapper holds no state of
    its own: ``module``'s parameters, buffers and modes are the wrapper's.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        dtype: torch.dtype | None,
        channels_last: bool = False,
        scaler: LossScaler | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.dtype, self.channels_last, self.scaler = dtype, channels_last, scaler

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``module(x)`` under autocast, as float32 (scaled gradient hook for float16)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            out = self.module(x)
        else:
            with torch.autocast(device_type=x.device.type, dtype=self.dtype):
                out = self.module(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"Mixed precision needs a model that returns one tensor, got {type(out).__name__}; "
                "use --amp off"
            )
        out = out.float()
        if self.scaler is not None and out.requires_grad:
            out.register_hook(self.scaler.scale_grad)
        return out


class UnscalingSync(StepSync):
    """The step's ``sync`` hook for float16: ``inner``'s sync, then gradients / scale, checked.

    ``grads_`` raises :class:`GradientOverflow` when an unscaled gradient is not finite (after
    the all-reduce, so every rank agrees). ``sum`` records whether the losses it summed are
    finite, so that :meth:`Precision.step` can tell a non-finite loss (an error) from an overflow.
    """

    def __init__(self, inner: StepSync, scaler: LossScaler) -> None:
        self.inner, self.scaler = inner, scaler
        self.losses_finite = True

    def grads_(self, params: list[torch.Tensor]) -> None:
        """All-reduce (``inner``), divide by the scale; raise on a non-finite gradient."""
        self.inner.grads_(params)
        grads = [p.grad for p in params if p.grad is not None]
        if not _unscale_(grads, 1.0 / self.scaler.scale):
            raise GradientOverflow(f"non-finite float16 gradient at loss scale {self.scaler.scale}")

    def sum(self, values: list[float]) -> list[float]:
        """``inner``'s sum of ``values``; remembers whether the sums are finite."""
        out = self.inner.sum(values)
        self.losses_finite = all(v == v and abs(v) != float("inf") for v in out)
        return out


@torch.no_grad()
def _unscale_(grads: list[torch.Tensor], inv_scale: float) -> bool:
    """Multiply ``grads`` in place by ``inv_scale``; whether all of them are finite."""
    if not grads:
        return True
    finite = []
    for g in grads:
        g.mul_(inv_scale)
        finite.append(torch.isfinite(g).all())
    return bool(torch.stack(finite).all())


def _optimizers(optimizer: Optimizer) -> list[Optimizer]:
    """``optimizer`` and, for the SAM family, its base optimizer (each has its own ``state``)."""
    base = getattr(optimizer, "base_optimizer", None)
    return [optimizer] if base is None else [optimizer, base]


class _Snapshot:
    """Copies of a model's parameters and buffers and of its optimizers' state."""

    def __init__(self, model: nn.Module, optimizer: Optimizer) -> None:
        self.tensors = [*model.parameters(), *model.buffers()]
        self.saved = [t.detach().clone() for t in self.tensors]
        self.states = [
            (opt, {p: copy.deepcopy(s) for p, s in opt.state.items()})
            for opt in _optimizers(optimizer)
        ]

    @torch.no_grad()
    def restore(self) -> None:
        """Put every tensor and optimizer state back to its value at construction (bit exact)."""
        for t, saved in zip(self.tensors, self.saved, strict=True):
            t.copy_(saved)
        for opt, state in self.states:
            opt.state.clear()
            opt.state.update(state)


class Precision:
    """The precision of one run (``amp``, ``channels_last``): the wrapper, the sync, the step.

    Parameters
    ----------
    amp : {"off", "bf16", "fp16"}
        Autocast dtype of the forward passes (:data:`AMP_DTYPES`); ``fp16`` adds a
        :class:`LossScaler`.
    channels_last : bool
        Model and 4-D inputs in :data:`torch.channels_last`.
    device : torch.device
        Where the run trains (checked with :func:`check_amp`).
    """

    def __init__(self, amp: str, channels_last: bool, device: torch.device) -> None:
        check_amp(amp, device)
        self.amp, self.channels_last = amp, bool(channels_last)
        self.dtype = AMP_DTYPES.get(amp)
        self.scaler = LossScaler() if amp == "fp16" else None
        self._sync: UnscalingSync | None = None

    @property
    def active(self) -> bool:
        """Whether anything differs from a float32, contiguous run."""
        return self.dtype is not None or self.channels_last

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` with its 4-D weights in channels_last (in place) when asked; else as is."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def wrap(self, model: nn.Module) -> nn.Module:
        """The network as the steps and the evaluation call it: a :class:`PrecisionModel`, or
        ``model`` itself when the run is float32 and contiguous (bit-identical to no wrapper)."""
        if not self.active:
            return model
        return PrecisionModel(
            model, dtype=self.dtype, channels_last=self.channels_last, scaler=self.scaler
        )

    def sync(self, inner: StepSync) -> StepSync:
        """The step's ``sync``: ``inner``, or :class:`UnscalingSync` around it for float16."""
        if self.scaler is None:
            return inner
        self._sync = UnscalingSync(inner, self.scaler)
        return self._sync

    def step(
        self,
        run: Callable[[], StepResult],
        model: nn.Module,
        optimizer: Optimizer,
        *,
        unscale_grad_norm: bool = False,
    ) -> StepResult | None:
        """Run one training step ``run()``; ``None`` when float16 overflowed and it was skipped.

        For float16, ``model``'s parameters and buffers and ``optimizer``'s state are
        snapshotted before ``run`` and restored exactly after an overflow
        (:class:`GradientOverflow` from the sync hook, or a non-finite gradient norm in SAM's
        ``first_step`` when the perturbation gradient is not synced, while the losses were
        finite); then :meth:`LossScaler.update` runs. A non-finite *loss* stays an error
        (``FloatingPointError``): a forward pass that overflows is not cured by a smaller scale.
        ``unscale_grad_norm`` divides ``StepResult.grad_norm`` by the scale (the perturbation
        gradient was not unscaled: ``perturb_sync="local"``).
        """
        if self.scaler is None:
            return run()
        scale = self.scaler.scale
        snapshot = _Snapshot(model, optimizer)
        if self._sync is not None:
            self._sync.losses_finite = True
        try:
            result = run()
        except GradientOverflow:
            found_inf = True
        except FloatingPointError:
            if self._sync is None or not self._sync.losses_finite:
                raise
            found_inf = True  # SAM's first_step saw a non-finite (scaled) gradient norm
        else:
            found_inf = False
        if found_inf:
            snapshot.restore()
            optimizer.zero_grad(set_to_none=True)
        self.scaler.update(found_inf)
        if found_inf:
            return None
        if unscale_grad_norm:
            r = result
            result = StepResult(
                r.loss, r.perturbation_loss, r.grad_norm / scale, r.loss_at_perturbed
            )
        return result
