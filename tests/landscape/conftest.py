"""Tiny models, data and regions shared by the landscape tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bsam.regions import ShotRegions


def make_mlp(seed: int = 0, width: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, width), nn.Tanh(), nn.Linear(width, 1))


def make_convnet(seed: int = 0, channels: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(2, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * channels, 1),
    )
    # Non-trivial running statistics, as after training.
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 1.5)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.2, 0.2)
    return net


def labels(n: int, seed: int) -> torch.Tensor:
    """Imbalanced integer labels in [0, 30): 60% in 5..9, 30% in 10..19, 10% elsewhere."""
    g = torch.Generator().manual_seed(seed)
    n_head, n_mid = int(0.6 * n), int(0.3 * n)
    head = torch.randint(5, 10, (n_head,), generator=g)
    mid = torch.randint(10, 20, (n_mid,), generator=g)
    tail = torch.randint(0, 15, (n - n_head - n_mid,), generator=g)
    tail = torch.where(tail < 5, tail, tail + 15)
    return torch.cat([head, mid, tail]).float()[torch.randperm(n, generator=g)]


@pytest.fixture(scope="session")
def regions() -> ShotRegions:
    return ShotRegions.fit(labels(2000, 1), many=100, few=20, lower=0.0, upper=29.0)


@pytest.fixture(scope="session")
def mlp_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return torch.randn(83, 6, generator=g), labels(83, 3)


@pytest.fixture(scope="session")
def conv_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    return torch.randn(61, 2, 5, 5, generator=g), labels(61, 5)
