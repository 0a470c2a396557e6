"""Training: the configuration and method registry, the resumable loop, DDP and evaluation.

>>> from bsam.train import TrainConfig, train
>>> result = train(TrainConfig(method="bsam", epochs=20), out_dir="runs/bsam")  # doctest: +SKIP
"""

from bsam.train.config import METHODS, PRESETS, Method, TrainConfig
from bsam.train.evaluate import evaluate_checkpoint, evaluate_model, predict
from bsam.train.loop import (
    ConfigMismatchError,
    NonFiniteLossError,
    TrainCallback,
    TrainResult,
    train,
)
from bsam.train.tensorboard import TensorBoardLogger

__all__ = [
    "TrainConfig",
    "Method",
    "METHODS",
    "PRESETS",
    "train",
    "TrainResult",
    "TrainCallback",
    "NonFiniteLossError",
    "ConfigMismatchError",
    "evaluate_checkpoint",
    "evaluate_model",
    "predict",
    "TensorBoardLogger",
]
