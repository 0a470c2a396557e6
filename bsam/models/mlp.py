"""A multi-layer perceptron regressor, for tests and tabular inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "mlp"]


class MLP(nn.Module):
    """Flatten the input, then ``Linear -> ReLU`` for each hidden width, then a linear head.

    Parameters
    ----------
    in_features : int
        Number of input features after flattening (``3 * 32 * 32`` for the synthetic images).
    hidden : sequence of int
        Widths of the hidden layers (empty: linear regression).
    num_outputs : int
        Outputs of the head.
    """

    def __init__(
        self, in_features: int = 3 * 32 * 32, hidden: Sequence[int] = (64,), num_outputs: int = 1
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("num_outputs", num_outputs)):
            if int(value) < 1:
                raise ValueError(f"Invalid {name} {value}; {name} must be >= 1.")
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"Invalid hidden widths {list(hidden)}; every width must be >= 1.")
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(in_features)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, int(num_outputs)))
        self.net = nn.Sequential(*layers)
        self.in_features = int(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions, shape ``(N, num_outputs)``."""
        if x[0].numel() != self.in_features:
            raise ValueError(
                f"MLP expects {self.in_features} features per sample, got input of shape "
                f"{tuple(x.shape)}; set in_features={x[0].numel()}."
            )
        return self.net(x)


def mlp(in_features: int = 3 * 32 * 32, hidden: Sequence[int] = (64,), num_outputs: int = 1) -> MLP:
    """Build an :class:`MLP` (see its parameters)."""
    return MLP(in_features, tuple(hidden), num_outputs)
