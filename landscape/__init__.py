"""Loss landscapes per shot region: directions, surfaces, their HDF5 store, distributed grids.

Typical use::

    import numpy as np
    import landscape

    dirs = landscape.random_directions(model, seed=0)            # filter-normalized, 2D
    landscape.save_directions("dirs.h5", dirs)
    res = landscape.compute_surface(
        model, test_set, regions=regions, directions=dirs,
        xcoords=np.linspace(-1, 1, 51), ycoords=np.linspace(-1, 1, 51), out="surface.h5",
    )
    res.loss["few"]                                             # (51, 51) grid
    landscape.read_surface("surface.h5")

The public names are imported on first use (PEP 562), so ``import landscape`` (and the
``bsam surface`` command line) does not import torch or h5py until a name is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsam import _lazy_exports

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from landscape.directions import (
        Directions,
        load_directions,
        orthogonalize,
        random_directions,
        save_directions,
    )
    from landscape.from_checkpoint import checkpoint_surface, parse_grid
    from landscape.normalization import NORMS, normalize_direction
    from landscape.store import SurfaceResult, read_surface
    from landscape.surface import compute_surface
    from landscape.trajectory import pca_directions, project_trajectory

__all__ = [
    "Directions",
    "NORMS",
    "SurfaceResult",
    "checkpoint_surface",
    "compute_surface",
    "load_directions",
    "normalize_direction",
    "orthogonalize",
    "parse_grid",
    "pca_directions",
    "project_trajectory",
    "random_directions",
    "read_surface",
    "save_directions",
]

#: Module that defines each lazily imported public name.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("Directions", "load_directions", "orthogonalize", "random_directions", "save_directions"),
        "landscape.directions",
    ),
    **dict.fromkeys(("checkpoint_surface", "parse_grid"), "landscape.from_checkpoint"),
    **dict.fromkeys(("NORMS", "normalize_direction"), "landscape.normalization"),
    **dict.fromkeys(("SurfaceResult", "read_surface"), "landscape.store"),
    "compute_surface": "landscape.surface",
    **dict.fromkeys(("pca_directions", "project_trajectory"), "landscape.trajectory"),
}

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
