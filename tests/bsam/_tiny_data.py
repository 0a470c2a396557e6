"""A tiny in-memory imbalanced regression data set for the training tests (registered by name).

Targets are integer "ages" in [0, 20) drawn from a skewed histogram (many-, medium- and few-shot
bins with thresholds many=20, few=6); the input is 6 features, the first a noisy linear function
of the target, so an MLP learns something in a few epochs.
"""

from __future__ import annotations

import numpy as np
import torch

from bsam.data import DATASETS, RegressionDataset, register_dataset

NAME = "tiny-regression"
#: Thresholds that give all three regions on this data set.
MANY, FEW = 20, 6
_SIZES = {"train": 240, "val": 80, "test": 80}


class TinyRegression(RegressionDataset):
    """Features ``x`` (6,) and target ``y`` in [0, 20) (or a 2x2 map of such values), in memory."""

    bin_width = 1.0
    label_range = (0.0, 19.0)
    in_memory = True

    def __init__(
        self,
        split: str,
        seed: int = 0,
        n: int | None = None,
        in_memory: bool = True,
        dense: bool = False,
    ) -> None:
        self.name, self.split, self.in_memory = NAME, split, in_memory
        rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
        size = n or _SIZES[split]
        probs = np.exp(-np.arange(20) / 4.0)
        y = rng.choice(20, size=size, p=probs / probs.sum()).astype(np.float32)
        x = rng.normal(size=(size, 6)).astype(np.float32)
        x[:, 0] = (y - 5.0) / 4.0 + 0.3 * x[:, 0]
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        if dense:  # a 2x2 "depth map" per sample: the target plus fixed offsets, all positive
            offsets = torch.tensor([[0.5, 1.0], [1.5, 2.0]])
            self.y = (self.y[:, None, None] + offsets).clamp(max=19.0)

    @property
    def targets(self) -> torch.Tensor:
        return self.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y

    def augment_batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Train-time augmentation: Gaussian noise of std 0.1 on every feature."""
        return x + 0.1 * torch.randn(x.shape, generator=generator)


if NAME not in DATASETS:

    @register_dataset(NAME)
    def _tiny(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
        return TinyRegression(split, seed=seed, **kwargs)


def tiny_config(**overrides):
    """A TrainConfig for the tiny data set with an MLP (fast on one CPU core)."""
    from bsam.train import TrainConfig

    base = dict(
        data=NAME,
        model="mlp",
        model_kwargs={"in_features": 6, "hidden": [16]},
        epochs=3,
        batch_size=32,
        lr=0.05,
        many=MANY,
        few=FEW,
        device="cpu",
        weight_decay=0.0,
    )
    base.update(overrides)
    return TrainConfig(**base)
