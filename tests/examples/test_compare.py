"""analyses.compare_flatness against the calls it is made of: region_curvature, compute_surface,
numpy's mean and std over the models of a label, and a direct evaluation of the loss."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from torch import nn

import analyses
import landscape
from analyses.compare import compare_flatness
from analyses.curvature import region_curvature
from bsam.regions import ShotRegions

NAMES = ["all", "many", "medium", "few"]
CURVATURE = {"max_iter": 30}


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, 6), nn.Tanh(), nn.Linear(6, 1), nn.Flatten(0))


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(0)
    y_train = torch.tensor(np.clip(rng.exponential(2.0, 400), 0, 9.99), dtype=torch.float32)
    regions = ShotRegions.fit(y_train, 1.0, many=60, few=15, lower=0, upper=10)
    y = torch.linspace(0, 9.99, 120)
    x = (y / 10 + 0.05 * torch.randn(120, generator=torch.Generator().manual_seed(1)))[:, None]
    models = {("A", 0): _model(0), ("A", 1): _model(1), ("B", 0): _model(2)}
    return models, (x, y), regions


@pytest.fixture(scope="module")
def comparison(setting, tmp_path_factory):
    models, data, regions = setting
    out = tmp_path_factory.mktemp("flatness")
    return compare_flatness(models, data, regions, points_1d=5, curvature=CURVATURE, out=out), out


def test_curvature_cells_equal_region_curvature(setting, comparison):
    models, data, regions = setting
    result, _ = comparison
    for key, model in models.items():
        ref = region_curvature(model, data, regions, region_names=NAMES, metrics=("lambda_max", "trace"),
                               curvature="ggn", seed=0, **CURVATURE)["regions"]
        got = {r["region"]: r for r in result.per_model if r["key"] == key}
        for name in NAMES:
            assert got[name]["lambda_max"] == ref[name]["lambda_max"]
            assert got[name]["trace"] == ref[name]["trace"]


def test_surface_cells_equal_compute_surface_and_direct_loss(setting, comparison):
    models, (x, y), regions = setting
    result, _ = comparison
    grid = np.linspace(-1, 1, 5)
    for key, model in models.items():
        dirs = landscape.random_directions(model, seed=0, dims=1)
        surf = landscape.compute_surface(model, (x, y), regions=regions, directions=dirs, xcoords=grid, quiet=True)
        masks = regions.masks(y, NAMES)
        with torch.no_grad():
            err = (model(x) - y).abs().double()
        got = {r["region"]: r for r in result.per_model if r["key"] == key}
        for name in NAMES:
            assert got[name]["loss"] == pytest.approx(float(err[masks[name]].mean()), rel=1e-6)
            assert got[name]["rise_1d"] == pytest.approx(float(surf.loss[name].max() - surf.loss[name][2]))


def test_rows_are_mean_and_sample_std_over_the_models_of_a_label(comparison):
    result, _ = comparison
    for row in result.rows:
        group = [r for r in result.per_model if r["label"] == row["label"] and r["region"] == row["region"]]
        assert row["n"] == len(group) == (2 if row["label"] == "A" else 1)
        for q in ("loss", "rise_1d", "lambda_max", "trace"):
            values = np.array([r[q] for r in group])
            mean, std = row[q]
            assert mean == pytest.approx(values.mean())
            if row["n"] > 1:
                assert std == pytest.approx(np.std(values, ddof=1))
            else:
                assert math.isnan(std)
    assert [(r["label"], r["region"]) for r in result.rows] == [(lab, n) for lab in "AB" for n in NAMES]


def test_table_and_figure_are_written(comparison):
    result, out = comparison
    with (out / "flatness.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    first = result.rows[0]
    assert float(rows[0]["lambda_max_mean"]) == pytest.approx(first["lambda_max"][0])
    assert float(rows[0]["lambda_max_std"]) == pytest.approx(first["lambda_max"][1])
    md = (out / "flatness.md").read_text()
    assert "±" in md and md.strip() == result.markdown().strip()
    assert (out / "flatness.png").stat().st_size > 0 and (out / "flatness.pdf").is_file()
    assert isinstance(result.figure, Figure) and len(result.figure.axes) == 4
    assert plt.get_fignums() == []


def test_2d_surface_and_label_mapping(setting):
    models, data, regions = setting
    labels = {k: "all-seeds" for k in models}
    result = compare_flatness(models, data, regions, label_of=labels, region_names=["few"],
                              points_1d=3, points_2d=3, curvature=CURVATURE)
    (row,) = result.rows
    assert row["n"] == 3 and "rise_2d" in result.columns
    surf = result.surfaces[("B", 0)]["2d"]
    assert surf.loss["few"].shape == (3, 3)
    assert result.per_model[-1]["rise_2d"] == pytest.approx(float(surf.loss["few"].max() - surf.loss["few"][1, 1]))


def test_lazy_export():
    assert analyses.compare_flatness is compare_flatness


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_of": {("A", 0): "A"}}, r"model key \('A', 1\) has no label"),
        ({"points_1d": 4}, r"Invalid points_1d 4; use an odd integer"),
        ({"points_2d": 1}, r"Invalid points_2d 1; use an odd integer"),
        ({"span": 0.0}, r"Invalid span 0.0"),
    ],
)
def test_bad_arguments_are_one_clear_error(setting, kwargs, match):
    models, data, regions = setting
    with pytest.raises(ValueError, match=match):
        compare_flatness(models, data, regions, curvature=CURVATURE, **kwargs)


def test_no_models_is_an_error(setting):
    _, data, regions = setting
    with pytest.raises(ValueError, match="Invalid models"):
        compare_flatness({}, data, regions)
