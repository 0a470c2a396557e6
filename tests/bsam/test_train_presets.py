"""A preset never drops an explicit option: TrainConfig.resolve and ``bsam train --preset``."""

from __future__ import annotations

import pytest

from bsam.cli import build_parser, main
from bsam.cli.train import config_from_args
from bsam.train.config import TrainConfig

#: ``TrainConfig().resolve().to_dict()`` as stored before presets told "given" from "default"
#: (written out by hand): run folders and the reproduction's hashes depend on it.
_DEFAULT_RESOLVED = {
    "data": "agedb-synth",
    "root": None,
    "data_kwargs": {},
    "data_seed": 0,
    "model": "resnet8",
    "model_kwargs": {},
    "method": "vanilla",
    "descent_loss": "l1",
    "weights": "sqrt_inv",
    "descent_weights": "none",
    "lds": False,
    "normalize_weights": True,
    "rho": 0.05,
    "adaptive": False,
    "epochs": 8,
    "lr": 0.05,
    "batch_size": 128,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 0.0005,
    "schedule": "cosine",
    "seed": 0,
    "select": "mae",
    "preset": None,
    "perturb_sync": "global",
    "bn_mode": "first",
    "many": 100,
    "few": 20,
    "augment": True,
    "eval_batch_size": 1024,
    "num_workers": 0,
    "device": "auto",
}

#: What ``preset="bsam-official"`` fixes on AgeDB-like data (bsam.optim.OFFICIAL_BSAM).
_OFFICIAL = {
    "method": "bsam",
    "descent_loss": "l1",
    "weights": "sqrt_inv",
    "descent_weights": "sqrt_inv",
    "normalize_weights": False,
    "lds": False,
    "bn_mode": "both",
    "adaptive": False,
    "rho": 0.2,
}


def _cli_config(*flags: str) -> TrainConfig:
    return config_from_args(build_parser().parse_args(["train", "--out", "x", *flags]))


def test_runs_without_a_preset_resolve_as_before() -> None:
    cfg = TrainConfig().resolve()
    assert cfg.to_dict() == _DEFAULT_RESOLVED
    assert _cli_config().resolve() == cfg
    bsam = TrainConfig(method="bsam").resolve().to_dict()
    assert bsam == {**_DEFAULT_RESOLVED, "method": "bsam", "descent_weights": "sqrt_inv"}
    explicit = TrainConfig(**{k: _DEFAULT_RESOLVED[k] for k in _OFFICIAL}).resolve()
    assert explicit == cfg  # the defaults given explicitly are the same run


def test_the_preset_alone_fills_its_fields() -> None:
    resolved = TrainConfig(preset="bsam-official").resolve()
    assert {k: getattr(resolved, k) for k in _OFFICIAL} == _OFFICIAL
    assert _cli_config("--preset", "bsam-official").resolve() == resolved


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "vanilla"),  # the default value, formerly taken for "unset" and dropped
        ("normalize_weights", True),  # likewise
        ("bn_mode", "first"),
        ("adaptive", True),
        ("descent_loss", "mse"),
        ("lds", True),
    ],
)
def test_library_refuses_an_explicit_contradiction(field: str, value) -> None:
    fixed = _OFFICIAL[field]
    match = (
        f"Invalid {field} {value!r} for preset 'bsam-official': the preset fixes "
        f"{field}={fixed!r}; drop the option \\(or give {fixed!r}\\) or drop the preset"
    )
    with pytest.raises(ValueError, match=match):
        TrainConfig(preset="bsam-official", **{field: value}).resolve()


def test_explicit_agreeing_values_and_rho_are_fine() -> None:
    agreeing = TrainConfig(preset="bsam-official", **{k: v for k, v in _OFFICIAL.items()})
    assert agreeing.resolve() == TrainConfig(preset="bsam-official").resolve()
    assert TrainConfig(preset="bsam-official", rho=0.1).resolve().rho == 0.1  # only a default


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--method", "vanilla"], "Invalid method 'vanilla' for preset 'bsam-official'"),
        (["--normalize-weights"], "Invalid normalize_weights True for preset 'bsam-official'"),
        (["--bn-mode", "first"], "Invalid bn_mode 'first' for preset"),
        (["--no-lds", "--adaptive"], "Invalid adaptive True for preset"),
    ],
)
def test_cli_refuses_an_explicit_contradiction(tmp_path, capsys, flags, message) -> None:
    out = tmp_path / "run"
    assert main(["train", "--preset", "bsam-official", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bsam train: error: " + message)
    assert not out.exists()  # nothing was written


def test_cli_agreeing_flags_are_the_preset_run() -> None:
    flags = ["--method", "bsam", "--no-normalize-weights", "--bn-mode", "both", "--no-lds"]
    cfg = _cli_config("--preset", "bsam-official", *flags).resolve()
    assert cfg == _cli_config("--preset", "bsam-official").resolve()
