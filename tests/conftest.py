"""Shared test fixtures."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("BSAM_QUIET", "1")
# Tests use small tensors: one intra-op thread is fastest, and avoids oversubscription on
# 2-core machines that run other jobs.
torch.set_num_threads(1)

COUNTS_CSV = Path(__file__).resolve().parents[1] / "bsam" / "data" / "resources" / "agedb_dir_label_counts.csv"


@pytest.fixture(scope="session")
def agedb_counts() -> dict[str, np.ndarray]:
    """AgeDB-DIR per-age counts: ``{"age", "train", "val", "test"}`` as integer arrays."""
    with COUNTS_CSV.open() as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([int(r[k]) for r in rows]) for k in ("age", "train", "val", "test")}


@pytest.fixture(scope="session")
def agedb_train_labels(agedb_counts) -> torch.Tensor:
    """The AgeDB-DIR training labels (one per sample), as float tensor."""
    return torch.tensor(np.repeat(agedb_counts["age"], agedb_counts["train"]), dtype=torch.float32)


@pytest.fixture(scope="session")
def quick_reproduction(tmp_path_factory):
    """One quick ``bsam reproduce``, killed in the Hessian stage and then resumed.

    Returns ``{"config", "killed_at": {path: mtime}, "result"}``: the modification times of the
    files written before the kill, and the result of the resumed run.
    """
    from analyses.reproduce import ReproduceConfig, pipeline, reproduce

    out = tmp_path_factory.mktemp("reproduce-quick")
    cfg = ReproduceConfig.quick_config(out=str(out))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("simulated kill during the Hessian stage")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "hessian_stage", killed)
        with pytest.raises(KeyboardInterrupt):
            reproduce(cfg, quiet=True)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.suffix in (".pt", ".h5")}
    result = reproduce(cfg, quiet=True)
    return {"config": cfg, "killed_at": before, "result": result}
