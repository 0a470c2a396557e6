"""TrainConfig: method defaults, the official preset, validation errors."""

from __future__ import annotations

import pytest

from bsam.optim import official_bsam_config
from bsam.train.config import METHODS, TrainConfig


@pytest.mark.parametrize(
    ("method", "descent", "perturbed"),
    [
        ("vanilla", "none", False),
        ("sqinv", "sqrt_inv", False),
        ("lds", "sqrt_inv", False),
        ("sam", "sqrt_inv", False),
        ("imbsam", "sqrt_inv", False),
        ("bsam", "sqrt_inv", True),
    ],
)
def test_method_defaults(method: str, descent: str, perturbed: bool) -> None:
    cfg = TrainConfig(method=method).resolve()
    assert cfg.descent_weights == descent
    assert METHODS[method].perturb_weighted is perturbed
    assert cfg.lds is (method == "lds")
    assert cfg.rho == 0.05


def test_weights_drive_sqinv_descent_but_not_bsam_descent() -> None:
    assert TrainConfig(method="sqinv", weights="inv").resolve().descent_weights == "inv"
    bsam = TrainConfig(method="bsam", weights="inv").resolve()
    assert (bsam.weights, bsam.descent_weights) == ("inv", "sqrt_inv")
    table5 = TrainConfig(method="bsam", descent_weights="none").resolve()
    assert (table5.weights, table5.descent_weights) == ("sqrt_inv", "none")


def test_official_preset_matches_the_optim_preset() -> None:
    official = official_bsam_config("agedb-dir")
    cfg = TrainConfig(preset="bsam-official").resolve()
    assert cfg.method == "bsam"
    assert cfg.rho == official.rho == 0.2
    assert cfg.normalize_weights is False
    assert cfg.weights == cfg.descent_weights == "sqrt_inv"
    assert cfg.bn_mode == "both"
    imdb = TrainConfig(preset="bsam-official", data="imdb-synth").resolve()
    assert imdb.rho == official_bsam_config("imdb-wiki-dir").rho == 0.05
    assert TrainConfig(preset="bsam-official", rho=0.1).resolve().rho == 0.1


def test_preset_refuses_contradicting_options() -> None:
    with pytest.raises(ValueError, match="Invalid method 'sam' for preset 'bsam-official'"):
        TrainConfig(preset="bsam-official", method="sam").resolve()
    with pytest.raises(ValueError, match="Invalid descent_weights 'none' for preset"):
        TrainConfig(preset="bsam-official", descent_weights="none").resolve()
    with pytest.raises(ValueError, match="Invalid preset 'official'"):
        TrainConfig(preset="official").resolve()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "asam"}, "Invalid method 'asam'"),
        ({"rho": 0.0}, "Invalid rho value: 0.0; rho must be > 0"),
        ({"rho": -1.0}, "Invalid rho value: -1.0"),
        ({"lr": 0}, "Invalid lr value: 0"),
        ({"epochs": 0}, "Invalid epochs value: 0"),
        ({"batch_size": 2.5}, "Invalid batch_size value: 2.5"),
        ({"descent_loss": "l3"}, "Invalid descent_loss 'l3'"),
        ({"weights": "log"}, "Invalid weights 'log'"),
        ({"method": "bsam", "weights": "none"}, "Invalid weights 'none' for method 'bsam'"),
        ({"method": "lds", "descent_weights": "none"}, "Invalid lds True with descent_weights"),
        ({"select": "r2"}, "Invalid select 'r2'"),
        ({"amp": "fp8"}, "Invalid amp 'fp8'"),
        ({"lr_min_factor": 1e-3}, "only 'cosine-epoch' has a floor"),
        ({"perturb_sync": "mixed"}, "Invalid perturb_sync 'mixed'"),
        ({"bn_mode": "twice"}, "Invalid bn_mode 'twice'"),
        ({"few": 30, "many": 20}, "Invalid thresholds few=30, many=20"),
        ({"momentum": 1.0}, "Invalid momentum 1.0"),
        ({"weight_decay": -1e-4}, "Invalid weight_decay -0.0001"),
        ({"schedule": "linear"}, "Invalid schedule 'linear'"),
    ],
)
def test_invalid_values_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs).resolve()


def test_dict_round_trip_and_diff() -> None:
    cfg = TrainConfig(method="bsam", model_kwargs={"width": 8}).resolve()
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.resolve() == cfg  # resolving twice changes nothing
    assert cfg.diff(TrainConfig.from_dict({**cfg.to_dict(), "device": "cuda"})) == {}
    assert cfg.diff(TrainConfig.from_dict({**cfg.to_dict(), "lr": 1.0})) == {"lr": (cfg.lr, 1.0)}
    with pytest.raises(ValueError, match=r"Invalid config keys \['colour'\]"):
        TrainConfig.from_dict({**cfg.to_dict(), "colour": 1})


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_has_an_update_rule_that_builds_its_optimizer(method: str) -> None:
    import torch

    from bsam.optim import BSAM, SAM, ImbSAM
    from bsam.train.methods import UPDATE_RULES, update_rule

    cfg = TrainConfig(method=method, rho=0.3).resolve()
    rule = update_rule(method)
    assert rule is UPDATE_RULES[METHODS[method].step]
    opt = rule.build_optimizer(cfg, torch.nn.Linear(2, 1))
    expected = {"plain": torch.optim.SGD, "sam": SAM, "bsam": BSAM, "imbsam": ImbSAM}
    assert type(opt) is expected[METHODS[method].step]
    if isinstance(opt, SAM):
        assert opt.param_groups[0]["rho"] == 0.3
        assert type(opt.base_optimizer) is torch.optim.SGD
    assert opt.param_groups[0]["lr"] == cfg.lr and opt.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="Invalid method 'asam'"):
        update_rule("asam")


def test_update_rules_fit_the_method_weights_and_tail() -> None:
    import torch

    from bsam.regions import FEW, ShotRegions
    from bsam.train.methods import update_rule

    labels = torch.tensor([0.0] * 30 + [1.0] * 8 + [2.0] * 2)
    binning = {"bin_width": 1.0, "lower": 0.0, "upper": 2.0}
    regions = ShotRegions.fit(labels, many=20, few=5, **binning)
    for method, keys in [
        ("vanilla", set()),
        ("sqinv", {"descent_weights"}),
        ("sam", {"descent_weights"}),
        ("bsam", {"descent_weights", "perturb_weights"}),
        ("imbsam", {"descent_weights", "tail"}),
    ]:
        cfg = TrainConfig(method=method, weights="inv").resolve()
        rule = update_rule(method)
        columns = rule.columns(labels, rule.fit_weights(cfg, labels, binning), regions)
        assert set(columns) == keys, method
        if "perturb_weights" in columns:  # inverse counts, mean 1 over the training labels
            raw = 1.0 / torch.tensor([30.0] * 30 + [8.0] * 8 + [2.0] * 2)
            torch.testing.assert_close(columns["perturb_weights"], raw / raw.mean())
        if "tail" in columns:  # the few-shot bin (2 samples < few=5), not a fixed 20
            assert columns["tail"].tolist() == (regions.of(labels) == FEW).tolist()
            assert columns["tail"].sum() == 2
