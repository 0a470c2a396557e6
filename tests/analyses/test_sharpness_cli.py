"""``bsam sharpness`` run through a parser built with its own ``register``."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys

import pytest
import torch

from analyses.cli import sharpness as cli
from bsam.checkpoint import save_checkpoint
from bsam.data import fit_regions, get_dataset
from bsam.models import build_model
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bsam")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two untrained MLP checkpoints (seeds 0 and 1) on 8x8 agedb-synth."""
    kwargs = {"in_features": 3 * 8 * 8, "hidden": [3]}
    common = {
        "model": {"name": "mlp", "kwargs": kwargs},
        "epoch": 1,
        "data": {"name": "agedb-synth", "root": None, "kwargs": {"size": 8}},
        "regions": fit_regions(get_dataset("agedb-synth", "train", size=8)).to_dict(),
    }
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        state = build_model("mlp", **kwargs).state_dict()
        path = tmp_path_factory.mktemp(f"ckpt{seed}") / "best.pt"
        paths.append(str(save_checkpoint(path, {**common, "model_state": state})))
    return paths


def test_run_writes_profiles_balance_csv_and_figures(checkpoints, tmp_path, capsys):
    out = tmp_path / "s.json"
    args = _parser().parse_args(
        [
            "sharpness",
            *checkpoints,
            "--methods",
            "lambda_max,trace,worst",
            "--steps",
            "1",
            "--min-samples",
            "20",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "fig"),
        ]
    )
    assert args.func(args) == 0
    res = json.loads(out.read_text())
    assert len(res["profiles"]) == 2
    windows = res["profiles"][0]["windows"]
    assert all(w["num_samples"] >= 20 for w in windows)
    assert all(w["lambda_max_method"] == "gram" and w["lambda_max_err"] == 0 for w in windows)
    assert all(w["trace"] >= w["lambda_max"] > 0 for w in windows)
    assert all("gap" in w for w in windows)
    assert res["balance"]["trace"]["spearman"]["n"] == 2
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == 2 * len(windows)
    for name in ("lambda_max", "trace", "worst", "overlay"):
        assert (tmp_path / f"fig_{name}.png").is_file() and (tmp_path / f"fig_{name}.pdf").is_file()
    assert "spearman" in capsys.readouterr().out


def test_bad_method_is_a_clear_error(checkpoints, tmp_path):
    args = _parser().parse_args(
        ["sharpness", checkpoints[0], "--methods", "flat", "--out", str(tmp_path / "x.json")]
    )
    with pytest.raises(ValueError, match=r"Invalid methods \['flat'\]; choose one or more of"):
        args.func(args)
    assert not (tmp_path / "x.json").exists()


def test_choices_equal_the_library_and_help_imports_no_torch():
    from analyses.sharpness import profile

    assert cli.METHODS == profile.METHODS and cli.CURVATURES == profile.CURVATURES
    code = (
        "import argparse, sys\n"
        "from analyses.cli import sharpness\n"
        "p = argparse.ArgumentParser(prog='bsam'); sharpness.register(p.add_subparsers())\n"
        "p.format_help()\n"
        "heavy = [m for m in ('torch', 'numpy', 'h5py', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
