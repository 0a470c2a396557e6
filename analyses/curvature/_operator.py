"""Private helpers shared by the eigen, trace and density estimators.

An estimator accepts either a dense symmetric matrix (a 2-D tensor) or an operator object with
``shape``, ``dtype``, ``device`` and ``@`` on a 1-D vector (such as
:class:`analyses.curvature.hvp.CurvatureOperator`). Every product goes through one function, so the
estimators can count them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__: list[str] = []

Matvec = Callable[[torch.Tensor], torch.Tensor]


class _Counted:
    """A matrix-vector product that counts how often it was called."""

    def __init__(self, A: Any, name: str = "A") -> None:
        if isinstance(A, torch.Tensor):
            if A.dim() != 2 or A.shape[0] != A.shape[1]:
                raise ValueError(
                    f"Invalid {name}: a dense operator must be a square matrix, got shape "
                    f"{tuple(A.shape)}; pass a symmetric (n, n) tensor or a CurvatureOperator."
                )
            self._mv: Matvec = lambda v: A @ v
            n = A.shape[0]
            self.dtype, self.device = A.dtype, A.device
        elif hasattr(A, "shape") and hasattr(A, "__matmul__") and hasattr(A, "dtype"):
            shape = tuple(A.shape)
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ValueError(f"Invalid {name}: operator shape {shape} is not square.")
            self._mv = lambda v: A @ v
            n = shape[0]
            self.dtype, self.device = A.dtype, torch.device(A.device)
        else:
            raise TypeError(
                f"Invalid {name} of type {type(A).__name__}: pass a square torch.Tensor or an "
                "operator with shape, dtype, device and @ (e.g. CurvatureOperator)."
            )
        if n == 0:
            raise ValueError(f"Invalid {name}: the operator has dimension 0 (no parameters).")
        if not (self.dtype.is_floating_point):
            raise ValueError(f"Invalid {name} dtype {self.dtype}; use a floating-point dtype.")
        self.n = int(n)
        self.count = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return self._mv(v)


def _generator(seed: int | torch.Generator | None, device: torch.device) -> torch.Generator:
    """A generator on ``device`` (CPU generators serve CUDA tensors through CPU sampling)."""
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device="cpu")
    gen.manual_seed(0 if seed is None else int(seed))
    return gen


def _random_vector(
    n: int,
    distribution: str,
    gen: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """A probe vector with :math:`E[v v^T] = I` (Rademacher or standard normal)."""
    gdev = gen.device
    if distribution == "rademacher":
        v = torch.randint(0, 2, (n,), generator=gen, device=gdev).to(dtype).mul_(2).sub_(1)
    elif distribution == "normal":
        v = torch.randn(n, generator=gen, device=gdev, dtype=dtype)
    else:
        raise ValueError(f"Invalid distribution {distribution!r}; choose 'rademacher' or 'normal'.")
    return v.to(device=device, dtype=dtype)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name} value: {value!r}; {name} must be an integer >= 1.")
    return value


def _check_tol(value: Any, name: str = "tol") -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"Invalid {name} value: {value!r}; {name} must be a number > 0.")
    return float(value)
