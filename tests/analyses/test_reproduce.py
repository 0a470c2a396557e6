"""``bsam reproduce``: the quick configuration end to end, resume after a kill, caching."""

import dataclasses
import json

import pytest

from analyses.reproduce import ReproduceConfig, plan_runs, reproduce
from analyses.reproduce.stages import run_dir
from bsam.cli import main

FIGURES = ("figure1", "figure1_methods", "surfaces_1d", "flatness_regions", "spectral_density")
TABLES = ("table1_mae", "table1_vs_paper", "table5", "table6", "table7", "table8")


def test_quick_reproduce_writes_every_figure_table_and_the_report(quick_reproduction):
    out = quick_reproduction["config"].out_dir
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
    for name in TABLES:
        for ext in ("md", "csv", "tex"):
            assert (out / "tables" / f"{name}.{ext}").is_file(), name
    report = (out / "report.md").read_text()
    for heading in ("## Reading", "Tables 1 and 4", "Table 5", "Table 6", "Table 7", "Figure 1", "Table 8"):
        assert heading in report
    for name in FIGURES:
        assert f"figures/{name}.png" in report
    assert "paper" in report and "agedb-synth" in report
    assert "**agrees**" in report or "**does not agree**" in report
    assert (out / "timings.json").is_file()  # later tests' reruns rewrite it; the run's own:
    assert set(quick_reproduction["result"].timings) == {"train", "surface", "hessian", "sharpness", "report"}


def test_table8_holds_few_shot_rows_for_train_and_test_samples(quick_reproduction):
    out = quick_reproduction["config"].out_dir
    lines = (out / "tables" / "table8.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["region", "data", "method", "seeds"]
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    few = [r for r in rows if r["region"] == "few"]
    assert {r["data"] for r in few} == {"train (few-shot samples)", "test"}
    # every seed of every compared method on the few-shot region (quick: two seeds of two)
    seeds = {"Vanilla": "1", "SQINV": "2", "SQINV + SAM": "1", "SQINV + ImbSAM": "1",
             "SQINV + BSAM": "2"}
    assert {(r["method"], r["seeds"]) for r in few} == set(seeds.items())
    assert all(float(r["lambda_max_mean"]) > 0 and float(r["trace_mean"]) > 0 for r in few)
    assert {r["region"] for r in rows} == {"all", "many", "medium", "few"}
    # the other regions: the first seeds of the region methods
    assert {r["method"] for r in rows if r["region"] != "few"} == {"SQINV", "SQINV + BSAM"}


def test_the_report_gives_each_claim_its_seed_spread(quick_reproduction):
    report = (quick_reproduction["config"].out_dir / "report.md").read_text()
    reading = report.split("## Reading")[1].split("\n## ")[0]
    overall = next(line for line in reading.splitlines() if "BSAM lowers overall MAE" in line)
    assert overall.count(" ± ") == 2 and overall.count("(n = 2)") == 2
    assert "(n = 1)" in reading  # Vanilla, SAM and ImbSAM have one seed in quick mode
    assert "the first seed only (n = 1) for vanilla, sam, imbsam" in report


def test_killed_reproduce_resumes_without_redoing_finished_stages(quick_reproduction):
    result = quick_reproduction["result"]
    assert result.runs and all(run.already_done for run in result.runs.values())
    before = quick_reproduction["killed_at"]
    assert any(p.suffix == ".h5" for p in before) and any(p.suffix == ".pt" for p in before)
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten on resume"


def test_a_rerun_skips_every_finished_stage(quick_reproduction):
    cfg = quick_reproduction["config"]
    hessian = sorted(cfg.out_dir.glob("hessian/*.json"))
    assert hessian
    mtimes = [p.stat().st_mtime_ns for p in hessian]
    again = reproduce(cfg, quiet=True, stages=("train", "surface", "hessian"))
    assert [p.stat().st_mtime_ns for p in hessian] == mtimes
    assert again.timings["hessian"] < 5.0 and again.timings["train"] < 5.0


def test_changed_inputs_get_new_run_folders():
    cfg = ReproduceConfig()
    spec = plan_runs(cfg)[0]
    longer = cfg.replace(recipe=dataclasses.replace(cfg.recipe, epochs=cfg.recipe.epochs + 1))
    assert run_dir(cfg, spec) != run_dir(longer, spec)
    assert run_dir(cfg, spec) == run_dir(cfg.replace(device="cpu"), spec)  # runtime option only


def test_default_plan_trains_every_compared_method_with_three_seeds():
    runs = plan_runs(ReproduceConfig())
    names = [(r.name, r.seed) for r in runs]
    for method in ("vanilla", "sqinv", "sam", "imbsam", "bsam"):
        assert [s for n, s in names if n == method] == [0, 1, 2], method
    assert [s for n, s in names if n in ("bsam-vanilla-descent", "bsam-inv")] == [0, 0]
    assert len(runs) == 17
    ablation = plan_runs(ReproduceConfig(ablation_rho=True))
    extra = {r.name for r in ablation} - {r.name for r in runs}
    assert extra == {f"{m}-rho{rho}" for m in ("sam", "imbsam", "bsam") for rho in ("0.05", "0.1")}


def test_cli_reuses_the_cached_stages(quick_reproduction, capsys):
    out = quick_reproduction["config"].out_dir
    assert main(["reproduce", "--quick", "--out", str(out), "--stages", "train", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["timings_s"]["train"] < 5.0


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["reproduce", "--data", "agedb-dir"], "needs --root"),
        (["reproduce", "--quick", "--epochs", "0"], "Invalid --epochs 0"),
        (["reproduce", "--quick", "--stages", "train,plot"], "Unknown stage"),
    ],
)
def test_cli_errors(argv, match, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert match in capsys.readouterr().err
