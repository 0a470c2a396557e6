"""Tests of the model registry: output shapes, parameter counts, errors."""

import pytest
import torch
from torch import nn

from bsam.models import MODELS, build_model, register_model


def _conv(cin, cout, k):
    return cin * cout * k * k


def _bn(c):
    return 2 * c


def _block(cin, cout):
    n = _conv(cin, cout, 3) + _bn(cout) + _conv(cout, cout, 3) + _bn(cout)
    if cin != cout:
        n += _conv(cin, cout, 1) + _bn(cout)
    return n


def test_registry_names():
    assert {"resnet18", "resnet8", "mlp"} <= set(MODELS)


def test_resnet8_shape_and_parameter_count():
    torch.manual_seed(0)
    model = build_model("resnet8")
    out = model(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 1)
    # hand count: stem conv+bn, three blocks (16-16, 16-32, 32-64), linear 64->1
    expected = _conv(3, 16, 3) + _bn(16) + _block(16, 16) + _block(16, 32) + _block(32, 64) + 65
    assert sum(p.numel() for p in model.parameters()) == expected


def test_resnet18_parameter_count_and_shape():
    model = build_model("resnet18")
    expected = _conv(3, 64, 7) + _bn(64)
    for cin, cout in [(64, 64), (64, 128), (128, 256), (256, 512)]:
        expected += _block(cin, cout) + _block(cout, cout)
    expected += 512 + 1
    assert sum(p.numel() for p in model.parameters()) == expected
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1)


def test_resnet8_other_input_size_and_outputs():
    model = build_model("resnet8", num_outputs=3, in_channels=1)
    assert model(torch.randn(2, 1, 48, 48)).shape == (2, 3)


def test_mlp_shape_and_count():
    model = build_model("mlp", in_features=12, hidden=(7, 5))
    assert model(torch.randn(4, 3, 2, 2)).shape == (4, 1)
    assert sum(p.numel() for p in model.parameters()) == 12 * 7 + 7 + 7 * 5 + 5 + 5 + 1


def test_mlp_wrong_input_size():
    with pytest.raises(ValueError, match="expects 12 features"):
        build_model("mlp", in_features=12)(torch.randn(2, 13))


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model 'vgg'"):
        build_model("vgg")


@pytest.mark.parametrize(
    "name,kwargs,match",
    [
        ("resnet8", {"widths": (16, 32)}, "Invalid widths"),
        ("resnet8", {"num_outputs": 0}, "Invalid num_outputs 0"),
        ("resnet18", {"in_channels": 0}, "Invalid in_channels 0"),
        ("mlp", {"hidden": (4, 0)}, "Invalid hidden widths"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, **kwargs)


def test_register_model_and_duplicate():
    @register_model("_tiny_test_model")
    def tiny() -> nn.Module:
        return nn.Linear(2, 1)

    try:
        assert isinstance(build_model("_tiny_test_model"), nn.Linear)
        with pytest.raises(ValueError, match="already registered"):
            register_model("_tiny_test_model")(tiny)
    finally:
        MODELS.pop("_tiny_test_model")


def test_resnet8_gradients_flow_to_every_parameter():
    model = build_model("resnet8")
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
