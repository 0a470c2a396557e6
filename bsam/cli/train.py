"""``bsam train``: train one method on one data set into a run folder (resumable)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsam.train.config import TrainConfig

from bsam.cli.options import LOSS_NAMES, add_command

__all__ = ["register", "run", "config_from_args"]


# Literal copies of bsam.train.config's choices and TrainConfig's defaults, so that
# `bsam train --help` does not import torch (bsam.train imports it); tests/bsam/test_train_cli.py
# checks that they equal the library's.
METHODS: tuple[str, ...] = ("vanilla", "sqinv", "lds", "sam", "imbsam", "imbsam-mean", "bsam")
DESCENT_LOSSES: tuple[str, ...] = LOSS_NAMES
WEIGHT_SCHEMES: tuple[str, ...] = ("none", "sqrt_inv", "inv")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
SCHEDULES: tuple[str, ...] = ("cosine", "step", "none", "cosine-epoch", "dir-step")
SELECT_METRICS: tuple[str, ...] = ("mae", "bmae", "rmse")
PRESETS: tuple[str, ...] = ("bsam-official",)
PERTURB_SYNC: tuple[str, ...] = ("global", "local")
BN_MODES: tuple[str, ...] = ("first", "second", "both", "none")
AMP_MODES: tuple[str, ...] = ("off", "bf16", "fp16")

#: ``TrainConfig()``'s value of every field that a flag sets (shown as the flag's default). The
#: fields a preset fixes are ``None`` (unset) until ``TrainConfig.resolve``; their help names the
#: value they then take.
DEFAULTS: dict[str, Any] = {
    "data": "agedb-synth",
    "root": None,
    "data_seed": 0,
    "data_kwargs": {},
    "model": "resnet8",
    "model_kwargs": {},
    "method": None,
    "descent_loss": None,
    "weights": None,
    "descent_weights": None,
    "lds": None,
    "normalize_weights": None,
    "rho": None,
    "adaptive": None,
    "epochs": 8,
    "lr": 0.05,
    "batch_size": 128,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "seed": 0,
    "select": "mae",
    "preset": None,
    "perturb_sync": "global",
    "bn_mode": None,
    "many": 100,
    "few": 20,
    "augment": True,
    "eval_batch_size": 1024,
    "num_workers": 0,
    "device": "auto",
    "amp": "off",
    "channels_last": False,
    "tensorboard": False,
    "tensorboard_steps": False,
}

_PRESET = "; --preset: the preset's value)"

#: (flag, config field, argparse options) of every option that maps onto a TrainConfig field.
_OPTIONS: tuple[tuple[str, str, dict], ...] = (
    ("--data", "data", {"help": "data set name (bsam.data.DATASETS)"}),
    ("--root", "root", {"help": "folder of a real data set on disk"}),
    ("--data-seed", "data_seed", {"type": int, "help": "seed of a generated data set"}),
    (
        "--data-kwargs",
        "data_kwargs",
        {
            "type": lambda s: _json_object("--data-kwargs", s),
            "metavar": "JSON",
            "help": "data set options, a JSON object",
        },
    ),
    ("--model", "model", {"help": "model name (bsam.models.MODELS)"}),
    (
        "--model-kwargs",
        "model_kwargs",
        {
            "type": lambda s: _json_object("--model-kwargs", s),
            "metavar": "JSON",
            "help": "model options, a JSON object, e.g. '{\"hidden\": [64]}'",
        },
    ),
    (
        "--method",
        "method",
        {"choices": list(METHODS), "help": "training method (default: vanilla" + _PRESET},
    ),
    (
        "--descent-loss",
        "descent_loss",
        {
            "choices": list(DESCENT_LOSSES),
            "help": "element-wise loss of the descent pass (default: l1" + _PRESET,
        },
    ),
    (
        "--weights",
        "weights",
        {
            "choices": list(WEIGHT_SCHEMES),
            "help": "balance scheme: BSAM perturbation / sqinv, lds descent (default: sqrt_inv"
            + _PRESET,
        },
    ),
    (
        "--descent-weights",
        "descent_weights",
        {
            "choices": list(WEIGHT_SCHEMES),
            "help": "descent-loss weights (default by method: vanilla none, sqinv/lds --weights, "
            "sam/imbsam/bsam sqrt_inv)",
        },
    ),
    (
        "--lds",
        "lds",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "LDS-smooth the descent weights (default: on for --method lds)",
        },
    ),
    (
        "--normalize-weights",
        "normalize_weights",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "rescale balance weights to mean 1 (--no-normalize-weights: raw 1/n^p) "
            "(default: on" + _PRESET,
        },
    ),
    (
        "--rho",
        "rho",
        {"type": float, "help": "SAM radius (default: 0.05; --preset bsam-official: 0.2 AgeDB)"},
    ),
    (
        "--adaptive",
        "adaptive",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "ASAM (|theta|-scaled) perturbation (default: off" + _PRESET,
        },
    ),
    ("--epochs", "epochs", {"type": int, "help": "training epochs"}),
    ("--lr", "lr", {"type": float, "help": "base learning rate"}),
    ("--batch-size", "batch_size", {"type": int, "help": "global batch size (all ranks)"}),
    ("--optimizer", "optimizer", {"choices": list(OPTIMIZERS), "help": "base optimizer"}),
    ("--momentum", "momentum", {"type": float, "help": "SGD momentum"}),
    ("--weight-decay", "weight_decay", {"type": float, "help": "L2 weight decay"}),
    (
        "--schedule",
        "schedule",
        {
            "choices": list(SCHEDULES),
            "help": "learning-rate schedule: cosine to 0, step (x0.1 at 50%% and 75%%), none",
        },
    ),
    (
        "--seed",
        "seed",
        {"type": int, "help": "seed of initialisation, data order and augmentation"},
    ),
    (
        "--select",
        "select",
        {"choices": list(SELECT_METRICS), "help": "validation metric that picks best.pt"},
    ),
    (
        "--preset",
        "preset",
        {
            "choices": list(PRESETS),
            "help": "the official BSAM configuration (raw weights, ...); a flag it fixes may be "
            "given only with the preset's value",
        },
    ),
    (
        "--perturb-sync",
        "perturb_sync",
        {
            "choices": list(PERTURB_SYNC),
            "help": "DDP: perturb with the global (all-reduced) gradient or each rank's own",
        },
    ),
    (
        "--bn-mode",
        "bn_mode",
        {
            "choices": list(BN_MODES),
            "help": "which SAM pass updates BatchNorm running statistics (default: by method, "
            "both for imbsam, else first" + _PRESET,
        },
    ),
    ("--many", "many", {"type": int, "help": "many-shot: bins with more training samples"}),
    ("--few", "few", {"type": int, "help": "few-shot (ImbSAM tail): bins with fewer"}),
    (
        "--augment",
        "augment",
        {"action": argparse.BooleanOptionalAction, "help": "augment training batches"},
    ),
    (
        "--eval-batch-size",
        "eval_batch_size",
        {"type": int, "help": "samples per forward pass when validating"},
    ),
    ("--num-workers", "num_workers", {"type": int, "help": "DataLoader workers (on-disk data)"}),
    ("--device", "device", {"help": "auto, cpu, cuda, cuda:N"}),
    (
        "--amp",
        "amp",
        {
            "choices": list(AMP_MODES),
            "help": "mixed precision: autocast every forward pass in bfloat16 or float16 (with "
            "dynamic loss scaling); losses, weights and optimizer state stay float32",
        },
    ),
    (
        "--channels-last",
        "channels_last",
        {
            "action": "store_const",
            "const": True,
            "help": "model weights and 4-D input batches in the channels_last memory format",
        },
    ),
    (
        "--tensorboard",
        "tensorboard",
        {
            "action": "store_const",
            "const": True,
            "help": "also log lr, training loss and validation MAE/bMAE per region each epoch to "
            'OUT/tensorboard/ (needs: pip install "bsam-landscape[tensorboard]")',
        },
    ),
    (
        "--tensorboard-steps",
        "tensorboard_steps",
        {
            "action": "store_const",
            "const": True,
            "help": "with --tensorboard, also log every step's losses and gradient norm",
        },
    ),
)


def _json_object(flag: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"invalid {flag} {text!r}: not JSON ({err})") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"invalid {flag} {text!r}: give a JSON object such as '{{\"key\": 1}}'"
        )
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand to ``subparsers``."""
    parser = add_command(
        subparsers,
        "train",
        help="train a model (vanilla, sqinv, lds, sam, imbsam, bsam) into a run folder",
        description=(
            "Train one method on one data set. The run folder gets last.pt/best.pt, log.csv, "
            "metrics.json and config.json; rerunning the same command resumes. Under torchrun "
            "every rank takes its shard of each global batch.\n"
            "Options left unset take the TrainConfig default shown in their help (some are "
            "decided by --method or --preset). A preset never drops a flag: one that contradicts "
            "it is an error."
        ),
    )
    parser.add_argument("--out", required=True, help="run folder (created; resumed if present)")
    for flag, name, options in _OPTIONS:
        options = dict(options)
        help_text = options.pop("help")
        if "(default" not in help_text:  # a None default is decided by --method or --preset
            help_text += f" (default: {DEFAULTS[name]})"
        parser.add_argument(flag, dest=name, default=None, help=help_text, **options)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine)",
    )
    parser.add_argument(
        "--quiet", action="store_true", default=False, help="no progress bars or epoch lines"
    )
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``bsam train`` arguments.

    Only the flags given on the command line are passed (every flag's argparse default is
    ``None``), so :meth:`TrainConfig.resolve` tells a flag given explicitly from one left to
    its default or to ``--preset``.
    """
    from bsam.train.config import TrainConfig

    given = {
        name: getattr(args, name) for _, name, _ in _OPTIONS if getattr(args, name) is not None
    }
    return TrainConfig(**given)


def run(args: argparse.Namespace) -> int:
    """Run ``bsam train``; returns 0 on success, 1 when the loss became non-finite."""
    from bsam.train import NonFiniteLossError, train

    config = config_from_args(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"Invalid --threads {args.threads}: must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = train(config, out_dir=args.out, quiet=args.quiet)
    except NonFiniteLossError as err:
        print(f"bsam train: error: {err}", file=sys.stderr)
        return 1
    if result.already_done and args.quiet:
        print(f"{args.out}: run already finished; nothing to do")
    return 0
