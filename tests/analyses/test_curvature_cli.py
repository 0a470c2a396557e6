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


@pytest.mark.parametrize(
    ("flag", "budget"), [("--trace-max-matvecs", 12), ("--trace-max-hvps", 14)]
)
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


def _hessian_args(*extra: str):
    from bsam.cli import build_parser

    return build_parser().parse_args(["hessian", "c.pt", "--out", "h.json", *extra])


def test_table8_flag_copies_the_library_preset():
    from analyses.cli import hessian as cli
    from analyses.curvature import TABLE8

    assert cli.TABLE8 == {
        "loss": TABLE8["loss"],
        "curvature": TABLE8["curvature"],
        "regions": tuple(TABLE8["region_names"]),
        "metrics": tuple(TABLE8["metrics"]),
    }
    args = cli.apply_table8(_hessian_args("--table8"))
    assert (args.curvature, args.loss) == ("ggn", "l1")
    assert tuple(args.regions) == ("few",) and tuple(args.metrics) == ("lambda_max", "trace")
    plain = cli.apply_table8(_hessian_args())  # without the flag: the library's defaults
    assert plain.curvature == "hessian" and tuple(plain.regions) == ("all", "many", "medium", "few")


def test_table8_accepts_its_own_values_and_refuses_others():
    from analyses.cli import hessian as cli

    same = cli.apply_table8(_hessian_args("--table8", "--curvature", "ggn", "--regions", "few"))
    assert same.curvature == "ggn"
    with pytest.raises(ValueError, match=r"Invalid --curvature hessian with --table8: .*ggn"):
        cli.apply_table8(_hessian_args("--table8", "--curvature", "hessian"))
    with pytest.raises(ValueError, match=r"Invalid --regions many with --table8: .*few"):
        cli.apply_table8(_hessian_args("--table8", "--regions", "many"))


def test_table8_equals_its_explicit_flags_in_the_request_key(checkpoint):
    from analyses.cli import hessian as cli

    preset = cli.apply_table8(_hessian_args("--table8"))
    explicit = _hessian_args(
        "--curvature", "ggn", "--loss", "l1", "--regions", "few", "--metrics", "lambda_max,trace"
    )
    preset.checkpoint = explicit.checkpoint = str(checkpoint)
    assert cli.request_key(preset) == cli.request_key(explicit)
    # and the key of a request without --table8 is what it was before the flag existed
    before = _hessian_args()
    before.checkpoint = str(checkpoint)
    del before.table8
    now = _hessian_args()
    now.checkpoint = str(checkpoint)
    assert cli.request_key(now) == cli.request_key(before)


def test_table8_run_names_the_gauss_newton_matrix(checkpoint, tmp_path, capsys):
    out = tmp_path / "t8.json"
    argv = [
        "hessian", str(checkpoint), "--table8", "--device", "cpu", "--max-iter", "8",
        "--tol", "0.1", "--trace-max-matvecs", "20", "--trace-rel-se", "0.5",
        "--batch-size", "4096", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert list(res["regions"]) == ["few"]
    few = res["regions"]["few"]
    assert few["lambda_max"] > 0 and "density" not in few  # PSD G, Table 8's two metrics only
    shown = capsys.readouterr().out
    assert "J^T J / M" in shown and "Tr(G)" in shown and "Tr(H)" not in shown


def test_tables_name_the_matrix_of_the_result():
    from analyses.curvature import CURVATURES
    from analyses.tables import CURVATURE_SYMBOLS, curvature_headers, curvature_note

    assert set(CURVATURE_SYMBOLS) == set(CURVATURES)
    assert curvature_headers("hessian")["trace"] == "Tr(H)"
    assert curvature_headers("ggn")["trace"] == "Tr(G)"
    assert "Tr(H)" not in " ".join(curvature_headers("ggn").values())
    note = curvature_note("ggn")
    assert "J^T J / M" in note and "does not depend on the L1 loss" in note
    with pytest.raises(ValueError, match=r"Invalid curvature 'gn': choose one of \['hessian'"):
        curvature_headers("gn")
    with pytest.raises(ValueError, match=r"Invalid curvature 'L1 Hessian'"):
        curvature_note("L1 Hessian")
