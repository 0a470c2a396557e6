"""The training loop: one call trains a method on a data set into a run folder, resumably.

A run folder holds::

    config.json   the resolved TrainConfig (a rerun with another config is refused)
    last.pt       checkpoint after the last finished epoch (weights, optimizer, RNG states, log)
    best.pt       checkpoint of the epoch with the lowest validation MAE (or bMAE)
    log.csv       one row per epoch: lr, train loss, validation MAE/bMAE per region, seconds
                  (epoch total, of which evaluation)
    metrics.json  per-region reports on val and test of the best and of the final weights

Every file is written atomically after each epoch. Rerunning :func:`train` with the same config
resumes from ``last.pt`` and ends with the same weights as an uninterrupted run (same device);
a finished run is not trained again.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from bsam._io import atomic_path, read_json, write_json
from bsam.checkpoint import load_checkpoint, save_checkpoint
from bsam.device import resolve_device
from bsam.optim import BSAM, SAM, ImbSAM, StepResult, imbsam_step, plain_step, sam_step
from bsam.progress import progress
from bsam.regions import ALL_REGIONS, FEW, ShotRegions
from bsam.train.config import METHODS, TrainConfig
from bsam.train.distributed import (
    DistContext,
    average_buffers,
    broadcast_parameters,
    ddp_imbsam_step,
    ddp_plain_step,
    ddp_sam_step,
    init_distributed,
    shard,
)
from bsam.train.evaluate import evaluate_model, split_tensors
from bsam.train.rng import capture_rng, restore_rng, seed_everything
from bsam.weights import BalanceWeights

__all__ = [
    "train",
    "TrainResult",
    "TrainCallback",
    "NonFiniteLossError",
    "ConfigMismatchError",
    "lr_factor",
    "LOG_COLUMNS",
    "METRICS_FORMAT",
]

#: Value of the ``"format"`` key of ``metrics.json``.
METRICS_FORMAT = "bsam-metrics/1"
#: Columns of ``log.csv``.
LOG_COLUMNS: tuple[str, ...] = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    *(f"val_{m}_{r}" for m in ("mae", "bmae") for r in ALL_REGIONS),
    "seconds",
    "eval_seconds",
)


class NonFiniteLossError(RuntimeError):
    """The training loss (or its gradient) became NaN/inf; the run stopped without saving.

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


class ConfigMismatchError(ValueError):
    """The run folder holds a run with another configuration."""


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


def lr_factor(schedule: str, step: int, *, steps_per_epoch: int, epochs: int) -> float:
    """Learning-rate multiplier at global step ``step`` (0-based).

    ``cosine``: :math:`\\tfrac12 (1 + \\cos(\\pi t / T))` with ``T = steps_per_epoch * epochs``
    (annealing to 0 over the run, per step); ``step``: :math:`0.1^k` with ``k`` the number of
    milestones (50% and 75% of the epochs) passed by the step's epoch; ``none``: 1.
    """
    total = steps_per_epoch * epochs
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if schedule == "step":
        epoch = step // steps_per_epoch
        return 0.1 ** sum(epoch >= m for m in (0.5 * epochs, 0.75 * epochs))
    if schedule == "none":
        return 1.0
    raise ValueError(f"Invalid schedule {schedule!r}: choose 'cosine', 'step' or 'none'")


# ---------------------------------------------------------------------------------- setup
@dataclass
class _Split:
    dataset: Any
    x: torch.Tensor | None
    y: torch.Tensor

    @property
    def eval_data(self) -> Any:
        return (self.x, self.y) if self.x is not None else self.dataset


def _load_split(cfg: TrainConfig, split: str, *, train: bool) -> _Split:
    from bsam.data import get_dataset

    kwargs = {"seed": cfg.data_seed, **cfg.data_kwargs}
    ds = get_dataset(cfg.data, split, root=cfg.root, train=train, **kwargs)
    tensors = split_tensors(ds)
    if tensors is not None:
        x, y = tensors
        return _Split(ds, x, y.float())
    targets = getattr(ds, "targets", None)
    if not isinstance(targets, torch.Tensor):
        raise ValueError(
            f"Invalid data set {cfg.data!r}: it is not held in memory and has no 'targets' tensor"
        )
    return _Split(ds, None, targets.float())


