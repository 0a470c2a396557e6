"""Directions in weight space: seeded random Gaussian ones, orthogonalization, HDF5 files.

A direction is a list of tensors aligned with the model's parameters (``states=False``, the order of
``model.named_parameters()``) or with its ``state_dict()`` entries (``states=True``, which also moves
BatchNorm running statistics). Files use loss-landscape's layout (Li et al., NeurIPS 2018): groups
``xdirection`` and ``ydirection``, each holding datasets ``"0" .. "n-1"`` in that order, so
directions made by either tool load in the other; attributes record how they were made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from bsam._io import atomic_path
from bsam._state import state_hash
from bsam._version import __version__
from landscape._params import target_tensors, tensors_hash
from landscape.normalization import check_norm, normalize_direction

__all__ = [
    "Directions",
    "random_directions",
    "orthogonalize",
    "save_directions",
    "load_directions",
    "DIRECTIONS_FORMAT",
]

#: Value of the ``format`` attribute of the direction files this package writes.
DIRECTIONS_FORMAT = "bsam-directions/1"


@dataclass
class Directions:
    """One or two directions in weight space.

    Attributes
    ----------
    x, y:
        Tensors aligned with the model's tensors (``y`` is ``None`` for a 1D surface).
    names:
        Names of the model tensors they are aligned with (empty when unknown, e.g. a foreign file).
    states:
        Whether they are aligned with ``state_dict()`` (parameters and buffers) rather than with
        ``named_parameters()``.
    info:
        How they were made (JSON-safe: method, seed, norm, ignore_1d, states, orthogonal, dims)
        and ``model_hash``, the :func:`bsam._state.state_hash` of the weights they were
        normalized to.
    source:
        The file they were loaded from or saved to, if any.
    """

    x: list[torch.Tensor]
    y: list[torch.Tensor] | None = None
    names: list[str] = field(default_factory=list)
    states: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def dims(self) -> int:
        """1 or 2, the number of directions."""
        return 1 if self.y is None else 2

    def content_hash(self) -> str:
        """SHA-256 (16 hex digits) of the direction tensors (``x`` then ``y``)."""
        tensors = list(self.x) + ([] if self.y is None else list(self.y))
        return tensors_hash(tensors) + ("-states" if self.states else "")

    def check(self, model: nn.Module) -> None:
        """Raise ``ValueError`` naming the first model tensor the directions do not match."""
        where = f"Directions from {self.source}" if self.source else "The directions"
        targets = target_tensors(model, states=self.states)
        fix = (
            "make directions for this model with landscape.random_directions, or pass the "
            "direction file that was made for it (--dir-file)"
        )
        for axis, tensors in (("xdirection", self.x), ("ydirection", self.y)):
            if tensors is None:
                continue
            for i, (name, t) in enumerate(targets):
                if i >= len(tensors):
                    raise ValueError(
                        f"{where} do not match the model: {axis} has {len(tensors)} tensors but "
                        f"the model has {len(targets)}; first unmatched parameter {i} '{name}' "
                        f"{tuple(t.shape)}; {fix}."
                    )
                if tuple(tensors[i].shape) != tuple(t.shape):
                    raise ValueError(
                        f"{where} do not match the model: parameter {i} '{name}' has shape "
                        f"{tuple(t.shape)} in the model but {tuple(tensors[i].shape)} in "
                        f"{axis}/{i}; {fix}."
                    )
            if len(tensors) > len(targets):
                raise ValueError(
                    f"{where} do not match the model: {axis} has {len(tensors)} tensors but the "
                    f"model has only {len(targets)} (extra tensor {len(targets)} of shape "
                    f"{tuple(tensors[len(targets)].shape)}); {fix}."
                )


def _randn_like(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    # Drawn on the CPU in float32/float64 so that a seed gives the same numbers on any device.
    dtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
    return torch.randn(tuple(t.shape), generator=gen, dtype=dtype).to(
        device=t.device, dtype=t.dtype
    )


def orthogonalize(x: list[torch.Tensor], y: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gram-Schmidt step: remove from ``y`` its component along ``x``, keep ``y``'s norm.

    Over the flattened directions, :math:`y' = y - \\frac{\\langle y, x\\rangle}{\\langle x, x
    \\rangle} x`, then :math:`y' \\leftarrow y' \\, \\lVert y\\rVert / \\lVert y'\\rVert`, so that
    :math:`\\langle x, y'\\rangle = 0` and the scale of the second axis is unchanged. Computed in
    float64.
    """
    dot = sum(float((a.double() * b.double()).sum()) for a, b in zip(x, y))
    xx = sum(float(a.double().square().sum()) for a in x)
    if xx == 0:
        raise ValueError("Cannot orthogonalize against a zero x direction; x has norm 0.")
    coef = dot / xx
    out = [(b.double() - coef * a.double()) for a, b in zip(x, y)]
    yy = sum(float(b.double().square().sum()) for b in y)
    oo = sum(float(o.square().sum()) for o in out)
    scale = (yy / oo) ** 0.5 if oo > 0 else 0.0
    return [(o * scale).to(b.dtype) for o, b in zip(out, y)]


