"""The learning-rate schedule of a run: a ``torch.optim.lr_scheduler.LambdaLR`` stepped per step.

With base rate :math:`\\eta` (``TrainConfig.lr``), ``S`` steps per epoch, ``E`` epochs,
:math:`T = S E` steps in all and ``t`` the 0-based global step, the rate of step ``t`` is
:math:`\\eta\\, f(t)` with

* ``cosine``: :math:`f(t) = \\tfrac12 (1 + \\cos(\\pi \\min(t, T) / T))` (per step, to 0 at ``T``);
* ``step``: :math:`f(t) = 0.1^k`, ``k`` the number of milestones (50% and 75% of the epochs)
  that the epoch ``floor(t / S)`` has reached;
* ``cosine-epoch`` (Rank-N-Contrast, kaiwenzha/Rank-N-Contrast ``utils.py``
  ``adjust_learning_rate``, called at the start of every epoch ``e = 1..E`` by ``main_l1.py``;
  the official BSAM code calls the same function): with ``m = lr_min_factor`` and the 1-based
  epoch :math:`e = \\min(\\lfloor t / S \\rfloor + 1, E)`,
  :math:`f(t) = m + (1 - m) \\tfrac12 (1 + \\cos(\\pi e / E))`, constant within an epoch, so the
  first epoch already runs below :math:`\\eta` and the last one at :math:`\\eta m`
  (``lr_min = lr * lr_decay_rate**3`` there, ``m = 1e-3``);
* ``dir-step`` (DIR's NYUD2 code, YyzHarry/imbalanced-regression ``nyud2-dir/train.py``
  ``adjust_learning_rate``): :math:`f(t) = 0.1^{\\lfloor \\epsilon / 5 \\rfloor}` with the 0-based
  epoch :math:`\\epsilon = \\lfloor t / S \\rfloor` (x0.1 every 5 epochs);
* ``none``: :math:`f(t) = 1`.

A schedule is usable in a run once :data:`bsam.train.config.SCHEDULES` lists it; :class:`LRFactor`
accepts every schedule it can compute (:data:`SCHEDULE_FACTORS`).

``LambdaLR`` evaluates :math:`\\eta f(t)` in closed form at every step (no running product), so
the rates are those of the formula to the last bit. The scheduler's state is stored in
``last.pt`` under ``scheduler_state`` as ``{"schedule", "step", "torch"}``; a checkpoint of the
older loop (``{"schedule", "step"}`` alone) resumes too.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = [
    "SCHEDULE_FACTORS",
    "LRFactor",
    "build_scheduler",
    "scheduler_state",
    "load_scheduler_state",
    "lr_factor",
]


#: The schedules :class:`LRFactor` computes (the module docstring gives each formula).
SCHEDULE_FACTORS: tuple[str, ...] = ("cosine", "step", "none", "cosine-epoch", "dir-step")


@dataclass(frozen=True)
class LRFactor:
    """The multiplier :math:`f(t)` of one schedule (module docstring); a picklable callable.

    ``lr_min_factor`` is the floor ``m`` of ``cosine-epoch`` (ignored by the other schedules).
    """

    schedule: str
    steps_per_epoch: int
    epochs: int
    lr_min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULE_FACTORS:
            raise ValueError(
                f"Invalid schedule {self.schedule!r}: choose one of {list(SCHEDULE_FACTORS)}"
            )
        if not 0.0 <= self.lr_min_factor < 1.0:
            raise ValueError(
                f"Invalid lr_min_factor {self.lr_min_factor}: must be in [0, 1) (e.g. 1e-3)"
            )

    def __call__(self, step: int) -> float:
        """:math:`f(t)` at 0-based global step ``step``."""
        if self.schedule == "cosine":
            total = self.steps_per_epoch * self.epochs
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if self.schedule == "step":
            epoch = step // self.steps_per_epoch
            return 0.1 ** sum(epoch >= m for m in (0.5 * self.epochs, 0.75 * self.epochs))
        if self.schedule == "cosine-epoch":
            epoch = min(step // self.steps_per_epoch + 1, self.epochs)  # 1-based, as RnC's
            m = self.lr_min_factor
            return m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        if self.schedule == "dir-step":
            return 0.1 ** (step // self.steps_per_epoch // 5)
        return 1.0


def lr_factor(schedule: str, step: int, *, steps_per_epoch: int, epochs: int) -> float:
    """Deprecated: the multiplier :math:`f(t)` of ``schedule`` at step ``step``; use
    :class:`LRFactor` (or :func:`build_scheduler`)."""
    warnings.warn(
        "bsam.train.loop.lr_factor is deprecated; use bsam.train.schedule.LRFactor",
        DeprecationWarning,
        stacklevel=2,
    )
    return LRFactor(schedule, steps_per_epoch, epochs)(step)


def build_scheduler(
    optimizer: Optimizer,
    schedule: str,
    *,
    steps_per_epoch: int,
    epochs: int,
    lr_min_factor: float = 0.0,
) -> LambdaLR:
    """A ``LambdaLR`` on ``optimizer`` giving step ``t`` the rate ``lr * f(t)``.

    Call its ``step()`` after every optimizer step. The optimizer's current ``lr`` of each group
    is the base rate :math:`\\eta`; ``lr_min_factor`` is the floor of ``cosine-epoch``
    (``TrainConfig.lr_min_factor``).
    """
    return LambdaLR(optimizer, LRFactor(schedule, steps_per_epoch, epochs, lr_min_factor))


def scheduler_state(scheduler: LambdaLR, schedule: str, step: int) -> dict[str, Any]:
    """What ``last.pt`` stores under ``scheduler_state``: the schedule, the step and torch's state.

    ``step`` (the number of steps taken) is kept beside torch's ``state_dict`` for readers of
    the older layout.
    """
    state = scheduler.state_dict()
    state["lr_lambdas"] = [None] * len(state["lr_lambdas"])  # rebuilt from the config
    return {"schedule": schedule, "step": int(step), "torch": state}


def load_scheduler_state(scheduler: LambdaLR, state: dict[str, Any], step: int) -> None:
    """Continue ``scheduler`` from a stored ``scheduler_state`` after ``step`` steps.

    A state without ``"torch"`` (written by the older loop, which set the rate by hand) puts the
    scheduler at step ``step`` and the rate of every group to ``lr * f(step)``.
    """
    if "torch" in state:
        scheduler.load_state_dict(state["torch"])
        return
    scheduler.last_epoch = int(step)
    factors = scheduler.lr_lambdas
    rates = [base * f(scheduler.last_epoch) for base, f in zip(scheduler.base_lrs, factors)]
    for group, rate in zip(scheduler.optimizer.param_groups, rates):
        group["lr"] = rate
    scheduler._last_lr = rates  # what get_last_lr() reports