def _label_binning(ds: Any) -> dict[str, Any]:
    lower, upper = getattr(ds, "label_range", (None, None))
    return {"bin_width": float(getattr(ds, "bin_width", 1.0)), "lower": lower, "upper": upper}


def _fit_weights(
    labels: torch.Tensor, ds: Any, scheme: str, *, lds: bool, normalize: bool
) -> BalanceWeights | None:
    if scheme == "none":
        return None
    from bsam.train.config import DEFAULT_LDS

    return BalanceWeights.fit(
        labels,
        scheme=scheme,
        lds=dict(DEFAULT_LDS) if lds else None,
        normalize=normalize,
        **_label_binning(ds),
    )


def _build_model(cfg: TrainConfig) -> nn.Module:
    from bsam.models import build_model

    return build_model(cfg.model, **cfg.model_kwargs)


def _build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        base, kwargs = torch.optim.SGD, {"momentum": cfg.momentum}
    else:
        base, kwargs = torch.optim.Adam, {}
    kwargs.update(lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = METHODS[cfg.method].step
    if step == "plain":
        return base(model.parameters(), **kwargs)
    if step == "imbsam":
        return ImbSAM(model.parameters(), base, rho=cfg.rho, **kwargs)
    wrapper = BSAM if step == "bsam" else SAM
    return wrapper(model.parameters(), base, rho=cfg.rho, adaptive=cfg.adaptive, **kwargs)


def _augmenter(cfg: TrainConfig, ds: Any):
    if not cfg.augment:
        return None
    fn = getattr(ds, "augment_batch", None)
    if callable(fn):
        return fn
    from bsam.data import RegressionDataset, augment_batch

    name = getattr(ds, "name", "")
    if isinstance(ds, RegressionDataset) and name.endswith("-synth"):
        return augment_batch
    return None


def _derived_generator(seed: int, stream: int) -> torch.Generator:
    value = int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(value % 2**63)


# ------------------------------------------------------------------------------ run folder
def _check_run_folder(out_dir: Path, cfg: TrainConfig) -> None:
    config_path = out_dir / "config.json"
    if not config_path.is_file():
        if (out_dir / "last.pt").exists():
            raise ConfigMismatchError(
                f"Run folder {out_dir} holds a last.pt but no config.json, so it cannot be "
                "checked against the requested configuration; use a new --out folder"
            )
        return
    try:
        stored = TrainConfig.from_dict(read_json(config_path))
    except (TypeError, ValueError) as err:
        raise ConfigMismatchError(f"Unreadable config {config_path}: {err}") from err
    diff = stored.diff(cfg)
    if diff:
        listed = ", ".join(
            f"{k}: {a!r} in the folder vs {b!r} requested" for k, (a, b) in diff.items()
        )
        raise ConfigMismatchError(
            f"Run folder {out_dir} holds a run with a different configuration ({listed}); "
            "use a new --out folder, or delete the folder to start over"
        )


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(LOG_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def _model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _optimizer_state_to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {k: _optimizer_state_to_cpu(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_optimizer_state_to_cpu(v) for v in state]
    return state


# ------------------------------------------------------------------------------------ train
def train(
    config: TrainConfig,
    *,
    out_dir: str | os.PathLike,
    quiet: bool = False,
    callbacks: list[TrainCallback] | tuple[TrainCallback, ...] = (),
) -> TrainResult:
    """Train ``config`` into the run folder ``out_dir`` (resuming what is already there).

    Per step, with per-sample losses :math:`\\ell_i`, descent weights :math:`v_i` and balance
    weights :math:`w_i` fitted on the training split, the method (``config.method``) minimises
    :math:`\\frac1N \\sum_i v_i \\ell_i` with a plain step (vanilla, sqinv, lds), a SAM / BSAM
    step (perturbation gradient from uniform / ``w`` weights, :func:`bsam.optim.sam_step`) or an
    ImbSAM step (tail = few-shot bins, :func:`bsam.optim.imbsam_step`). Under ``torchrun`` every
    rank takes its shard of each global batch (:mod:`bsam.train.distributed`).

    Parameters
    ----------
    config : TrainConfig
        The run; resolved with :meth:`TrainConfig.resolve`.
    out_dir : path-like
        Run folder (created). If it holds the same run, training resumes from ``last.pt``, or
        nothing happens when the run is finished.
    quiet : bool
        No progress bars and no per-epoch lines.
    callbacks : sequence of TrainCallback
        Hooks called after each step and after each epoch's checkpoints are written.

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigMismatchError
        When ``out_dir`` holds a run with another configuration.
    NonFiniteLossError
        When a training loss is NaN/inf; ``last.pt`` and ``best.pt`` keep the last good epoch.
    """
    cfg = config.resolve()
    out_dir = Path(out_dir)
    device = resolve_device(cfg.device)
    ctx = init_distributed(device)
    return _Trainer(
        cfg, out_dir, ctx, quiet=quiet or not ctx.is_main, callbacks=tuple(callbacks)
    ).run()


class _Trainer:
    """State of one :func:`train` call (private; the public surface is :func:`train`)."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: Path,
        ctx: DistContext,
        *,
        quiet: bool,
        callbacks: tuple[TrainCallback, ...],
    ) -> None:
        self.cfg, self.out_dir, self.ctx, self.quiet = cfg, out_dir, ctx, quiet
        self.callbacks = callbacks
        self.device = ctx.device

    # -- small helpers ------------------------------------------------------------------
    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    @property
    def paths(self) -> dict[str, Path]:
        return {
            n: self.out_dir / f
            for n, f in (
                ("config", "config.json"),
                ("last", "last.pt"),
                ("best", "best.pt"),
                ("log", "log.csv"),
                ("metrics", "metrics.json"),
            )
        }

    # -- the run ------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, paths = self.cfg, self.paths
        _check_run_folder(self.out_dir, cfg)
        if paths["metrics"].is_file() and paths["last"].is_file():
            metrics = read_json(paths["metrics"])
            self.log(f"{self.out_dir}: run already finished ({cfg.epochs} epochs); nothing to do")
            return TrainResult(
                self.out_dir,
                cfg,
                metrics if self.ctx.is_main else {},
                epochs_completed=cfg.epochs,
                resumed_from=cfg.epochs,
                already_done=True,
            )
        self._setup()  # before writing anything: a config that cannot run leaves no folder
        self.ctx.barrier()
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_json(paths["config"], cfg.to_dict())
        start = self._resume() if paths["last"].is_file() else 0
        if start:
            self.log(f"{self.out_dir}: resuming after epoch {start}/{cfg.epochs}")
        for epoch in range(start + 1, cfg.epochs + 1):
            self._train_epoch(epoch)
        metrics = self._finish() if self.ctx.is_main else {}
        self.ctx.barrier()
        return TrainResult(
            self.out_dir, cfg, metrics, epochs_completed=cfg.epochs, resumed_from=start
        )

    def _setup(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        self.train_split = _load_split(cfg, "train", train=True)
        self.val_split = _load_split(cfg, "val", train=False)
        ds = self.train_split.dataset
        y = self.train_split.y
        binning = _label_binning(ds)
        self.regions = ShotRegions.fit(y, many=cfg.many, few=cfg.few, **binning)
        method = METHODS[cfg.method]
        self.descent_bw = _fit_weights(
            y, ds, cfg.descent_weights, lds=cfg.lds, normalize=cfg.normalize_weights
        )
        self.perturb_bw = (
            _fit_weights(y, ds, cfg.weights, lds=False, normalize=cfg.normalize_weights)
            if method.perturb_weighted
            else None
        )
        dev = self.device
        self.descent_w = None if self.descent_bw is None else self.descent_bw.weights(y).to(dev)
        self.perturb_w = None if self.perturb_bw is None else self.perturb_bw.weights(y).to(dev)
        self.tail = (self.regions.of(y) == FEW).to(dev) if method.step == "imbsam" else None
        self.train_y = y.to(dev)
        self.train_x = None if self.train_split.x is None else self.train_split.x.to(dev)
        self.augment = _augmenter(cfg, ds) if self.train_x is not None else None
        seed_everything(cfg.seed)  # right before the model: data loading may draw numbers
        self.model = _build_model(cfg).to(dev)
        broadcast_parameters(self.model, ctx)
        self.optimizer = _build_optimizer(cfg, self.model)
        self.data_gen = _derived_generator(cfg.seed, 1)
        self.aug_gen = _derived_generator(cfg.seed, 2)
        n = len(y)
        self.batches_per_epoch = len(self._batches(torch.arange(n)))
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"Invalid batch_size {cfg.batch_size}: the training split has only {n} samples "
                f"for {ctx.world_size} rank(s); use a smaller batch size"
            )
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.best_value = math.inf
        self.best_epoch = 0
        self.train_seconds = 0.0

    def _batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        """Global batches of ``order``; a last batch with fewer than 2 samples per rank is
        dropped (BatchNorm needs 2 samples to normalise in train mode)."""
        batches = list(order.split(self.cfg.batch_size))
        if batches and len(batches[-1]) < 2 * self.ctx.world_size:
            batches.pop()
        return batches

    def _resume(self) -> int:
        ckpt = load_checkpoint(self.paths["last"], map_location=self.device)
        if ckpt.get("regions") != self.regions.to_dict():
            raise ConfigMismatchError(
                f"The training data differ from those of {self.paths['last']} (other shot "
                "regions); use a new --out folder"
            )
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        state = ckpt["train_state"]
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.best_value = float(state["best_value"])
        self.best_epoch = int(state["best_epoch"])
        self.train_seconds = float(state["train_seconds"])
        restore_rng(ckpt["rng"], {"data": self.data_gen, "augment": self.aug_gen})
        return int(ckpt["epoch"])

    # -- one epoch ----------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> None:
        cfg, ctx = self.cfg, self.ctx
        started = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.train_y), generator=self.data_gen)
        batches = self._batches(order)
        loader = None
        if self.train_x is None:
            loader = iter(
                DataLoader(
                    self.train_split.dataset,
                    batch_sampler=[shard(b, ctx).tolist() for b in batches],
                    num_workers=cfg.num_workers,
                    generator=self.data_gen,
                )
            )
        first_lr = None
        loss_sum, loss_count = 0.0, 0
        bar = progress(
            enumerate(batches),
            desc=f"epoch {epoch}/{cfg.epochs}",
            total=len(batches),
            quiet=self.quiet,
        )
        for b, idx in bar:
            lr = cfg.lr * lr_factor(
                cfg.schedule, self.step, steps_per_epoch=self.batches_per_epoch, epochs=cfg.epochs
            )
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            first_lr = lr if first_lr is None else first_lr
            x, y, local = self._batch(idx, loader)
            try:
                result = self._step(x, y, local, global_count=self._count(idx))
            except FloatingPointError as err:
                raise self._nonfinite(epoch, b, math.nan, str(err)) from err
            if not (math.isfinite(result.loss) and math.isfinite(result.perturbed_loss)):
                raise self._nonfinite(epoch, b, result.loss, "")
            self.step += 1
            loss_sum += result.loss * len(idx)
            loss_count += len(idx)
            for cb in self.callbacks:
                cb.on_step_end(epoch, self.step, result)
        average_buffers(self.model, ctx)
        row: dict[str, float] = {}
        if ctx.is_main:
            eval_started = time.perf_counter()
            val = evaluate_model(
                self.model,
                self.val_split.eval_data,
                self.regions,
                batch_size=cfg.eval_batch_size,
                device=self.device,
                num_workers=cfg.num_workers,
            )
            now = time.perf_counter()
            seconds, eval_seconds = now - started, now - eval_started
            self.train_seconds += seconds
            row = {
                "epoch": epoch,
                "step": self.step,
                "lr": first_lr,
                "train_loss": loss_sum / max(loss_count, 1),
                **{f"val_{m}_{r}": val[r][m] for m in ("mae", "bmae") for r in ALL_REGIONS},
                "seconds": seconds,
                "eval_seconds": eval_seconds,
            }
            self.history.append(row)
            value = val["all"][cfg.select]
            if value < self.best_value:
                self.best_value, self.best_epoch = value, epoch
                save_checkpoint(self.paths["best"], self._checkpoint(epoch, val, training=False))
            save_checkpoint(self.paths["last"], self._checkpoint(epoch, val, training=True))
            _write_log(self.paths["log"], self.history)
            many, med, few = (val[r]["mae"] for r in ("many", "medium", "few"))
            self.log(
                f"epoch {epoch}/{cfg.epochs}  loss {row['train_loss']:.4f}  val MAE "
                f"{val['all']['mae']:.3f} (many {many:.3f} / medium {med:.3f} / few {few:.3f})  "
                f"{cfg.select} best {self.best_value:.3f} @ {self.best_epoch}  {seconds:.1f}s"
            )
        ctx.barrier()
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, row, self.model)

    def _count(self, idx: torch.Tensor) -> int:
        per_sample = self.train_y[0].numel() if self.train_y.dim() > 1 else 1
        return len(idx) * per_sample

    def _batch(self, idx: torch.Tensor, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        local = shard(idx, self.ctx)
        if loader is not None:
            x, y = next(loader)
            return x.to(self.device, non_blocking=True), y.float().to(self.device), local
        if self.augment is not None:
            # augment the global batch, so a sample's augmentation does not depend on the rank
            x = self.augment(self.train_x[idx.to(self.train_x.device)], self.aug_gen)
            x = shard(x, self.ctx)
        else:
            x = self.train_x[local.to(self.train_x.device)]
        return x, self.train_y[local.to(self.device)], local

    def _step(
        self, x: torch.Tensor, y: torch.Tensor, local: torch.Tensor, *, global_count: int
    ) -> StepResult:
        cfg, ctx = self.cfg, self.ctx
        local = local.to(self.device)
        dw = None if self.descent_w is None else self.descent_w[local]
        kind = METHODS[cfg.method].step
        if kind == "plain":
            if ctx.distributed:
                return ddp_plain_step(
                    self.model,
                    self.optimizer,
                    x,
                    y,
                    cfg.descent_loss,
                    weights=dw,
                    global_count=global_count,
                    ctx=ctx,
                )
            return plain_step(self.model, self.optimizer, x, y, cfg.descent_loss, weights=dw)
        if kind == "imbsam":
            tail = self.tail[local]
            if ctx.distributed:
                return ddp_imbsam_step(
                    self.model,
                    self.optimizer,
                    x,
                    y,
                    cfg.descent_loss,
                    tail_mask=tail,
                    weights=dw,
                    global_count=global_count,
                    ctx=ctx,
                    perturb_sync=cfg.perturb_sync,
                    bn_mode=cfg.bn_mode,
                )
            return imbsam_step(
                self.model,
                self.optimizer,
                x,
                y,
                cfg.descent_loss,
                tail_mask=tail,
                weights=dw,
                bn_mode=cfg.bn_mode,
            )
        pw = None if self.perturb_w is None else self.perturb_w[local]
        if ctx.distributed:
            return ddp_sam_step(
                self.model,
                self.optimizer,
                x,
                y,
                cfg.descent_loss,
                perturb_weights=pw,
                descent_weights=dw,
                global_count=global_count,
                ctx=ctx,
                perturb_sync=cfg.perturb_sync,
                bn_mode=cfg.bn_mode,
            )
        return sam_step(
            self.model,
            self.optimizer,
            x,
            y,
            cfg.descent_loss,
            perturb_weights=pw,
            descent_weights=dw,
            bn_mode=cfg.bn_mode,
        )

    def _nonfinite(self, epoch: int, batch: int, value: float, detail: str) -> NonFiniteLossError:
        kept = (
            f"the last good checkpoint is {self.paths['last']} (epoch {epoch - 1})"
            if epoch > 1
            else "no checkpoint was written"
        )
        message = (
            f"Non-finite training loss ({value}) at epoch {epoch}, step {self.step + 1}, batch "
            f"{batch} of {self.batches_per_epoch}; the run stopped and {kept}. Lower the "
            f"learning rate (lr={self.cfg.lr}) or rho, or check the data for NaN/inf"
            + (f" ({detail})" if detail else "")
        )
        return NonFiniteLossError(
            message, epoch=epoch, step=self.step + 1, batch=batch, value=value
        )

    # -- checkpoints and the end --------------------------------------------------------
    def _checkpoint(self, epoch: int, val: dict, *, training: bool) -> dict[str, Any]:
        cfg = self.cfg
        ckpt: dict[str, Any] = {
            "model": {"name": cfg.model, "kwargs": dict(cfg.model_kwargs)},
            "model_state": _model_state(self.model),
            "epoch": epoch,
            "config": cfg.to_dict(),
            "data": {
                "name": cfg.data,
                "root": cfg.root,
                "kwargs": {"seed": cfg.data_seed, **cfg.data_kwargs},
            },
            "regions": self.regions.to_dict(),
            "weights": {
                "descent": None if self.descent_bw is None else self.descent_bw.to_dict(),
                "perturb": None if self.perturb_bw is None else self.perturb_bw.to_dict(),
            },
            "metrics": {
                "val": val,
                "select": cfg.select,
                "best_epoch": self.best_epoch,
                "best_value": self.best_value,
            },
        }
        if training:
            ckpt["optimizer_state"] = _optimizer_state_to_cpu(self.optimizer.state_dict())
            ckpt["scheduler_state"] = {"schedule": cfg.schedule, "step": self.step}
            ckpt["train_state"] = {
                "step": self.step,
                "history": self.history,
                "best_value": self.best_value,
                "best_epoch": self.best_epoch,
                "train_seconds": self.train_seconds,
            }
            ckpt["rng"] = capture_rng({"data": self.data_gen, "augment": self.aug_gen})
        return ckpt

    def _finish(self) -> dict[str, Any]:
        cfg = self.cfg
        test_split = _load_split(cfg, "test", train=False)
        kw = {
            "batch_size": cfg.eval_batch_size,
            "device": self.device,
            "num_workers": cfg.num_workers,
        }
        final = {
            "epoch": cfg.epochs,
            "val": evaluate_model(self.model, self.val_split.eval_data, self.regions, **kw),
            "test": evaluate_model(self.model, test_split.eval_data, self.regions, **kw),
        }
        best_ckpt = load_checkpoint(self.paths["best"], map_location=self.device)
        self.model.load_state_dict(best_ckpt["model_state"])
        best = {
            "epoch": int(best_ckpt["epoch"]),
            "val": evaluate_model(self.model, self.val_split.eval_data, self.regions, **kw),
            "test": evaluate_model(self.model, test_split.eval_data, self.regions, **kw),
        }
        metrics = {
            "format": METRICS_FORMAT,
            "select": cfg.select,
            "best": best,
            "final": final,
            "regions": self.regions.to_dict(),
            "train_seconds": self.train_seconds,
            "config": cfg.to_dict(),
        }
        write_json(self.paths["metrics"], metrics)
        t = best["test"]
        self.log(
            f"{self.out_dir}: done. best epoch {best['epoch']} ({cfg.select}); test MAE "
            f"{t['all']['mae']:.3f} (many {t['many']['mae']:.3f} / medium "
            f"{t['medium']['mae']:.3f} / few {t['few']['mae']:.3f})"
        )
        return metrics
