"""examples/own_model.py in its fast setting: its outputs against independent references (direct
MAE per region, the exact Gauss-Newton spectrum from a dense Jacobian), and its size."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_model.py"
TOOLKIT_CALL = re.compile(r"\b(bsam|landscape|analyses)\.[A-Za-z_.]+\(")


def _load():
    spec = importlib.util.spec_from_file_location("own_model_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    example = _load()
    out = tmp_path_factory.mktemp("own_model")
    return example, example.main(["--quick", "--out", str(out)]), out


def _few_bins(example) -> np.ndarray:
    _, y_train = example.make_data(3000, balanced=False, seed=0)
    counts = np.histogram(y_train.numpy(), bins=np.arange(0, 11))[0]
    return np.flatnonzero(counts < 20)


def _trained(example, out: Path, label: str) -> torch.nn.Module:
    model = example.TinyRegressor()
    model.load_state_dict(torch.load(out / f"{label}.pt", weights_only=True))
    return model.eval()


def test_per_region_mae_equals_a_direct_computation(run):
    example, _, out = run
    metrics = json.loads((out / "metrics.json").read_text())
    x, y = example.make_data(1000, balanced=True, seed=1)
    few = np.isin(np.floor(y.numpy()).astype(int), _few_bins(example))
    assert few.any() and set(metrics) == {"SQINV", "BSAM"}
    for label, report in metrics.items():
        with torch.no_grad():
            err = (_trained(example, out, label)(x) - y).abs().double().numpy()
        assert report["all"]["mae"] == pytest.approx(err.mean(), rel=1e-6)
        assert report["few"]["n"] == few.sum()
        assert report["few"]["mae"] == pytest.approx(err[few].mean(), rel=1e-6)


def test_curvature_equals_the_exact_gauss_newton_spectrum(run):
    example, _, out = run
    curvature = json.loads((out / "curvature.json").read_text())
    x, y = example.make_data(1000, balanced=True, seed=1)
    few = torch.from_numpy(np.isin(np.floor(y.numpy()).astype(int), _few_bins(example)))
    for label in ("SQINV", "BSAM"):
        model = _trained(example, out, label).double()
        params = dict(model.named_parameters())
        xs = x[few].double()

        def f(p, xs=xs, model=model):
            return torch.func.functional_call(model, p, (xs,))

        jac = torch.func.jacrev(f)(params)
        J = torch.cat([j.reshape(len(xs), -1) for j in jac.values()], dim=1)
        ggn = (J.T @ J / len(xs)).detach()
        entry = curvature[label]["few"]
        assert entry["lambda_max"] == pytest.approx(float(torch.linalg.eigvalsh(ggn)[-1]), rel=1e-3)
        exact_trace = float(torch.trace(ggn))
        assert abs(entry["trace"] - exact_trace) <= 5 * entry["trace_se"] + 1e-5 * exact_trace  # float32 model


def test_comparison_table_matches_the_per_model_curvature(run):
    _, result, out = run
    with (out / "flatness.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["label"], r["region"]) for r in rows] == [
        (lab, n) for lab in ("SQINV", "BSAM") for n in ("all", "many", "medium", "few")
    ]
    for row in rows:
        assert float(row["lambda_max_mean"]) == pytest.approx(result["curvature"][row["label"]][row["region"]]["lambda_max"])
        assert row["n"] == "1"
    for name in ("flatness.png", "flatness.pdf", "surfaces_SQINV.png", "surfaces_BSAM.png"):
        assert (out / name).stat().st_size > 0


def test_at_most_15_marked_toolkit_lines():
    code = EXAMPLE.read_text().split('"""', 2)[2]  # after the module docstring
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("import ", "from ", "#"))]
    calls = [ln for ln in lines if TOOLKIT_CALL.search(ln)]
    marked = [ln for ln in lines if ln.rstrip().endswith("# toolkit")]
    assert set(calls) <= set(marked), [ln for ln in calls if ln not in marked]
    assert 8 <= len(marked) <= 15
