"""The training loop: one call trains a method on a data set into a run folder, resumably.

The run folder (:mod:`bsam.train.run_folder`) holds ``config.json``, ``last.pt``, ``best.pt``
(:mod:`bsam.train.checkpointing`), ``log.csv`` (:mod:`bsam.train.log`) and ``metrics.json``,
each written atomically after each epoch. Rerunning :func:`train` with the same config resumes
from ``last.pt`` and ends with the same weights as an uninterrupted run (same device); a finished
run is not trained again. What a step does is the method's :class:`~bsam.train.methods.UpdateRule`;
the learning rate follows :mod:`bsam.train.schedule`; the batches come from
:mod:`bsam.train.training_data`.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bsam._io import read_json, write_json
from bsam.checkpoint import load_checkpoint, load_weights, save_checkpoint
from bsam.device import resolve_device
from bsam.distributed import (
    LOCAL_SYNC,
    AllReduceSync,
    DistContext,
    average_buffers,
    broadcast_parameters,
    init_process_group,
)
from bsam.optim import StepResult
from bsam.progress import progress
from bsam.regions import LabelHistogram, fit_training_regions
from bsam.train.checkpointing import Progress, build_checkpoint, nonfinite_entries
from bsam.train.config import TrainConfig
from bsam.train.evaluate import evaluate_model
from bsam.train.log import LOG_COLUMNS, epoch_row, write_log
from bsam.train.methods import update_rule
from bsam.train.precision import Precision
from bsam.train.result import NonFiniteLossError, TrainCallback, TrainResult
from bsam.train.rng import capture_rng, restore_rng, seed_everything
from bsam.train.run_folder import (
    METRICS_FORMAT,
    ConfigMismatchError,
    RunPaths,
    check_run_folder,
)
from bsam.train.schedule import (
    build_scheduler,
    load_scheduler_state,
    lr_factor,
    scheduler_state,
)
from bsam.train.tensorboard import TENSORBOARD_DIR, TensorBoardLogger, require_tensorboard
from bsam.train.training_data import BatchSource, derived_generator, global_batches, label_binning
from bsam.train.training_data import load_split as _load_split

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
    ctx = init_process_group(resolve_device(cfg.device))
    quiet = quiet or not ctx.is_main
    return _Trainer(cfg, Path(out_dir), ctx, quiet=quiet, callbacks=tuple(callbacks)).run()


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
        self.paths = RunPaths.of(out_dir)
        self.rule = update_rule(cfg.method)
        self.sync = AllReduceSync(ctx) if ctx.distributed else LOCAL_SYNC
        self.tensorboard: TensorBoardLogger | None = None

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    # -- the run ------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, paths, ctx = self.cfg, self.paths, self.ctx
        check_run_folder(self.out_dir, cfg)
        if paths.finished:
            metrics = read_json(paths.metrics) if ctx.is_main else {}
            self.log(f"{self.out_dir}: run already finished ({cfg.epochs} epochs); nothing to do")
            done = {"epochs_completed": cfg.epochs, "resumed_from": cfg.epochs}
            return TrainResult(self.out_dir, cfg, metrics, **done, already_done=True)
        if cfg.tensorboard and ctx.is_main:
            require_tensorboard()
        self._setup()  # before writing anything: a config that cannot run leaves no folder
        ctx.barrier()
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_json(paths.config, cfg.to_dict())
        start = self._resume() if paths.last.is_file() else 0
        if start:
            self.log(f"{self.out_dir}: resuming after epoch {start}/{cfg.epochs}")
        try:
            self._open_tensorboard()
            for epoch in range(start + 1, cfg.epochs + 1):
                self._train_epoch(epoch)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
        metrics = self._finish() if ctx.is_main else {}
        ctx.barrier()
        done = {"epochs_completed": cfg.epochs, "resumed_from": start}
        return TrainResult(self.out_dir, cfg, metrics, **done)

    def _setup(self) -> None:
        cfg, ctx, dev = self.cfg, self.ctx, self.device
        self._setup_precision()
        self.train_split = _load_split(cfg, "train", train=True)
        self.val_split = _load_split(cfg, "val", train=False)
        y = self.train_split.y
        binning = label_binning(self.train_split.dataset)
        self.regions, counted = fit_training_regions(
            self.train_split.dataset, y, many=cfg.many, few=cfg.few, **binning
        )  # NYUD2-DIR: its bucket lists, and weights from its per-pixel histogram
        self.weights = self.rule.fit_weights(cfg, counted, binning)
        # per-pixel rows of a data set counted by histogram are looked up per batch (_step)
        self.rows_per_batch = isinstance(counted, LabelHistogram)
        columns = {} if self.rows_per_batch else self.rule.columns(y, self.weights, self.regions)
        self.columns = {k: v.to(dev) for k, v in columns.items()}
        self.data_gen = derived_generator(cfg.seed, 1)
        self.aug_gen = derived_generator(cfg.seed, 2)
        self.source = BatchSource(
            cfg, self.train_split, ctx, aug_gen=self.aug_gen, data_gen=self.data_gen
        )
        seed_everything(cfg.seed)  # right before the model: data loading may draw numbers
        self.model = self.precision.prepare(self._build_model().to(dev))
        self.net = self.precision.wrap(self.model)  # what the steps and the evaluation call
        broadcast_parameters(self.model, ctx)
        self.optimizer = self.rule.build_optimizer(cfg, self.model)
        n = self.train_split.num_samples
        self.batches_per_epoch = len(
            global_batches(torch.arange(n), cfg.batch_size, ctx.world_size)
        )
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"Invalid batch_size {cfg.batch_size}: the training split has only {n} samples "
                f"for {ctx.world_size} rank(s); use a smaller batch size"
            )
        self.scheduler = build_scheduler(
            self.optimizer,
            cfg.schedule,
            steps_per_epoch=self.batches_per_epoch,
            epochs=cfg.epochs,
            lr_min_factor=cfg.lr_min_factor,
        )
        self.progress = Progress()

    def _setup_precision(self) -> None:
        """``cfg.amp`` / ``cfg.channels_last`` (:mod:`bsam.train.precision`): checked against the
        device, and for float16 the loss-scaling ``sync`` hook around the ranks' one."""
        cfg = self.cfg
        self.precision = Precision(cfg.amp, cfg.channels_last, self.device)
        local = self.rule.two_pass and cfg.perturb_sync == "local"
        if self.precision.scaler is not None and local and self.ctx.distributed:
            raise ValueError(
                "Invalid amp 'fp16' with perturb_sync 'local' under torchrun: an overflow of one "
                "rank's own perturbation gradient would desynchronise the ranks; use --amp bf16 "
                "or --perturb-sync global"
            )
        self.step_sync = self.precision.sync(self.sync)

    def _open_tensorboard(self) -> None:
        """On rank 0 with ``cfg.tensorboard``: a logger whose ``purge_step`` (the resumed step
        + 1) hides what an interrupted session logged after the last checkpoint."""
        if self.cfg.tensorboard and self.ctx.is_main:
            self.tensorboard = TensorBoardLogger(
                self.out_dir / TENSORBOARD_DIR,
                steps=self.cfg.tensorboard_steps,
                purge_step=self.progress.step + 1,
            )
            self.callbacks = (*self.callbacks, self.tensorboard)

    def _build_model(self) -> nn.Module:
        from bsam.models import build_model

        return build_model(self.cfg.model, **self.cfg.model_kwargs)

    def _resume(self) -> int:
        ckpt = load_checkpoint(self.paths.last, map_location=self.device)
        if ckpt.get("regions") != self.regions.to_dict():
            raise ConfigMismatchError(
                f"The training data differ from those of {self.paths.last} (other shot "
                "regions); use a new --out folder"
            )
        requested = f"{self.cfg.model} {self.cfg.model_kwargs}"
        load_weights(
            self.model,
            ckpt["model_state"],
            source=self.paths.last,
            stored=ckpt.get("model"),
            requested=requested,
        )
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.progress = Progress.from_dict(ckpt["train_state"])
        load_scheduler_state(self.scheduler, ckpt["scheduler_state"], self.progress.step)
        restore_rng(ckpt["rng"], {"data": self.data_gen, "augment": self.aug_gen})
        if self.precision.scaler is not None and "amp_scaler" in ckpt:
            self.precision.scaler.load_state_dict(ckpt["amp_scaler"])
        return int(ckpt["epoch"])

    # -- one epoch ----------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> None:
        cfg, ctx, state = self.cfg, self.ctx, self.progress
        started = time.perf_counter()
        self.model.train()
        order = torch.randperm(self.source.num_samples, generator=self.data_gen)
        batches = global_batches(order, cfg.batch_size, ctx.world_size)
        self.source.start_epoch(batches)
        first_lr = self.optimizer.param_groups[0]["lr"]
        loss_sum, loss_count = 0.0, 0
        desc = f"epoch {epoch}/{cfg.epochs}"
        for b, idx in progress(enumerate(batches), desc=desc, total=len(batches), quiet=self.quiet):
            result = self._step(epoch, b, idx)
            state.step += 1
            if result is None:  # float16 overflow: the update was skipped (precision.py)
                continue
            loss_sum += result.loss * len(idx)
            loss_count += len(idx)
            for cb in self.callbacks:
                cb.on_step_end(epoch, state.step, result)
        average_buffers(self.model, ctx)
        bad = nonfinite_entries(self.model)  # same on every rank (synced weights and buffers)
        if bad:  # never write a checkpoint that cannot be evaluated; the old files stay
            shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
            what = f"Non-finite weights or buffers ({shown}) after epoch {epoch}, batch"
            raise self._nonfinite(epoch, len(batches) - 1, math.nan, "", what=what)
        row: dict[str, float] = {}
        if ctx.is_main:
            eval_started = time.perf_counter()
            val = evaluate_model(
                self.net,
                self.val_split.eval_data,
                self.regions,
                batch_size=cfg.eval_batch_size,
                device=self.device,
                num_workers=cfg.num_workers,
            )
            now = time.perf_counter()
            seconds = now - started
            state.train_seconds += seconds
            train_loss = loss_sum / max(loss_count, 1)
            timing = {"seconds": seconds, "eval_seconds": now - eval_started}
            row = epoch_row(epoch, state.step, first_lr, train_loss, val, **timing)
            state.history.append(row)
            if self.tensorboard is not None:  # before the checkpoint: see bsam.train.tensorboard
                self.tensorboard.log_epoch(row)
            self._save(epoch, val)
            many, med, few = (val[r]["mae"] for r in ("many", "medium", "few"))
            self.log(
                f"epoch {epoch}/{cfg.epochs}  loss {train_loss:.4f}  val MAE "
                f"{val['all']['mae']:.3f} (many {many:.3f} / medium {med:.3f} / few {few:.3f})  "
                f"{cfg.select} best {state.best_value:.3f} @ {state.best_epoch}  {seconds:.1f}s"
            )
        ctx.barrier()
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, row, self.model)

    def _step(self, epoch: int, b: int, idx: torch.Tensor) -> StepResult | None:
        """One optimizer step on global batch ``idx`` (batch ``b`` of ``epoch``), then the
        scheduler's step; a non-finite loss becomes :class:`NonFiniteLossError`. ``None``: a
        float16 step skipped after a gradient overflow (the scheduler still steps)."""
        x, y, local = self.source.get(idx)
        local = local.to(self.device)
        if self.rows_per_batch:
            rows = self.rule.columns(y, self.weights, self.regions)
        else:
            rows = {k: v[local] for k, v in self.columns.items()}
        count = self.source.count(idx)
        cfg = self.cfg

        def step() -> StepResult:
            batch = (x, y)
            sync = self.step_sync
            return self.rule.step(self.net, self.optimizer, batch, rows, cfg, sync=sync, count=count)

        unsynced_perturbation = self.rule.two_pass and cfg.perturb_sync == "local"
        try:
            result = self.precision.step(
                step, self.model, self.optimizer, unscale_grad_norm=unsynced_perturbation
            )
        except FloatingPointError as err:
            raise self._nonfinite(epoch, b, math.nan, str(err)) from err
        if result is None:  # the schedule advances anyway, as with torch.amp.GradScaler
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
                self.scheduler.step()
            return None
        if not (math.isfinite(result.loss) and math.isfinite(result.loss_at_perturbed)):
            raise self._nonfinite(epoch, b, result.loss, "")
        self.scheduler.step()
        return result

    def _nonfinite(
        self, epoch: int, batch: int, value: float, detail: str, *, what: str = ""
    ) -> NonFiniteLossError:
        step = self.progress.step + (0 if what else 1)
        kept = (
            f"the last good checkpoint is {self.paths.last} (epoch {epoch - 1})"
            if epoch > 1
            else "no checkpoint was written"
        )
        what = what or f"Non-finite training loss ({value}) at epoch {epoch}, step {step}, batch"
        message = (
            f"{what} {batch} of {self.batches_per_epoch}; the run stopped and {kept}. Lower the "
            f"learning rate (lr={self.cfg.lr}) or rho, or check the data for NaN/inf"
            + (f" ({detail})" if detail else "")
        )
        return NonFiniteLossError(message, epoch=epoch, step=step, batch=batch, value=value)

    # -- checkpoints and the end --------------------------------------------------------
    def _save(self, epoch: int, val: dict) -> None:
        cfg, state = self.cfg, self.progress
        common = {"regions": self.regions, "weights": self.weights, "val": val, "progress": state}
        value = val["all"][cfg.select]
        if value < state.best_value:
            state.best_value, state.best_epoch = value, epoch
            save_checkpoint(self.paths.best, build_checkpoint(cfg, self.model, epoch, **common))
        resume = {
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": scheduler_state(self.scheduler, cfg.schedule, state.step),
            "rng": capture_rng({"data": self.data_gen, "augment": self.aug_gen}),
        }
        ckpt = build_checkpoint(cfg, self.model, epoch, **common, resume=resume)
        if self.precision.scaler is not None:  # the loss scale, for an exact resume
            ckpt["amp_scaler"] = self.precision.scaler.state_dict()
        save_checkpoint(self.paths.last, ckpt)
        write_log(self.paths.log, state.history)

    def _finish(self) -> dict[str, Any]:
        cfg = self.cfg
        test_split = _load_split(cfg, "test", train=False)
        kw = {"batch_size": cfg.eval_batch_size, "device": self.device}
        kw["num_workers"] = cfg.num_workers

        def reports(epoch: int) -> dict[str, Any]:
            val = evaluate_model(self.net, self.val_split.eval_data, self.regions, **kw)
            test = evaluate_model(self.net, test_split.eval_data, self.regions, **kw)
            return {"epoch": epoch, "val": val, "test": test}

        final = reports(cfg.epochs)
        best_ckpt = load_checkpoint(self.paths.best, map_location=self.device)
        self.model.load_state_dict(best_ckpt["model_state"])
        best = reports(int(best_ckpt["epoch"]))
        metrics = {
            "format": METRICS_FORMAT,
            "select": cfg.select,
            "best": best,
            "final": final,
            "regions": self.regions.to_dict(),
            "train_seconds": self.progress.train_seconds,
            "config": cfg.to_dict(),
        }
        write_json(self.paths.metrics, metrics)
        t = best["test"]
        self.log(
            f"{self.out_dir}: done. best epoch {best['epoch']} ({cfg.select}); test MAE "
            f"{t['all']['mae']:.3f} (many {t['many']['mae']:.3f} / medium "
            f"{t['medium']['mae']:.3f} / few {t['few']['mae']:.3f})"
        )
        return metrics
