"""One model hash everywhere: the surface file and the curvature result record the same one."""

import hashlib

import numpy as np
import torch

from analyses.curvature import model_hash, region_curvature
from bsam.regions import ShotRegions
from landscape import compute_surface, random_directions, read_surface


def _reference_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, t in model.state_dict().items():
        digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def test_surface_file_and_curvature_result_share_the_model_hash(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 1)
    ).double()
    model.eval()
    X = torch.randn(24, 3, dtype=torch.float64)
    y = (torch.arange(24) % 6).double()
    regions = ShotRegions.fit(y, many=4, few=3)
    surface = compute_surface(
        model, (X, y), regions=regions, xcoords=np.linspace(-0.5, 0.5, 3), quiet=True,
        directions=random_directions(model, seed=0, dims=1), out=tmp_path / "s.h5",
    )
    curv = region_curvature(model, (X, y), regions, region_names=("all",), metrics=("trace",),
                            trace_method="hutchinson", trace_max_matvecs=20)
    expected = _reference_hash(model)
    assert read_surface(surface.path).attrs["model_hash"] == expected
    assert curv["provenance"]["model_hash"] == expected
    assert model_hash(model) == expected
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-12  # any bit changes the hash
    assert model_hash(model) != expected