def random_directions(
    model: nn.Module,
    *,
    seed: int,
    norm: str = "filter",
    ignore_1d: bool = True,
    states: bool = False,
    dims: int = 2,
    orthogonal: bool = False,
) -> Directions:
    """Seeded random Gaussian directions, normalized to the model's weights.

    ``info`` records the arguments and the model hash of the weights they are normalized to, so
    a direction file can be checked against a later request (:mod:`landscape.from_checkpoint`).
    Every entry of :math:`x` (then :math:`y`) is drawn from :math:`\\mathcal N(0, 1)` by a
    ``torch.Generator`` seeded with ``seed`` on the CPU, tensor by tensor in the model's order, then
    scaled by :func:`landscape.normalization.normalize_direction` (filter normalization of Li et
    al., NeurIPS 2018, by default). The same seed gives the same directions on every machine.

    Parameters
    ----------
    model:
        The network at the centre point :math:`\\theta`.
    seed:
        Seed of the generator.
    norm:
        ``"filter"``, ``"layer"``, ``"model"`` or ``"none"``.
    ignore_1d:
        Zero the direction on biases and normalization layers (tensors with ``dim() <= 1``).
    states:
        Also perturb buffers (BatchNorm running statistics): align with ``state_dict()``.
    dims:
        1 (only ``x``) or 2 (``x`` and ``y``; ``x`` is the same as for ``dims=1``).
    orthogonal:
        Make ``y`` orthogonal to ``x`` with :func:`orthogonalize` (after normalization).
    """
    check_norm(norm)
    if dims not in (1, 2):
        raise ValueError(f"Invalid dims {dims!r}; a surface has 1 or 2 directions.")
    if orthogonal and dims != 2:
        raise ValueError("orthogonal=True needs dims=2 (there is no y direction to orthogonalize).")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"Invalid seed {seed!r}; pass an integer.")
    named = target_tensors(model, states=states)
    weights = [t.detach() for _, t in named]
    gen = torch.Generator().manual_seed(int(seed))
    axes = []
    for _ in range(dims):
        raw = [
            _randn_like(w, gen) if w.is_floating_point() else torch.zeros_like(w) for w in weights
        ]
        axes.append(normalize_direction(raw, weights, norm=norm, ignore_1d=ignore_1d))
    y = axes[1] if dims == 2 else None
    if orthogonal:
        y = orthogonalize(axes[0], y)
    info = {
        "method": "random",
        "seed": int(seed),
        "norm": norm,
        "ignore_1d": bool(ignore_1d),
        "states": bool(states),
        "orthogonal": bool(orthogonal),
        "dims": int(dims),
        "model_hash": state_hash(model),
    }
    return Directions(axes[0], y, [n for n, _ in named], bool(states), info)


