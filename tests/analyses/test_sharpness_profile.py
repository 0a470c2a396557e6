"""Bin windows, the per-bin profile of a linear model (closed form per bin), balance, save, plot."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from analyses.sharpness import (
    balanced_flatness,
    bin_windows,
    plot_profile,
    plot_profile_overlay,
    save_profiles,
    sharpness_profile,
)
from bsam.regions import ShotRegions
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)
from tests.analyses._sharpness_refs import (
    linear_problem,
    mse_grad_hessian,
    trust_region_max,
)


@pytest.fixture
def regions():
    # training counts per bin 0..9: many (> 6), medium, few (< 3)
    counts = [9, 8, 7, 5, 4, 3, 2, 1, 1, 0]
    labels = torch.tensor([b + 0.5 for b, c in enumerate(counts) for _ in range(c)])
    return ShotRegions.fit(labels, 1.0, many=6, few=3, lower=0.0, upper=9.5)


def test_windows_grow_to_min_samples_and_keep_the_centre_bin(regions):
    y = torch.tensor([0.5, 0.5, 1.5, 4.5, 7.5, 9.2])
    one = bin_windows(regions, y)
    assert [(w.bin, w.start, w.stop, w.num_samples) for w in one] == [
        (0, 0, 1, 2),
        (1, 1, 2, 1),
        (4, 4, 5, 1),
        (7, 7, 8, 1),
        (9, 9, 10, 1),
    ]
    wide = bin_windows(regions, y, min_samples=3)
    counts = np.bincount(regions.bin_index(y).numpy(), minlength=10)
    for w in wide:
        assert w.num_samples == counts[w.start : w.stop].sum() >= 3
        assert w.start <= w.bin < w.stop and w.center == w.bin + 0.5
        assert w.train_count == regions.counts[w.bin]
    assert [w.region for w in one] == ["many", "many", "medium", "few", "few"]


@pytest.mark.parametrize(
    "value, match",
    [
        (0, r"Invalid min_samples value: 0; it must be an int >= 1"),
        (7, r"Invalid min_samples value: 7; the split has only 6 samples"),
    ],
)
def test_bad_min_samples(regions, value, match):
    with pytest.raises(ValueError, match=match):
        bin_windows(regions, torch.tensor([0.5, 0.5, 1.5, 4.5, 7.5, 9.2]), min_samples=value)


def _split(seed: int):
    net, X, y = linear_problem(n=60, seed=seed)
    return net, X, y


@pytest.mark.parametrize("curvature", ["ggn", "hessian"])
def test_profile_of_a_linear_model_matches_each_bins_closed_form(regions, curvature):
    net, X, y = _split(0)
    _, Xtr, ytr = linear_problem(n=50, seed=5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    prof = sharpness_profile(
        net,
        (X, y),
        regions,
        loss="mse",
        curvature=curvature,
        min_samples=4,
        rho=0.2,
        steps=20,
        num_directions=3,
        tol=1e-10,
        max_iter=50,
        trace_rel_se=1e-3,
        trace_max_matvecs=300,
        train_data=(Xtr, ytr),
        test_data=(X, y),
    )
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    idx = regions.bin_index(y)
    idx_tr = regions.bin_index(ytr)
    assert prof["bins"]["train_counts"] == regions.counts.tolist()
    for w in prof["windows"]:
        m = (idx >= w["start"]) & (idx < w["stop"])
        g, H = mse_grad_hessian(net, X[m], y[m])  # the bin's Hessian 2 X_b^T X_b / M_b by hand
        lam = float(torch.linalg.eigvalsh(H)[-1])
        assert abs(w["lambda_max"] - lam) <= w["lambda_max_err"] + 1e-8 * lam
        assert w["trace"] == pytest.approx(
            float(torch.trace(H)), rel=1e-2 if curvature == "hessian" else 1e-10
        )
        assert w["lambda_max_kind"] == ("exact" if curvature == "ggn" else "residual")
        exact = trust_region_max(g.numpy(), H.numpy(), 0.2)
        assert w["worst"] <= exact * (1 + 1e-12) and w["worst"] == pytest.approx(exact, rel=1e-5)
        assert w["worst_kind"] == "lower_bound" and w["adaptive_kind"] == "lower_bound"
        assert w["average_kind"] == "std_error" and w["average_err"] >= 0
        resid = (net(X[m]).squeeze(1) - y[m]).detach()
        assert w["loss"] == pytest.approx(float(resid.square().mean()), rel=1e-12)
        mt = (idx_tr >= w["start"]) & (idx_tr < w["stop"])
        train = (
            float((net(Xtr[mt]).squeeze(1) - ytr[mt]).square().mean().detach())
            if mt.any()
            else math.nan
        )
        if mt.any():
            assert w["gap"] == pytest.approx(w["loss"] - train, rel=1e-10)
        else:
            assert math.isnan(w["gap"])


def _toy_profile(values, regions_of, counts):
    windows = [
        {"train_count": c, "region": r, "center": i + 0.5, "m": v, "m_err": 0.0}
        for i, (v, r, c) in enumerate(zip(values, regions_of, counts))
    ]
    return {
        "provenance": {"methods": ["m"]},
        "windows": windows,
        "bins": {
            "lower": 0.0,
            "bin_width": 1.0,
            "train_counts": list(counts),
            "regions": list(regions_of),
        },
    }


def _rank_pearson(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_balance_is_spearman_and_few_many_ratio_with_spread_over_seeds():
    counts = [120, 110, 50, 30, 10, 5]
    regs = ["many", "many", "medium", "medium", "few", "few"]
    seeds = [[1.0, 1.2, 2.0, 2.5, 4.0, 3.0], [1.0, 0.9, 1.1, 1.3, 1.2, 0.95]]
    out = balanced_flatness([_toy_profile(v, regs, counts) for v in seeds])["m"]
    refs = [_rank_pearson(counts, v) for v in seeds]
    ratios = [np.mean(v[4:]) / np.mean(v[:2]) for v in seeds]
    assert [s["spearman"] for s in out["per_seed"]] == pytest.approx(refs, rel=1e-12)
    assert [s["few_many_ratio"] for s in out["per_seed"]] == pytest.approx(ratios, rel=1e-12)
    assert out["spearman"]["mean"] == pytest.approx(np.mean(refs))
    assert out["few_many_ratio"]["std"] == pytest.approx(np.std(ratios, ddof=1))
    with pytest.raises(ValueError, match=r"Invalid method 'x': the profile has no such column"):
        balanced_flatness([_toy_profile(seeds[0], regs, counts)], ["x"])


def test_save_and_plot(tmp_path):
    counts = [120, 110, 50, 10]
    prof = _toy_profile([1.0, 2.0, 3.0, 4.0], ["many", "many", "medium", "few"], counts)
    j, c = save_profiles({"profiles": [prof, prof]}, tmp_path / "p.json")
    assert json.loads(j.read_text())["profiles"][0]["windows"][2]["m"] == 3.0
    rows = list(csv.DictReader(c.open()))
    assert len(rows) == 8 and rows[-1]["profile"] == "1" and rows[-1]["m"] == "4.0"
    fig = plot_profile([prof, prof], "m")
    top, bottom = fig.axes
    assert [p.get_height() for p in bottom.patches] == counts
    assert np.allclose(top.lines[-1].get_ydata(), [1.0, 2.0, 3.0, 4.0])
    over = plot_profile_overlay(prof, ["m"])
    assert np.allclose(over.axes[0].lines[0].get_ydata(), np.array([1, 2, 3, 4]) / 2.5)
    with pytest.raises(ValueError, match=r"Invalid method 'nope'"):
        plot_profile(prof, "nope")


def test_profile_of_dense_targets_counts_pixels_per_window():
    from analyses.curvature import CurvatureOperator

    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1).double()
    g = torch.Generator().manual_seed(4)
    X = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.rand(5, 4, 4, generator=g, dtype=torch.float64) * 3
    regions = ShotRegions.fit(y, 1.0, many=30, few=10)
    prof = sharpness_profile(
        net, (X, y), regions, methods=("lambda_max", "trace", "worst"), min_samples=20, steps=3
    )
    idx = regions.bin_index(y)
    assert [w["bin"] for w in prof["windows"]] == sorted(set(idx.flatten().tolist()))
    for w in prof["windows"]:
        m = (idx >= w["start"]) & (idx < w["stop"])
        assert w["num_samples"] == int(m.sum()) >= 20
        dense = CurvatureOperator(net, (X, y), loss="l1", curvature="ggn", mask=m).to_dense()
        assert w["lambda_max"] == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-9)
        assert w["trace"] == pytest.approx(float(torch.trace(dense)), rel=1e-9)
        assert w["worst"] >= w["worst_first_order"]
