"""Data-parallel training: 2 CPU processes (torchrun, gloo) equal 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bsam.checkpoint import load_checkpoint
from bsam.distributed import shard_batch
from bsam.models import build_model
from bsam.train import train
from bsam.train.distributed import DistContext, shard
from tests.bsam._tiny_data import tiny_config

_REPO = Path(__file__).resolve().parents[2]
# batch 25 over 2 ranks gives uneven shards (13 + 12): the exact global mean must still hold.
_RUNS = [("bsam", "global"), ("imbsam", "global"), ("vanilla", "global"), ("bsam", "local")]
_CONFIG = {"epochs": 2, "batch_size": 25}

_WORKER = """
import sys
sys.path.insert(0, {repo!r})
from tests.bsam._tiny_data import tiny_config
from bsam.train import train
for method, sync in {runs!r}:
    train(tiny_config(method=method, perturb_sync=sync, **{config!r}),
          out_dir=f"{{sys.argv[1]}}/{{method}}_{{sync}}", quiet=True)
"""


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model_state"]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    script = root / "worker.py"
    script.write_text(textwrap.dedent(_WORKER.format(repo=str(_REPO), runs=_RUNS, config=_CONFIG)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BSAM_QUIET": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(root / "out"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root / "out"


@pytest.mark.parametrize(("method", "sync"), [r for r in _RUNS if r[1] == "global"])
def test_two_processes_equal_one(ddp_runs, tmp_path, method, sync) -> None:
    single = train(
        tiny_config(method=method, perturb_sync=sync, **_CONFIG), out_dir=tmp_path, quiet=True
    )
    a, b = _weights(ddp_runs / f"{method}_{sync}" / "last.pt"), _weights(single.last_path)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)
    torch.manual_seed(0)  # the run's seed: the weights at initialisation
    init = build_model("mlp", in_features=6, hidden=[16]).state_dict()
    assert max(float((init[k] - a[k]).abs().max()) for k in a) > 1e-3  # training moved them
    ddp_log = (ddp_runs / f"{method}_{sync}" / "log.csv").read_text().splitlines()
    assert len(ddp_log) == 1 + _CONFIG["epochs"]  # rank 0 alone writes the files


def test_local_perturbation_differs_from_global(ddp_runs) -> None:
    glob = _weights(ddp_runs / "bsam_global" / "last.pt")
    local = _weights(ddp_runs / "bsam_local" / "last.pt")
    gap = max(float((glob[k] - local[k]).abs().max()) for k in glob)
    assert gap > 1e-4  # m-sharpness with m = per-rank shard is a different algorithm


def test_shard_splits_a_batch_contiguously() -> None:
    batch = torch.arange(25)
    parts = [shard(batch, DistContext(rank=r, world_size=2)) for r in range(2)]
    assert parts[0].tolist() == list(range(13)) and parts[1].tolist() == list(range(13, 25))
    assert shard(batch, DistContext()) is batch
    assert shard is shard_batch  # the old name is the one implementation


def test_the_ddp_step_wrappers_are_gone_and_the_steps_take_the_hook() -> None:
    import inspect

    import bsam.train.distributed as module
    from bsam.optim import imbsam_step, plain_step, sam_step

    assert not any(name.startswith("ddp_") for name in dir(module))
    for step in (plain_step, sam_step, imbsam_step):
        assert {"sync", "count"} <= set(inspect.signature(step).parameters)
