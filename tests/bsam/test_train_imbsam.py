"""The ImbSAM methods of the registry: ``imbsam`` (the official code) and ``imbsam-mean``."""

from __future__ import annotations

import pytest
import torch

from bsam.optim import ImbSAM
from bsam.train.config import METHODS, TrainConfig
from bsam.train.methods import update_rule


@pytest.mark.parametrize(
    "method,scale,bn_mode", [("imbsam", 2.0, "both"), ("imbsam-mean", 1.0, "first")]
)
def test_imbsam_methods_build_their_tail_scale_and_bn_default(method, scale, bn_mode):
    cfg = TrainConfig(method=method).resolve()
    assert cfg.bn_mode == bn_mode
    opt = update_rule(method).build_optimizer(cfg, torch.nn.Linear(2, 1))
    assert type(opt) is ImbSAM and opt.tail_scale == scale
    assert "batch mean" in METHODS[method].description or "official" in METHODS[method].description


def test_an_explicit_bn_mode_wins_and_other_methods_keep_first():
    assert TrainConfig(method="imbsam", bn_mode="first").resolve().bn_mode == "first"
    assert TrainConfig(method="imbsam-mean", bn_mode="second").resolve().bn_mode == "second"
    for method in ("vanilla", "sqinv", "lds", "sam", "bsam"):
        assert TrainConfig(method=method).resolve().bn_mode == "first", method
    assert TrainConfig(method="bsam", preset="bsam-official").resolve().bn_mode == "both"


def test_a_stored_config_with_bn_mode_keeps_it():
    stored = TrainConfig(method="imbsam", bn_mode="first").resolve().to_dict()
    again = TrainConfig.from_dict(stored).resolve()
    assert again.bn_mode == "first" and again.method == "imbsam"
