import math

import pytest
import torch

from bsam.metrics import format_report, regression_report
from bsam.regions import ShotRegions


@pytest.fixture
def regions():
    # bin 0: 150 samples (many), bin 1: 50 (medium), bin 2: 5 (few), bin 3: 0 (few)
    train = torch.tensor([0.0] * 150 + [1.0] * 50 + [2.0] * 5 + [3.0])
    r = ShotRegions.fit(train)
    return ShotRegions(r.binning, r.counts - torch.tensor([0, 0, 0, 1]).numpy(), r.many, r.few)


def test_report_matches_hand_computed_numbers(regions):
    target = torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0, 3.0])
    pred = torch.tensor([[1.0], [0.0 + 3.0], [1.5], [4.0], [2.0 + 1.0], [3.0 - 4.0]])
    rep = regression_report(pred, target, regions)
    # errors: many (1, 3), medium (0.5), few (2, 1 in bin 2; 4 in bin 3)
    assert rep["many"]["n"] == 2 and rep["medium"]["n"] == 1 and rep["few"]["n"] == 3
    assert rep["many"]["mae"] == pytest.approx(2.0)
    assert rep["many"]["mse"] == pytest.approx(5.0)
    assert rep["many"]["rmse"] == pytest.approx(math.sqrt(5.0))
    assert rep["many"]["gm"] == pytest.approx(math.sqrt(3.0))
    assert rep["few"]["mae"] == pytest.approx(7 / 3)
    assert rep["few"]["bmae"] == pytest.approx((1.5 + 4.0) / 2)  # bins 2 and 3, unweighted
    assert rep["all"]["mae"] == pytest.approx(11.5 / 6)
    assert rep["all"]["bmae"] == pytest.approx((2.0 + 0.5 + 1.5 + 4.0) / 4)
    assert rep["all"]["gm"] == pytest.approx((1 * 3 * 0.5 * 2 * 1 * 4) ** (1 / 6))
    assert "delta1" not in rep["all"]
    assert "mae" in format_report(rep)


def test_gm_follows_the_dir_convention_for_zero_errors(regions):
    target = torch.tensor([0.0, 0.0])
    rep = regression_report(torch.tensor([0.0, 2.0]), target, regions, region_names=("all",))
    assert rep["all"]["gm"] == 0.0
    floored = regression_report(torch.tensor([0.0, 2.0]), target, regions, region_names=("all",), gm_eps=0.5)
    assert floored["all"]["gm"] == pytest.approx(1.0)


def test_empty_region_gives_nan_and_a_warning(regions):
    with pytest.warns(RuntimeWarning, match="Region 'few' has no evaluated element"):
        rep = regression_report(torch.tensor([0.5]), torch.tensor([0.0]), regions)
    assert rep["few"]["n"] == 0 and math.isnan(rep["few"]["mae"]) and math.isnan(rep["few"]["bmae"])
    assert rep["all"]["mae"] == pytest.approx(0.5)


def test_delta1_on_dense_depth_maps():
    regions = ShotRegions.fit(torch.tensor([1.0, 1.0, 2.0]), bin_width=0.1, many=1, few=1)
    target = torch.tensor([[[1.0, 2.0]], [[1.0, 2.0]]])
    pred = torch.tensor([[[1.2, 3.0]], [[0.9, 2.1]]])
    rep = regression_report(pred, target, regions, delta1=True)
    assert rep["all"]["n"] == 4
    assert rep["all"]["delta1"] == pytest.approx(3 / 4)  # 3.0/2.0 = 1.5 fails
    with pytest.raises(ValueError, match="positive"):
        regression_report(-pred, target, regions, delta1=True)


def test_bad_input(regions):
    with pytest.raises(ValueError, match="NaN/inf"):
        regression_report(torch.tensor([float("nan")]), torch.tensor([0.0]), regions)
    with pytest.raises(ValueError, match="outside the fitted range"):
        regression_report(torch.tensor([0.0]), torch.tensor([9.0]), regions)
    with pytest.raises(ValueError, match="does not match target shape"):
        regression_report(torch.zeros(2, 2), torch.zeros(2), regions)
    with pytest.raises(ValueError, match="Unknown region"):
        regression_report(torch.zeros(1), torch.zeros(1), regions, region_names=("rare",))
