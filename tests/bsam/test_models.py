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


# -- torchvision backbones, legacy ResNet-18 checkpoints, ImageNet weights ------------------------


def _legacy_resnet18():
    """The hand-written ResNet-18 of earlier releases (stem + stages of BasicBlock)."""
    from bsam.models.resnet import ResNet

    stem = nn.Sequential(
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    return ResNet(stem, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2), 1)


def test_resnet50_shape_and_torchvision_layout():
    from bsam.vision import import_torchvision

    model = build_model("resnet50")
    assert isinstance(model, import_torchvision().models.ResNet)
    assert model.fc.in_features == 2048 and model.fc.out_features == 1
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1)


def test_resnet18_other_channels_and_outputs():
    model = build_model("resnet18", in_channels=1, num_outputs=2).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_legacy_resnet18_checkpoint_loads_with_same_outputs(tmp_path):
    from bsam.checkpoint import CHECKPOINT_FORMAT, load_model, save_checkpoint

    torch.manual_seed(0)
    legacy = _legacy_resnet18()
    with torch.no_grad():  # non-trivial BN statistics, so a mis-mapped buffer shows
        for m in legacy.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    legacy.eval()
    path = tmp_path / "old.pt"
    spec = {"name": "resnet18", "kwargs": {"in_channels": 3, "num_outputs": 1}}
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "model": spec, "model_state": legacy.state_dict(), "epoch": 1})
    model, _ = load_model(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), legacy(x), atol=1e-5, rtol=1e-5)


def test_pretrained_file_loads_backbone_and_head(tmp_path):
    torch.manual_seed(1)
    source = build_model("resnet18")
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    model = build_model("resnet18", weights=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_pretrained_imagenet_shaped_file_keeps_fresh_head(tmp_path):
    from bsam.vision import import_torchvision

    imagenet = import_torchvision().models.resnet18(weights=None)  # fc 512 -> 1000
    path = tmp_path / "in.pth"
    torch.save({"state_dict": imagenet.state_dict()}, path)
    model = build_model("resnet18", weights=path)
    assert torch.equal(model.conv1.weight, imagenet.conv1.weight)
    assert model.fc.out_features == 1


def test_pretrained_imagenet_from_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth.*nothing is downloaded"):
        build_model("resnet18", weights="imagenet")
    source = build_model("resnet18")
    (tmp_path / "checkpoints").mkdir()
    torch.save(source.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    model = build_model("resnet18", weights="imagenet")
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Weights file .*missing.pth not found"):
        build_model("resnet18", weights=tmp_path / "missing.pth")
    path = tmp_path / "r50.pth"
    torch.save(build_model("resnet50").state_dict(), path)
    with pytest.raises(ValueError, match="does not fit resnet18"):
        build_model("resnet18", weights=path)
