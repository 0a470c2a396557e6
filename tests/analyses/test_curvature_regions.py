"""region_curvature: per-region metrics against dense references, provenance, files, restore."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from analyses.curvature.regions import (
    CSV_COLUMNS,
    TABLE8,
    model_hash,
    region_curvature,
    save_curvature,
)
from bsam.regions import ShotRegions
from tests.analyses._curvature_nets import dense_hessian, mlp, one_thread  # noqa: F401


def _problem():
    g = torch.Generator().manual_seed(4)
    train_labels = torch.cat(
        [torch.full((150,), 1.5), torch.full((50,), 2.5), torch.full((5,), 0.5)]
    )
    regions = ShotRegions.fit(train_labels, bin_width=1.0, lower=0.0, upper=3.0)
    y = torch.tensor([1.2, 1.7, 2.2, 0.3, 1.4, 2.9, 0.8, 1.1, 2.4, 1.9], dtype=torch.float64)
    X = torch.randn(10, 3, generator=g, dtype=torch.float64)
    return mlp(), X, y, regions


def test_per_region_eigenvalues_and_trace_match_dense():
    net, X, y, regions = _problem()
    codes = regions.of(y)
    res = region_curvature(
        net,
        (X, y),
        regions,
        metrics=("lambda_max", "trace", "density"),
        tol=1e-10,
        trace_rel_se=0.05,
        sketch_size=3,
        density_probes=2,
        density_steps=8,
        seed=3,
    )
    assert list(res["regions"]) == ["all", "many", "medium", "few"]
    for name, sel in {
        "all": torch.ones(10, dtype=torch.bool),
        "many": codes == 0,
        "medium": codes == 1,
        "few": codes == 2,
    }.items():
        entry = res["regions"][name]
        H = dense_hessian(net, X[sel], y[sel], "l1")
        ev = torch.linalg.eigvalsh(H)
        assert entry["num_samples"] == int(sel.sum())
        assert entry["lambda_max"] == pytest.approx(float(ev[-1]), rel=1e-6)
        assert entry["lambda_min"] == pytest.approx(float(ev[0]), rel=1e-6)
        lm = ev[ev.abs().argmax()]
        assert entry["lambda_abs"] == pytest.approx(float(lm), rel=1e-6)
        assert abs(entry["trace"] - float(H.trace())) <= 3 * entry["trace_se"] + 1e-9
        dens = entry["density"]
        assert sum(dens["weights"]) == pytest.approx(1.0)
        assert entry["eigen"]["LA"]["converged"]
        with torch.no_grad():
            ref_loss = (net(X[sel]).squeeze(1) - y[sel]).abs().mean()
        assert entry["loss"] == pytest.approx(float(ref_loss), rel=1e-12)


def test_same_seed_same_numbers_and_provenance():
    net, X, y, regions = _problem()
    kw = dict(region_names=("all", "few"), metrics=("trace",), trace_method="hutchinson", seed=5)
    a = region_curvature(net, (X, y), regions, **kw)
    b = region_curvature(net, (X, y), regions, **kw)

    def strip(r):  # wall-clock seconds differ between runs
        return {n: {k: v for k, v in e.items() if k != "seconds"} for n, e in r["regions"].items()}

    assert strip(a) == strip(b)
    c = region_curvature(net, (X, y), regions, **{**kw, "seed": 6})
    assert c["regions"]["all"]["trace"] != a["regions"]["all"]["trace"]
    prov = a["provenance"]
    assert prov["model_hash"] == model_hash(net)
    assert prov["loss"] == "l1" and prov["curvature"] == "hessian"
    assert prov["seeds"]["all"]["trace"] != prov["seeds"]["few"]["trace"]
    assert prov["regions"] == regions.to_dict()
    assert prov["versions"]["torch"] == torch.__version__


def test_model_restored_bit_for_bit_and_modes():
    net, X, y, regions = _problem()
    net.train()
    net[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    h = model_hash(net)
    region_curvature(net, (X, y), regions, region_names=("few",), metrics=("lambda_max",))
    assert net.training and not net[0].weight.requires_grad and net[2].weight.requires_grad
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert model_hash(net) == h


def test_empty_region_gives_nan_and_warning():
    net, X, y, regions = _problem()
    keep = regions.of(y) != 1  # drop the medium samples from the data
    with pytest.warns(RuntimeWarning, match="Region 'medium' has no sample"):
        res = region_curvature(net, (X[keep], y[keep]), regions, metrics=("lambda_max", "trace"))
    med = res["regions"]["medium"]
    assert math.isnan(med["lambda_max"]) and math.isnan(med["trace"]) and med["num_samples"] == 0
    assert not math.isnan(res["regions"]["many"]["lambda_max"])


def test_user_masks_loader_and_ggn():
    net, X, y, _ = _problem()
    mask = torch.arange(10) % 2 == 0
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    res = region_curvature(
        net,
        loader,
        masks={"even": mask},
        region_names=("all", "even"),
        metrics=("lambda_max",),
        loss="mse",
        curvature="ggn",
        tol=1e-10,
    )
    assert res["regions"]["even"]["num_samples"] == 5
    assert res["regions"]["even"]["lambda_min"] >= -1e-10  # GGN is PSD
    assert res["provenance"]["settings"]["hvp_method_used"] == "forward_over_reverse"


def test_save_json_and_csv(tmp_path):
    net, X, y, regions = _problem()
    res = region_curvature(
        net, (X, y), regions, region_names=("all", "medium"), metrics=("lambda_max", "trace"), seed=1
    )
    jpath, cpath = save_curvature(res, tmp_path / "curv.json")
    assert cpath == tmp_path / "curv.csv"
    loaded = json.loads(jpath.read_text())
    assert loaded["regions"]["all"]["lambda_max"] == res["regions"]["all"]["lambda_max"]
    rows = list(csv.DictReader(cpath.open()))
    assert [r["region"] for r in rows] == ["all", "medium"]
    assert tuple(rows[0]) == CSV_COLUMNS
    assert float(rows[1]["trace"]) == pytest.approx(res["regions"]["medium"]["trace"])
    assert float(rows[0]["lambda_max_residual"]) <= 1e-3 * abs(float(rows[0]["lambda_max"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curv.csv", "curv.json"]


def test_table8_preset_runs_and_gives_table8_shaped_numbers():
    # Table 8's rows have 0 < lambda_max <= tr; the preset's curvature must guarantee it
    net, X, y, regions = _problem()
    kw = {k: v for k, v in TABLE8.items() if k in ("loss", "curvature", "region_names", "metrics")}
    res = region_curvature(net, (X, y), regions, tol=1e-8, trace_rel_se=0.01, **kw)
    few = res["regions"]["few"]
    assert 0 < few[TABLE8["eigenvalue"]] <= few["trace"] + 3 * few["trace_se"]
    assert few["lambda_min"] >= -1e-10
    assert TABLE8["pyhessian_literal"]["curvature"] == "hessian"


def test_region_curvature_errors(tmp_path):
    net, X, y, regions = _problem()
    with pytest.raises(ValueError, match=r"Invalid metrics \['spectrum'\]"):
        region_curvature(net, (X, y), regions, metrics=("spectrum",))
    with pytest.raises(ValueError, match="Invalid curvature 'fisher'"):
        region_curvature(net, (X, y), regions, curvature="fisher")
    with pytest.raises(ValueError, match="Invalid trace_method 'xtrace'"):
        region_curvature(net, (X, y), regions, trace_method="xtrace")
    with pytest.raises(ValueError, match=r"Invalid region names \['tail'\]"):
        region_curvature(net, (X, y), regions, region_names=("tail",))
    with pytest.raises(ValueError, match=r"Invalid region_names \['few'\]: without regions"):
        region_curvature(net, (X, y), region_names=("all", "few"))
    with pytest.raises(ValueError, match="distinct region names"):
        region_curvature(net, (X, y), regions, region_names=("all", "all"))
    with pytest.raises(ValueError, match="Invalid seed value: 1.5"):
        region_curvature(net, (X, y), regions, seed=1.5)
    with pytest.raises(ValueError, match="Invalid result"):
        save_curvature({"a": 1}, tmp_path / "x.json")
