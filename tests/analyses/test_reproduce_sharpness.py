"""The reproduction's sharpness stage, its report section and reading, and the exact Table 8 cells."""

import json

import numpy as np
import pytest
import torch

from analyses.reproduce import ReproduceConfig, reproduce
from analyses.reproduce.curvature_run import gram_entry
from analyses.reproduce.sharpness_reading import balance_reading, compare


def _stats(**cells):
    """``{method: {"spearman": {...}, "few_many_ratio": {...}}}`` from (rho, rho_sd, ratio, ratio_sd)."""
    return {m: {"spearman": {"mean": r, "std": rs, "n": 3},
                "few_many_ratio": {"mean": q, "std": qs, "n": 3}}
            for m, (r, rs, q, qs) in cells.items()}


def test_reading_agrees_when_bsam_is_more_balanced_beyond_the_spread():
    stats = _stats(sqinv=(-0.8, 0.05, 2.0, 0.1), bsam=(-0.1, 0.05, 1.1, 0.1),
                   sam=(-0.7, 0.05, 1.9, 0.1), imbsam=(-0.75, 0.05, 1.95, 0.1))
    text = balance_reading(stats, "λ_max")
    assert "**agrees**" in text and "does not agree" not in text
    assert "the balance weighting adds to what SAM does" in text
    assert "more balanced than ImbSAM" in text
    assert "SQINV + BSAM -0.10 ± 0.05 (n=3)" in text


def test_reading_disagrees_when_bsam_is_less_balanced():
    stats = _stats(sqinv=(-0.2, 0.05, 1.2, 0.05), bsam=(-0.9, 0.05, 3.0, 0.05))
    text = balance_reading(stats, "trace")
    assert "**does not agree**" in text
    assert "none to attribute" in text
    assert compare(stats, "bsam", "sqinv", "spearman") == "farther"


def test_reading_says_within_the_spread_when_the_difference_is_smaller_than_it():
    # |rho|: 0.5 vs 0.6 (difference 0.1 < sqrt(0.1² + 0.1²)); ratio 1.5 vs 1.6 likewise.
    stats = _stats(sqinv=(-0.6, 0.1, 1.6, 0.1), bsam=(-0.5, 0.1, 1.5, 0.1))
    assert compare(stats, "bsam", "sqinv", "spearman") == "within"
    text = balance_reading(stats, "λ_max")
    assert "neither agrees nor disagrees" in text and "within the spread" in text
    assert "**agrees**" not in text


def test_reading_attributes_the_gain_to_sam_when_sam_is_as_balanced_as_bsam():
    stats = _stats(sqinv=(-0.8, 0.05, 2.0, 0.1), bsam=(-0.2, 0.05, 1.2, 0.1),
                   sam=(-0.22, 0.05, 1.25, 0.1))
    text = balance_reading(stats, "λ_max")
    assert "**agrees**" in text
    assert "the gain is SAM's, not the balance weighting's" in text
    assert compare(stats, "bsam", "sam", "few_many_ratio") == "within"


def test_compare_with_one_seed_each_has_no_spread_and_a_missing_method_is_unknown():
    stats = {m: {"spearman": {"mean": v, "std": float("nan"), "n": 1}} for m, v in
             (("bsam", -0.3), ("sqinv", -0.31))}
    assert compare(stats, "bsam", "sqinv", "spearman") == "closer"
    assert compare(stats, "bsam", "vanilla", "spearman") == "unknown"


def test_gram_entry_of_a_linear_model_equals_the_closed_form():
    torch.manual_seed(0)
    X = torch.randn(12, 5, dtype=torch.float64)
    y = torch.zeros(12, dtype=torch.float64)
    net = torch.nn.Linear(5, 1, bias=False).double()
    mask = torch.zeros(12, dtype=torch.bool)
    mask[:4] = True  # M = 4 < P = 5: one zero eigenvalue
    entry = gram_entry(net, (X, y), mask, loss="l1", batch_size=8, tol=1e-3, max_bytes=2**20)
    A = X[:4].numpy()
    eig = np.linalg.eigvalsh(A.T @ A / 4)
    assert entry["method"] == "gram" and entry["trace_se"] == 0.0
    assert entry["lambda_max"] == pytest.approx(eig[-1], rel=1e-10)
    assert entry["trace"] == pytest.approx(eig.sum(), rel=1e-10)
    assert entry["lambda_min"] == 0.0 and abs(eig[0]) < 1e-12
    assert entry["eigen"]["LA"]["relative_residuals"] == [0.0]
    assert gram_entry(net, (X, y), mask, loss="l1", batch_size=8, tol=1e-3, max_bytes=100) is None


def test_quick_reproduce_profiles_every_seed_and_reports_the_balance(quick_reproduction):
    cfg, result = quick_reproduction["config"], quick_reproduction["result"]
    out = cfg.out_dir
    trained = {k for k in result.runs if k[0] in cfg.sharpness_methods}
    assert set(result.sharpness) == trained and ("sam", 0) in trained
    data = json.loads(result.sharpness[("bsam", 1)].read_text())
    windows = data["profiles"][0]["windows"]
    assert windows and all(w["num_samples"] >= cfg.sharpness_min_samples for w in windows)
    assert {"lambda_max", "trace", "average", "worst", "gap"} <= set(windows[0])
    assert {w["lambda_max_method"] for w in windows} == {"gram"}
    report = (out / "report.md").read_text()
    assert "## Sharpness across the label space" in report
    for name in ("sharpness_methods", *(f"sharpness_{m}" for m in cfg.sharpness_methods)):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert f"figures/{name}.png" in report
    table = (out / "tables" / "sharpness_balance.md").read_text()
    assert table in report and "lambda_max ρ_S" in table and "SQINV + BSAM" in table
    assert "BSAM's claim" in report and "(n=2)" in report