def save_directions(path: str | os.PathLike, directions: Directions) -> Path:
    """Write ``directions`` to an HDF5 file in loss-landscape's layout, atomically.

    Datasets ``xdirection/<i>`` (and ``ydirection/<i>``) hold tensor ``i``; the root attributes hold
    ``format``, ``names`` (JSON), ``states``, ``info`` (JSON), ``version`` and ``hash``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for axis, tensors in (("xdirection", directions.x), ("ydirection", directions.y)):
                if tensors is None:
                    continue
                group = f.create_group(axis)
                for i, t in enumerate(tensors):
                    group.create_dataset(str(i), data=t.detach().cpu().numpy())
            f.attrs["format"] = DIRECTIONS_FORMAT
            f.attrs["names"] = json.dumps(list(directions.names))
            f.attrs["states"] = bool(directions.states)
            f.attrs["info"] = json.dumps(directions.info)
            f.attrs["version"] = __version__
            f.attrs["hash"] = directions.content_hash()
    directions.source = str(path)
    return path


def _read_group(f: h5py.File, axis: str, path: Path) -> list[torch.Tensor] | None:
    if axis not in f:
        return None
    group = f[axis]
    keys = list(group.keys())
    if not all(k.isdigit() for k in keys) or sorted(int(k) for k in keys) != list(range(len(keys))):
        raise ValueError(
            f"{path} is not a direction file: group {axis!r} must hold datasets '0'..'n-1' "
            f"(found {sorted(keys)[:5]}...)."
        )
    return [torch.from_numpy(np.array(group[str(i)])) for i in range(len(keys))]


def load_directions(
    path: str | os.PathLike, model: nn.Module | None = None, *, states: bool | None = None
) -> Directions:
    """Read directions written by :func:`save_directions` or by loss-landscape.

    Parameters
    ----------
    path:
        The HDF5 file.
    model:
        When given, the directions are checked against it (:meth:`Directions.check`) and moved to
        its tensors' devices and dtypes.
    states:
        For foreign files without a ``states`` attribute: whether they cover ``state_dict()``
        entries; ``None`` guesses from ``model`` (the count that matches).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Direction file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"Cannot read direction file {path}: not an HDF5 file or corrupt ({err})."
        ) from err
    with f:
        x = _read_group(f, "xdirection", path)
        if x is None:
            raise ValueError(
                f"{path} is not a direction file: it has no 'xdirection' group (found "
                f"{sorted(f.keys())})."
            )
        y = _read_group(f, "ydirection", path)
        fmt = f.attrs.get("format")
        names = json.loads(f.attrs["names"]) if "names" in f.attrs else []
        info = json.loads(f.attrs["info"]) if "info" in f.attrs else {"method": "foreign"}
        file_states = bool(f.attrs["states"]) if "states" in f.attrs else None
    if fmt is not None and fmt != DIRECTIONS_FORMAT:
        raise ValueError(
            f"{path} has direction format {fmt!r}; this version reads {DIRECTIONS_FORMAT!r}."
        )
    if file_states is None:
        file_states = bool(states)
        if states is None and model is not None:
            n_params = len(list(model.parameters()))
            file_states = len(x) != n_params and len(x) == len(model.state_dict())
    elif states is not None and states != file_states:
        raise ValueError(
            f"{path} holds directions with states={file_states}, but states={states} was asked; "
            "make new directions or drop the states argument."
        )
    directions = Directions(x, y, names, file_states, info, str(path))
    if model is not None:
        directions.check(model)
        targets = target_tensors(model, states=file_states)
        directions.x = [d.to(t.device, t.dtype) for d, (_, t) in zip(directions.x, targets)]
        if directions.y is not None:
            directions.y = [d.to(t.device, t.dtype) for d, (_, t) in zip(directions.y, targets)]
    return directions
