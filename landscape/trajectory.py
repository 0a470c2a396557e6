"""Directions from a training trajectory: principal components of the checkpoints' offsets.

Following Li et al. (NeurIPS 2018, section 7), with :math:`\\theta_n` the final weights and
:math:`\\theta_0, \\dots, \\theta_{n-1}` saved checkpoints, the rows of
:math:`M = [\\theta_i - \\theta_n]_i` are (optionally) centred and the two leading right singular
vectors of :math:`M` are the directions: the axes along which the trajectory moved the most. The
directions are unit vectors over the flattened weights; :func:`project_trajectory` gives each
checkpoint's coordinates in their plane.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape._params import state_hash, target_tensors
from landscape.directions import Directions

__all__ = ["pca_directions", "project_trajectory"]

Checkpoint = Mapping[str, torch.Tensor] | nn.Module | str | os.PathLike


def _state_of(item: Checkpoint, index: int) -> Mapping[str, torch.Tensor]:
    if isinstance(item, nn.Module):
        return item.state_dict()
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"Trajectory checkpoint {index} not found: {path}")
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, Mapping) and "model_state" in obj:
            obj = obj["model_state"]
        if not isinstance(obj, Mapping):
            raise ValueError(f"Trajectory checkpoint {index} ({path}) holds no state dict.")
        return obj
    if isinstance(item, Mapping):
        return item
    raise ValueError(
        f"Invalid trajectory entry {index} of type {type(item).__name__}; pass state dicts, "
        "modules or checkpoint paths."
    )


def _included(named: list[tuple[str, torch.Tensor]], ignore_1d: bool) -> list[bool]:
    return [t.is_floating_point() and not (ignore_1d and t.dim() <= 1) for _, t in named]


def _offsets(
    model: nn.Module, trajectory: Sequence[Checkpoint], states: bool, ignore_1d: bool
) -> tuple[list[tuple[str, torch.Tensor]], list[bool], torch.Tensor]:
    named = target_tensors(model, states=states)
    keep = _included(named, ignore_1d)
    rows = []
    for k, item in enumerate(trajectory):
        state = _state_of(item, k)
        parts = []
        for (name, t), use in zip(named, keep):
            if not use:
                continue
            if name not in state:
                raise ValueError(
                    f"Trajectory checkpoint {k} has no tensor '{name}'; every checkpoint must come "
                    "from the same architecture as the model."
                )
            other = state[name]
            if tuple(other.shape) != tuple(t.shape):
                raise ValueError(
                    f"Trajectory checkpoint {k}: '{name}' has shape {tuple(other.shape)}, the "
                    f"model has {tuple(t.shape)}."
                )
            parts.append((other.detach().cpu().double() - t.detach().cpu().double()).flatten())
        rows.append(torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64))
    return named, keep, torch.stack(rows)


def _split(vec: torch.Tensor, named: list, keep: list[bool]) -> list[torch.Tensor]:
    out, pos = [], 0
    for (_, t), use in zip(named, keep):
        if use:
            n = t.numel()
            out.append(vec[pos : pos + n].reshape(t.shape).to(device=t.device, dtype=t.dtype))
            pos += n
        else:
            out.append(torch.zeros_like(t))
    return out


def pca_directions(
    model: nn.Module,
    trajectory: Sequence[Checkpoint],
    *,
    ignore_1d: bool = True,
    states: bool = False,
    center: bool = True,
) -> tuple[Directions, np.ndarray]:
    """The two principal directions of a training trajectory around ``model``'s weights.

    Parameters
    ----------
    model:
        The network at the centre point (usually the final checkpoint).
    trajectory:
        Earlier checkpoints: state dicts, modules, or paths to ``torch.save`` files (a bsam
        checkpoint's ``model_state`` is used). At least two.
    ignore_1d:
        Leave biases and normalization layers out (their direction entries are zero).
    states:
        Align with ``state_dict()`` (include buffers) rather than ``named_parameters()``.
    center:
        Subtract the mean offset before the decomposition (as ``sklearn.decomposition.PCA``).

    Returns
    -------
    (Directions, numpy.ndarray)
        Unit-norm directions ``x`` (first component) and ``y`` (second), and the explained
        variance ratio of every component, :math:`s_k^2 / \\sum_j s_j^2`.
    """
    if len(trajectory) < 2:
        raise ValueError(
            f"Need at least 2 trajectory checkpoints for PCA directions, got {len(trajectory)}."
        )
    named, keep, rows = _offsets(model, trajectory, states, ignore_1d)
    if center:
        rows = rows - rows.mean(dim=0, keepdim=True)
    # Right singular vectors through the small Gram matrix M M^T (T x T): V = M^T U / s.
    gram = rows @ rows.T
    evals, evecs = torch.linalg.eigh(gram)
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order].clamp_min(0), evecs[:, order]
    if float(evals[1]) <= 0:
        raise ValueError(
            "The trajectory spans fewer than 2 dimensions (second singular value is 0); pass "
            "checkpoints that differ from each other."
        )
    axes = []
    for k in range(2):
        v = rows.T @ evecs[:, k] / evals[k].sqrt()
        v = v / v.norm()
        if float(v[v.abs().argmax()]) < 0:  # deterministic sign: largest entry positive
            v = -v
        axes.append(_split(v, named, keep))
    ratio = (evals / evals.sum()).numpy()
    info = {
        "method": "pca",
        "checkpoints": len(trajectory),
        "center": bool(center),
        "ignore_1d": bool(ignore_1d),
        "states": bool(states),
        "norm": "none",
        "explained_variance_ratio": [float(r) for r in ratio[:2]],
        "dims": 2,
        "model_hash": state_hash(model),
    }
    return Directions(axes[0], axes[1], [n for n, _ in named], bool(states), info), ratio


def project_trajectory(
    model: nn.Module, trajectory: Sequence[Checkpoint], directions: Directions
) -> np.ndarray:
    """Coordinates of each checkpoint in the plane of ``directions``, centred on ``model``.

    For offset :math:`\\delta_i = \\theta_i - \\theta` the coordinates are
    :math:`(\\langle \\delta_i, x\\rangle / \\lVert x\\rVert^2, \\langle \\delta_i, y\\rangle /
    \\lVert y\\rVert^2)`, so that :math:`\\theta + a x + b y` is the point's projection when
    :math:`x \\perp y`. Returns an array of shape ``(len(trajectory), 2)``.
    """
    if directions.y is None:
        raise ValueError("project_trajectory needs 2 directions; got a 1D direction.")
    named, keep, rows = _offsets(model, trajectory, directions.states, ignore_1d=False)
    coords = []
    for axis in (directions.x, directions.y):
        vec = torch.cat([d.detach().cpu().double().flatten() for d, use in zip(axis, keep) if use])
        coords.append((rows @ vec) / vec.square().sum())
    return torch.stack(coords, dim=1).numpy()
