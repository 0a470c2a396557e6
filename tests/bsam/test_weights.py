import math

import numpy as np
import pytest
import torch

from bsam.weights import BalanceWeights, lds_kernel


def test_sqrt_inv_weights_match_hand_computed_values(agedb_counts, agedb_train_labels):
    w = BalanceWeights.fit(agedb_train_labels, scheme="sqrt_inv", normalize=False, lower=0, upper=101)
    # Age 30 holds 325 training samples, age 1 one sample: raw weights 1/sqrt(325) and 1.
    assert agedb_counts["train"][30] == 325
    assert w.weights(torch.tensor([30.0, 1.0])).tolist() == pytest.approx([325**-0.5, 1.0])
    normalized = BalanceWeights.fit(agedb_train_labels, scheme="sqrt_inv", lower=0, upper=101)
    n = agedb_counts["train"]
    mean_raw = (np.sqrt(n[n > 0])).sum() / n.sum()  # mean of 1/sqrt(n_b) over samples
    assert normalized.weights(torch.tensor([30.0]))[0].item() == pytest.approx(325**-0.5 / mean_raw, rel=1e-6)
    per_sample = normalized.weights(agedb_train_labels)
    assert per_sample.mean().item() == pytest.approx(1.0, rel=1e-6)
    assert per_sample.dtype == torch.float32


def test_inverse_weights_and_clipping():
    labels = torch.tensor([0.0] * 4 + [1.0] * 1)
    w = BalanceWeights.fit(labels, scheme="inv", normalize=False)
    assert w.weights(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([0.25, 1.0])
    clipped = BalanceWeights.fit(labels, scheme="inv", normalize=False, clip=(0.5, 0.8))
    assert clipped.weights(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([0.5, 0.8])
    # normalised: raw weights 0.25 (x4) and 1 (x1) have mean 0.4
    norm = BalanceWeights.fit(labels, scheme="inv")
    assert norm.weights(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([0.625, 2.5])
    none = BalanceWeights.fit(labels, scheme="none")
    assert none.weights(labels).tolist() == [1.0] * 5


def test_lds_smooths_the_transformed_counts():
    labels = torch.tensor([0.0] * 9 + [1.0] * 1 + [2.0] * 16)
    window = lds_kernel("gaussian", ks=3, sigma=1.0)
    assert window.tolist() == pytest.approx([math.exp(-0.5), 1.0, math.exp(-0.5)])
    w = BalanceWeights.fit(labels, scheme="sqrt_inv", lds={"kernel": "gaussian", "ks": 3, "sigma": 1.0}, normalize=False)
    e = math.exp(-0.5)
    smoothed = [3 + e * 1, 1 + e * (3 + 4), 4 + e * 1]  # sqrt counts (3, 1, 4) convolved, zero-padded
    expected = [1 / s for s in smoothed]
    assert w.weights(torch.tensor([0.0, 1.0, 2.0])).tolist() == pytest.approx(expected)
    assert lds_kernel("triang", ks=5).tolist() == pytest.approx([1 / 3, 2 / 3, 1, 2 / 3, 1 / 3])
    assert lds_kernel("laplace", ks=3, sigma=2.0).tolist() == pytest.approx([math.exp(-0.5), 1, math.exp(-0.5)])


def test_weights_keep_shape_device_and_dtype_of_dense_labels():
    w = BalanceWeights.fit(torch.tensor([0.1, 0.1, 0.2]), bin_width=0.1)
    dense = torch.tensor([[0.1, 0.2], [0.2, 0.1]], dtype=torch.float64)
    out = w.weights(dense)
    assert out.shape == dense.shape and out.dtype == torch.float64
    assert out[0, 1] > out[0, 0]


def test_empty_bins_get_the_largest_weight():
    w = BalanceWeights.fit(torch.tensor([0.0, 0.0, 0.0, 0.0, 2.0]), scheme="inv", normalize=False)
    assert w.weights(torch.tensor([1.0])).item() == pytest.approx(1.0)


def test_round_trip():
    w = BalanceWeights.fit(torch.tensor([0.0, 1.0, 1.0]), lds={"kernel": "laplace", "ks": 3, "sigma": 1.0})
    again = BalanceWeights.from_dict(w.to_dict())
    assert again.weights(torch.tensor([0.0, 1.0])).tolist() == w.weights(torch.tensor([0.0, 1.0])).tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheme": "log"}, "Unknown weighting scheme 'log'"),
        ({"lds": {"kernel": "box"}}, "Unknown LDS kernel 'box'"),
        ({"lds": {"ks": 4}}, "Invalid LDS kernel size ks=4"),
        ({"lds": {"sigma": 0}}, "Invalid LDS sigma=0"),
        ({"lds": {"width": 3}}, "Unknown LDS option"),
        ({"clip": (2.0, 1.0)}, "Invalid clip"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BalanceWeights.fit(torch.tensor([0.0, 1.0]), **kwargs)


def test_bad_labels():
    w = BalanceWeights.fit(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="non-finite"):
        w.weights(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="outside the fitted range"):
        w.weights(torch.tensor([5.0]))
