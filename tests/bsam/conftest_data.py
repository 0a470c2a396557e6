"""Shared data fixtures (session scope), importable by any test module:

    from tests.bsam.conftest_data import agedb_synth_full  # noqa: F401

``agedb_synth_full`` generates the full default ``agedb-synth`` benchmark (16,488 images at
32x32, ~10-15 s on one core) once per test session into a temporary cache folder and returns
that folder; pass it as ``cache_dir=`` to :func:`bsam.data.get_dataset`.
"""

import pytest

from bsam.data.render import RenderParams
from bsam.data.synth import generate_synth

__all__ = ["agedb_synth_full"]


@pytest.fixture(scope="session")
def agedb_synth_full(tmp_path_factory):
    """Cache folder holding the full default agedb-synth benchmark (seed 0)."""
    cache = tmp_path_factory.mktemp("agedb_synth_cache")
    generate_synth("agedb", 0, RenderParams(), cache_dir=cache)
    return cache
