import pytest
import torch

from bsam.losses import (
    LOSSES,
    align,
    get_loss,
    huber_loss,
    l1_loss,
    mse_loss,
    per_sample,
    weighted_mean,
)


def test_elementwise_losses_match_hand_computed_values():
    pred = torch.tensor([[1.0], [4.0], [0.5]])
    target = torch.tensor([2.0, 1.0, 0.0])
    assert l1_loss(pred, target).tolist() == [1.0, 3.0, 0.5]
    assert mse_loss(pred, target).tolist() == [1.0, 9.0, 0.25]
    assert huber_loss(pred, target).tolist() == [0.5, 2.5, 0.125]
    assert huber_loss(pred, target, delta=2.0).tolist() == [0.5, 4.0, 0.125]
    assert l1_loss(pred, target, reduction="mean").item() == pytest.approx(1.5)
    assert mse_loss(pred, target, reduction="sum").item() == pytest.approx(10.25)


def test_losses_agree_with_torch_functional():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(7, 1, 3, 3, generator=g), torch.randn(7, 3, 3, generator=g)
    ref = torch.nn.functional
    assert torch.allclose(l1_loss(pred, target), ref.l1_loss(pred.squeeze(1), target, reduction="none"))
    assert torch.allclose(mse_loss(pred, target), ref.mse_loss(pred.squeeze(1), target, reduction="none"))
    assert torch.allclose(huber_loss(pred, target), ref.huber_loss(pred.squeeze(1), target, reduction="none"))
    assert per_sample(l1_loss(pred, target)).shape == (7,)


def test_weighted_mean_divides_by_the_element_count():
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w = torch.tensor([0.5, 0.5, 2.0, 1.0])
    assert weighted_mean(loss, w).item() == pytest.approx((0.5 + 1 + 6 + 4) / 4)
    assert weighted_mean(loss).item() == pytest.approx(2.5)


def test_registry_and_errors():
    assert set(LOSSES) == {"l1", "mse", "huber"}
    assert get_loss("l1") is l1_loss
    assert get_loss(l1_loss) is l1_loss
    with pytest.raises(ValueError, match="Unknown loss 'l2'"):
        get_loss("l2")
    with pytest.raises(ValueError, match=r"Prediction shape \(3, 2\) does not match target shape \(3,\)"):
        align(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="weights shape"):
        weighted_mean(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="Invalid reduction"):
        l1_loss(torch.zeros(3), torch.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="Invalid Huber delta"):
        huber_loss(torch.zeros(3), torch.zeros(3), delta=0)
