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
"""

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
