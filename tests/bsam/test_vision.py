"""bsam.vision: torchvision's models and transforms import beside the pinned torch."""

from __future__ import annotations

import subprocess
import sys

import torch

from bsam.vision import import_torchvision


def test_models_and_transforms_work():
    tv = import_torchvision()
    from torchvision.transforms import v2

    model = tv.models.resnet18(num_classes=1)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 1)
    img = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    out = v2.Compose([v2.CenterCrop(32), v2.ToDtype(torch.float32, scale=True)])(img)
    assert out.shape == (3, 32, 32) and float(out.max()) <= 1.0


def test_fresh_process_import_is_repeatable():
    # A second import_torchvision in the same process returns the same module; a fresh process
    # (no torchvision in sys.modules yet) takes the same path as the CLI.
    code = (
        "from bsam.vision import import_torchvision as f; a = f(); b = f(); "
        "assert a is b; import torchvision.models as m; print(m.resnet50().fc.in_features)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2048"
