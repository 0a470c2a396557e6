"""``bench/bench_convergence.py``: the default run against the same recipe three times longer."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_convergence.py"


@pytest.mark.parametrize("jobs", [1, 2])
def test_bench_convergence_compares_each_default_run_with_the_long_one(tmp_path, jobs):
    out = tmp_path / "c.json"
    subprocess.run([sys.executable, str(_BENCH), "--quick", "--methods", "sqinv", "--jobs",
                    str(jobs), "--threads", "1", "--out-dir", str(tmp_path / "runs"),
                    "--json", str(out)], check=True, capture_output=True)
    result = json.loads(out.read_text())
    row = result["methods"]["sqinv"]
    assert (row["epochs"], row["long_epochs"], result["jobs"]) == (1, 3, jobs)
    assert row["ratio"] == pytest.approx(row["val_mae"] / row["long_val_mae"])
    assert row["within"] == (row["ratio"] <= 1.03) and result["all_within"] == row["within"]
    # the numbers are those of the run folders' selected checkpoints
    folders = sorted((tmp_path / "runs").iterdir())
    assert [f.name.split("-")[2] for f in folders] == ["e1", "e3"]
    vals = [json.loads((f / "metrics.json").read_text())["best"]["val"]["all"]["mae"] for f in folders]
    assert vals == [row["val_mae"], row["long_val_mae"]]
