"""Average-case sharpness against the exact quadratic rise of a linear model."""

from __future__ import annotations

import math

import pytest
import torch

from analyses.sharpness import average_sharpness
from landscape import random_directions
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)
from tests.analyses._sharpness_refs import linear_problem, mse_grad_hessian


@pytest.mark.parametrize("ignore_1d", [True, False])
def test_rise_per_direction_is_the_quadratic_model(ignore_1d):
    net, X, y = linear_problem(dim=4)
    masks = [None, y < 3, y >= 3]
    res = average_sharpness(
        net, (X, y), masks, loss="mse", radius=0.7, num_directions=5, seed=11, ignore_1d=ignore_1d
    )
    for mask, r in zip(masks, res):
        m = torch.ones_like(y, dtype=torch.bool) if mask is None else mask
        g, H = mse_grad_hessian(net, X[m], y[m])
        rises = []
        for k in range(5):
            d = random_directions(net, seed=11 + k, dims=1, ignore_1d=ignore_1d).x
            v = 0.7 * torch.cat([t.reshape(-1) for t in d])
            rises.append(float(g @ v + 0.5 * v @ H @ v))
        assert r.rises == pytest.approx(rises, rel=1e-9, abs=1e-12)
        t = torch.tensor(rises, dtype=torch.float64)
        assert r.value == pytest.approx(float(t.mean()), rel=1e-9)
        assert r.spread == pytest.approx(float(t.std()), rel=1e-9)
        assert r.std_error == pytest.approx(float(t.std()) / math.sqrt(5), rel=1e-9)


def test_one_direction_has_no_standard_error():
    net, X, y = linear_problem()
    (r,) = average_sharpness(net, (X, y), [None], loss="mse", num_directions=1)
    assert math.isnan(r.std_error) and len(r.rises) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"radius": -1.0}, r"Invalid radius value: -1.0; it must be a number > 0"),
        ({"num_directions": 0}, r"Invalid num_directions value: 0; it must be an int >= 1"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    net, X, y = linear_problem()
    with pytest.raises(ValueError, match=match):
        average_sharpness(net, (X, y), [None], **kwargs)
