"""``bsam hessian`` end to end on a tiny checkpoint (and checkpoint_curvature behind it)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from bsam.checkpoint import save_checkpoint
from bsam.cli import main
from bsam.data import fit_regions, get_dataset
from bsam.models import build_model
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("mlp", in_features=3 * 8 * 8, hidden=(3,))
    train = get_dataset("agedb-synth", "train", size=8)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        path,
        {
            "model": {"name": "mlp", "kwargs": {"in_features": 192, "hidden": [3]}},
            "model_state": model.state_dict(),
            "epoch": 1,
            "data": {"name": "agedb-synth", "root": None, "kwargs": {"size": 8}},
            "regions": fit_regions(train).to_dict(),
        },
    )
    return path


def test_cli_writes_json_csv_and_plot(checkpoint, tmp_path, capsys):
    out = tmp_path / "h.json"
    args = (
        f"hessian {checkpoint} --regions few,all --metrics lambda_max,trace,density --device cpu "
        "--density-probes 1 --density-steps 4 --max-iter 8 --tol 0.1 --trace-max-hvps 25 "
        f"--trace-rel-se 0.5 --batch-size 4096 --out {out} --plot {tmp_path / 'dens'}"
    )
    code = main(args.split())
    assert code == 0
    res = json.loads(out.read_text())
    assert list(res["regions"]) == ["few", "all"]
    few = res["regions"]["few"]
    assert few["num_samples"] > 0 and few["lambda_max"] >= few["lambda_min"]
    assert abs(few["lambda_abs"]) == max(abs(few["lambda_max"]), abs(few["lambda_min"]))
    prov = res["provenance"]
    assert prov["data"]["name"] == "agedb-synth" and prov["data"]["split"] == "test"
    assert len(prov["data"]["checkpoint_hash"]) == 16
    rows = list(csv.DictReader((tmp_path / "h.csv").open()))
    assert [r["region"] for r in rows] == ["few", "all"]
    assert (tmp_path / "dens.png").is_file() and (tmp_path / "dens.pdf").is_file()
    assert "few" in capsys.readouterr().out


def test_cli_bad_metric_is_a_clean_error(checkpoint, tmp_path, capsys):
    code = main(
        ["hessian", str(checkpoint), "--metrics", "sharpness", "--out", str(tmp_path / "x.json")]
    )
    assert code == 2
    assert "Invalid metrics ['sharpness']" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_cli_choices_equal_the_library():
    # analyses.cli.hessian keeps literal copies (so `bsam hessian --help` imports no torch)
    from analyses.cli import hessian as cli
    from analyses.curvature import hvp, regions

    assert cli.METRICS == regions.METRICS and cli.TRACE_METHODS == regions.TRACE_METHODS
    assert cli.CURVATURES == hvp.CURVATURES


@pytest.mark.parametrize("flag", ["--trace-max-matvecs", "--trace-max-hvps"])
def test_trace_budget_flag_and_its_alias(flag):
    from bsam.cli import build_parser

    args = build_parser().parse_args(["hessian", "c.pt", "--out", "h.json", flag, "7"])
    assert args.trace_max_matvecs == 7 and not hasattr(args, "trace_max_hvps")
    default = build_parser().parse_args(["hessian", "c.pt", "--out", "h.json"])
    assert default.trace_max_matvecs == 500


@pytest.mark.parametrize(("flag", "budget"), [("--trace-max-matvecs", 12), ("--trace-max-hvps", 14)])
def test_trace_budget_reaches_the_library(checkpoint, tmp_path, flag, budget):
    out = tmp_path / "t.json"
    argv = [
        "hessian", str(checkpoint), "--regions", "few", "--metrics", "trace", "--device", "cpu",
        "--trace-method", "hutchinson", "--trace-rel-se", "1e-9", flag, str(budget),
        "--batch-size", "4096", "--quiet", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    detail = json.loads(out.read_text())["regions"]["few"]["trace_detail"]
    # an unreachable standard error: the estimator stops exactly at the budget
    assert detail["num_matvecs"] == budget and not detail["converged"]