def test_table8_says_which_method_made_each_number(quick_reproduction):
    out = quick_reproduction["config"].out_dir
    lines = (out / "tables" / "table8.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[-1] == "computed"
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    # 600 test samples of resnet8: every region's Jacobian fits in 512 MiB
    assert {r["computed"] for r in rows} == {"exact (Gram)"}
    assert all(r["trace_std"] != "nan" or r["seeds"] == "1" for r in rows)


def test_a_rerun_skips_the_sharpness_stage(quick_reproduction, monkeypatch):
    import analyses.sharpness as sharpness

    cfg = quick_reproduction["config"]
    files = sorted(cfg.out_dir.glob("sharpness/*.json"))
    assert files
    mtimes = [p.stat().st_mtime_ns for p in files]
    monkeypatch.setattr(sharpness, "checkpoint_profiles", None)  # any call would fail
    timings = (cfg.out_dir / "timings.json").read_text()
    again = reproduce(cfg, quiet=True, stages=("train", "sharpness"))
    (cfg.out_dir / "timings.json").write_text(timings)  # the shared run's, for later tests
    assert [p.stat().st_mtime_ns for p in files] == mtimes
    assert sorted(again.sharpness.values()) == files
    assert again.timings["sharpness"] < 5.0


def test_sharpness_stage_is_keyed_on_the_checkpoint_content(tmp_path, monkeypatch):
    import analyses.sharpness as sharpness
    from analyses.reproduce.config import RunSpec
    from analyses.reproduce.sharpness_stage import sharpness_stage
    from analyses.reproduce.stages import RunOutput

    calls = []

    def fake(paths, **kwargs):
        calls.append((paths[0].read_bytes(), kwargs["min_samples"]))
        return {"profiles": [{"provenance": {}, "windows": [{"bin": 0, "lambda_max": 1.0}]}]}

    monkeypatch.setattr(sharpness, "checkpoint_profiles", fake)
    cfg = ReproduceConfig(out=str(tmp_path), seeds=(0, 1))
    runs = {}
    for name, seed in (("bsam", 0), ("bsam", 1), ("sam", 0), ("bsam-inv", 0)):
        folder = tmp_path / "runs" / f"{name}-s{seed}-abc"
        folder.mkdir(parents=True)
        (folder / "best.pt").write_bytes(f"weights {name} {seed}".encode())
        runs[(name, seed)] = RunOutput(RunSpec(name, name, seed), folder, {}, True)
    first = sharpness_stage(cfg, runs)
    assert set(first) == {("bsam", 0), ("bsam", 1), ("sam", 0)}  # not the Table 7 run
    assert len(calls) == 3 and all(p.with_suffix(".csv").is_file() for p in first.values())
    calls.clear()
    assert sharpness_stage(cfg, runs) == first and calls == []
    (runs[("bsam", 0)].checkpoint).write_bytes(b"weights B")
    second = sharpness_stage(cfg, runs)
    assert calls == [(b"weights B", cfg.sharpness_min_samples)]
    assert second[("bsam", 0)] != first[("bsam", 0)] and first[("bsam", 0)].is_file()
    assert second[("bsam", 1)] == first[("bsam", 1)]
    calls.clear()
    wider = sharpness_stage(cfg.replace(sharpness_min_samples=20), runs)
    assert len(calls) == 3 and set(wider.values()).isdisjoint(second.values())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"sharpness_measures": ("sharp",)}, "Invalid sharpness_measures"),
        ({"sharpness_primary": "adaptive"}, "Invalid sharpness_primary 'adaptive'"),
        ({"sharpness_min_samples": 0}, "Invalid sharpness_min_samples 0"),
        ({"gram_max_bytes": -1}, "Invalid gram_max_bytes -1"),
    ],
)
def test_bad_sharpness_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        ReproduceConfig(**changes)


def test_exact_trace_of_a_large_region_equals_the_gram_trace(quick_reproduction, tmp_path):
    # gram_max_bytes=0 forces the "large region" path: Lanczos for lambda_max, the streamed
    # exact trace; with the Gram matrix allowed the same trace comes from its eigenvalues.
    from analyses.reproduce.curvature_run import checkpoint_curvature_file

    result = quick_reproduction["result"]
    ckpt = result.runs[("bsam", 0)].checkpoint
    common = dict(split="test", region_names=["all", "few"], lanczos_iters=6, density=False)
    streamed = checkpoint_curvature_file(
        ckpt, out=tmp_path / "s.json", gram_max_bytes=0, exact_trace=True, **common
    )
    gram = checkpoint_curvature_file(ckpt, out=tmp_path / "g.json", gram_max_bytes=2**30, **common)
    for name in ("all", "few"):
        s, g = streamed["regions"][name], gram["regions"][name]
        assert s["method"] == "lanczos-exact-trace" and s["trace_method"] == "exact-streamed"
        assert s["trace_se"] == 0.0 and s["trace_detail"]["num_matvecs"] == 0
        assert g["method"] == "gram"
        assert s["trace"] == pytest.approx(g["trace"], rel=1e-5)
        # Lanczos' lambda_max lies below the exact one, within its residual
        assert s["lambda_max"] <= g["lambda_max"] * (1 + 1e-5)
    assert streamed["provenance"]["settings"]["exact_trace"] is True
