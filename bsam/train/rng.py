"""Capture and restore every random number generator a run draws from, for an exact resume.

The state is stored in checkpoints, so it holds only tensors, ints, floats and strings (loadable
with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "capture_rng", "restore_rng"]


def seed_everything(seed: int) -> None:
    """Seed Python's :mod:`random`, NumPy's global generator and torch (CPU and CUDA) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Return the states of Python, NumPy, torch (CPU, CUDA) and the named ``generators``.

    Parameters
    ----------
    generators : dict of str to torch.Generator, optional
        Extra generators of the run (data order, augmentation), stored under their names.
    """
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    return state


def restore_rng(
    state: dict[str, Any], generators: dict[str, torch.Generator] | None = None
) -> None:
    """Restore the states captured by :func:`capture_rng` (the named generators in place).

    Raises
    ------
    ValueError
        When a generator of ``generators`` has no stored state.
    """
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (
            nps["kind"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["cached"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
    stored = state.get("generators", {})
    for name, gen in (generators or {}).items():
        if name not in stored:
            raise ValueError(
                f"Invalid RNG state: no state for generator {name!r} (stored: {sorted(stored)}); "
                "the checkpoint was written by a different training loop"
            )
        gen.set_state(stored[name].cpu())
