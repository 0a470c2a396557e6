"""``bsam train`` and ``bsam evaluate`` through :func:`bsam.cli.main`."""

from __future__ import annotations

import json

import pytest

from bsam._io import read_json
from bsam.checkpoint import load_checkpoint
from bsam.cli import main
from tests.bsam._tiny_data import FEW, MANY, NAME

_ARGS = [
    "--data",
    NAME,
    "--model",
    "mlp",
    "--model-kwargs",
    '{"in_features": 6, "hidden": [8]}',
    "--batch-size",
    "32",
    "--many",
    str(MANY),
    "--few",
    str(FEW),
    "--device",
    "cpu",
    "--quiet",
]


def test_train_then_evaluate(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = [
        "train",
        *_ARGS,
        "--method",
        "bsam",
        "--weights",
        "inv",
        "--descent-weights",
        "none",
        "--rho",
        "0.1",
        "--epochs",
        "2",
        "--lr",
        "0.05",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    cfg = read_json(out / "config.json")
    assert (cfg["method"], cfg["weights"], cfg["descent_weights"], cfg["rho"]) == (
        "bsam",
        "inv",
        "none",
        0.1,
    )
    assert cfg["model_kwargs"] == {"in_features": 6, "hidden": [8]}
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    capsys.readouterr()

    assert main(argv) == 0  # a finished run is a no-op that says so
    assert "already finished" in capsys.readouterr().out

    js = tmp_path / "eval.json"
    assert main(["evaluate", str(out / "best.pt"), "--split", "test", "--json", str(js)]) == 0
    table = capsys.readouterr().out
    for word in ("region", "many", "medium", "few", "bmae", "gm"):
        assert word in table
    result = json.loads(js.read_text())
    metrics = read_json(out / "metrics.json")
    assert result["split"] == "test" and result["data"]["name"] == NAME
    assert result["report"]["all"]["mae"] == pytest.approx(metrics["best"]["test"]["all"]["mae"])
    assert result["report"]["few"]["n"] == metrics["best"]["test"]["few"]["n"]


def test_config_mismatch_exits_with_a_message(tmp_path, capsys) -> None:
    out = str(tmp_path / "run")
    assert main(["train", *_ARGS, "--epochs", "1", "--out", out]) == 0
    assert main(["train", *_ARGS, "--epochs", "2", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "bsam train: error:" in err and "epochs: 1 in the folder vs 2 requested" in err


def test_nonfinite_loss_exits_nonzero(tmp_path, capsys) -> None:
    argv = [
        "train",
        *_ARGS,
        "--descent-loss",
        "mse",
        "--lr",
        "1e30",
        "--epochs",
        "2",
        "--schedule",
        "none",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bsam train: error: Non-finite training loss" in err and "at epoch 1, step" in err


def test_bad_flags_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--out", "x", "--model-kwargs", "[1, 2]"])
    assert "invalid --model-kwargs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--out", "x", "--method", "adam"])
    assert main(["train", "--out", "x", "--rho", "-1"]) == 2
    assert "Invalid rho value: -1.0" in capsys.readouterr().err


def test_evaluate_missing_checkpoint(tmp_path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "none.pt")]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err


def test_cli_choices_and_defaults_equal_the_library() -> None:
    # bsam.cli.train keeps literal copies (so `bsam train --help` imports no torch)
    import dataclasses

    from bsam.cli import options
    from bsam.cli import train as cli
    from bsam.losses import LOSSES
    from bsam.train import config

    for name in (
        "DESCENT_LOSSES",
        "WEIGHT_SCHEMES",
        "OPTIMIZERS",
        "SCHEDULES",
        "SELECT_METRICS",
        "PRESETS",
        "PERTURB_SYNC",
        "BN_MODES",
    ):
        assert getattr(cli, name) == tuple(getattr(config, name)), name
    assert cli.METHODS == tuple(config.METHODS)
    assert options.LOSS_NAMES == tuple(LOSSES)
    assert set(cli.DEFAULTS) == {name for _, name, _ in cli._OPTIONS}
    reference = config.TrainConfig()
    assert cli.DEFAULTS == {name: getattr(reference, name) for name in cli.DEFAULTS}
    assert {f.name for f in dataclasses.fields(config.TrainConfig)} >= set(cli.DEFAULTS)


def test_help_shows_the_config_defaults(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: resnet8)" in text and "(default: 0.0005)" in text
    assert "MISSING" not in text  # the dict fields show their default, {}
