"""Regression networks behind a registry: ``build_model("resnet8")``, ``resnet18``, ``resnet50``, ``mlp``."""

from bsam.models.mlp import MLP, mlp
from bsam.models.registry import MODELS, build_model, register_model
from bsam.models.resnet import BasicBlock, ResNet, resnet8, resnet18, resnet50

__all__ = [
    "MODELS",
    "build_model",
    "register_model",
    "MLP",
    "mlp",
    "BasicBlock",
    "ResNet",
    "resnet8",
    "resnet18",
    "resnet50",
]
