"""NYUD2-DIR end to end: the DIR on-disk layout, its bins, bucket regions, balanced mask, metrics.

The layout is the one of the DIR release (github.com/YyzHarry/imbalanced-regression,
``nyud2-dir/``): headerless ``nyu2_{train,test}.csv`` of ``data/...`` paths, 8-bit training depth
(value / 255 * 10 m), 16-bit test depth (mm), ``test_balanced_mask.npy`` of (N_test, H, W) uint8.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from bsam._bins import Binning
from bsam.checkpoint import load_checkpoint
from bsam.cli import main
from bsam.data import get_dataset
from bsam.data.nyud2 import DIR_SHOT_BINS, MASK_FILE
from bsam.metrics import regression_report
from bsam.regions import FEW, MANY, MEDIUM, LabelHistogram, ShotRegions
from bsam.weights import BalanceWeights

IMAGE = (32, 40)  # crop; sources are 60x80 (4:3), resized to a shorter side of round(240*32/228)
TRAIN_VALUES = (51, 102, 153, 255, 51, 102, 153, 255)  # 2, 4, 6, 10 m (8-bit: v / 255 * 10)
TEST_MM = (2000, 5000, 8000)  # 2.0 m (bin 20: many), 5.0 m (bin 50: medium), 8.0 m (bin 80: few)


def write_dir_layout(root, rng=None) -> np.ndarray:
    """The DIR on-disk layout at 60x80; returns the balanced mask it writes."""
    rng = rng or np.random.default_rng(0)
    lines = []
    for k, value in enumerate(TRAIN_VALUES):
        scene = root / "nyu2_train" / f"scene_{k % 2}"
        scene.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(scene / f"{k}.jpg")
        Image.fromarray(np.full((60, 80), value, dtype=np.uint8)).save(scene / f"{k}.png")
        lines.append(f"data/nyu2_train/scene_{k % 2}/{k}.jpg,data/nyu2_train/scene_{k % 2}/{k}.png")
    (root / "nyu2_train.csv").write_text("\n".join(lines) + "\n")
    lines = []
    (root / "nyu2_test").mkdir(parents=True, exist_ok=True)
    for k, mm in enumerate(TEST_MM):
        rgb = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / f"nyu2_test/{k:05d}_colors.png")
        Image.fromarray(np.full((60, 80), mm, dtype=np.uint16)).save(root / f"nyu2_test/{k:05d}_depth.png")
        lines.append(f"data/nyu2_test/{k:05d}_colors.png,data/nyu2_test/{k:05d}_depth.png")
    (root / "nyu2_test.csv").write_text("\n".join(lines) + "\n")
    mask = np.zeros((len(TEST_MM), *IMAGE), dtype=np.uint8)
    mask[0, :5, :7] = 1  # 35 pixels at 2 m
    mask[1, 10:13, :] = 1  # 120 pixels at 5 m
    mask[2, -1, :9] = 1  # 9 pixels at 8 m
    np.save(root / MASK_FILE, mask)
    return mask


@pytest.fixture
def layout(tmp_path, monkeypatch):
    monkeypatch.setenv("BSAM_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "nyud2"
    root.mkdir()
    return root, write_dir_layout(root)


def test_bucket_lists_partition_the_100_bins() -> None:
    listed = sorted(b for bins in DIR_SHOT_BINS.values() for b in bins)
    assert listed == list(range(100))
    regions = ShotRegions.from_bins(Binning(0.1, 0.0, 100), DIR_SHOT_BINS, clip_upper=True)
    # the ends of DIR's lists (nyud2-dir/util.py): 9..45, 47, 49 many; 7, 8, 46, ... 63 medium
    assert regions.bin_codes[[7, 8, 9, 45, 46, 47, 57, 63, 64, 99]].tolist() == [
        MEDIUM, MEDIUM, MANY, MANY, MEDIUM, MANY, FEW, MEDIUM, FEW, FEW]
    depth = torch.tensor([0.05, 0.95, 2.0, 9.95, 10.0])  # 10 m: min(int(100), 99) = bin 99
    assert regions.bin_index(depth).tolist() == [0, 9, 20, 99, 99]
    assert ShotRegions.from_dict(regions.to_dict()) == regions
    with pytest.raises(ValueError, match="listed in two regions"):
        ShotRegions.from_bins(Binning(1.0, 0.0, 2), {"many": [0, 1], "medium": [1], "few": []})
    with pytest.raises(ValueError, match=r"Bins \[1\] are in no region"):
        ShotRegions.from_bins(Binning(1.0, 0.0, 2), {"many": [0], "medium": [], "few": []})


def test_sqinv_pixel_weights_follow_dir_normalisation() -> None:
    counts = np.array([0, 4, 16, 1])
    hist = LabelHistogram(Binning(1.0, 0.0, 4), counts)
    w = BalanceWeights.fit(hist, scheme="sqrt_inv")
    # DIR's loaddata.py: v = sqrt(n), scaling = sum(n) / sum(n / v), w_b = scaling / v_b
    v = np.sqrt([4.0, 16.0, 1.0])
    scaling = 21 / (4 / 2 + 16 / 4 + 1 / 1)
    assert w.bin_weights[1:] == pytest.approx(scaling / v)
    pixels = torch.tensor([[1.0, 2.0], [3.0, 3.5]])
    assert w.weights(pixels).flatten().tolist() == pytest.approx([scaling / 2, scaling / 4, scaling, scaling])


def test_depth_metrics_by_hand() -> None:
    regions = ShotRegions.from_bins(Binning(1.0, 0.0, 10), {"many": range(10), "medium": [], "few": []})
    target = torch.tensor([[1.0, 2.0], [2.0, 2.0]])
    pred = torch.tensor([[1.0, 2.5], [3.8, 6.0]])  # ratios 1, 1.25, 1.9, 3
    with pytest.warns(RuntimeWarning, match="no evaluated element"):
        rep = regression_report(pred, target, regions, depth=True)
    a = rep["all"]
    assert a["delta1"] == 0.5  # 1.25 counts: DIR's torch.le
    assert a["delta2"] == 0.5 and a["delta3"] == 0.75  # 1.9 <= 1.25^3 = 1.953
    assert a["absrel"] == pytest.approx((0 + 0.25 + 0.9 + 2.0) / 4)
    assert a["log10"] == pytest.approx(sum(math.log10(r) for r in (1, 1.25, 1.9, 3)) / 4)
    assert a["rmse"] == pytest.approx(math.sqrt((0.25 + 1.8**2 + 16) / 4))
    assert a["mae"] == pytest.approx((0.5 + 1.8 + 4) / 4)
    mask = torch.tensor([[True, True], [False, False]])
    with pytest.warns(RuntimeWarning):
        masked = regression_report(pred, target, regions, depth=True, mask=mask)["all"]
    assert masked["n"] == 2 and masked["rmse"] == pytest.approx(math.sqrt(0.25 / 2))
    with pytest.raises(ValueError, match="positive predictions"):
        regression_report(-pred, target, regions, depth=True, region_names=("all",))


def test_histogram_counts_every_cropped_training_pixel(layout) -> None:
    root, _ = layout
    train = get_dataset("nyud2-dir", "train", root=root, image_size=list(IMAGE))
    x, y = train[0]
    assert x.shape == (3, *IMAGE) and y.shape == (IMAGE[0] // 2, IMAGE[1] // 2)
    hist = train.label_histogram()
    per_map = IMAGE[0] * IMAGE[1]
    expected = np.zeros(100, dtype=np.int64)
    for value in TRAIN_VALUES:  # 2 m -> bin 20, 4 m -> 40, 6 m -> 60, 10 m -> 99 (clipped)
        expected[min(int(value / 255 * 10 * 10 + 1e-6), 99)] += per_map
    assert hist.counts.tolist() == expected.tolist()
    again = get_dataset("nyud2-dir", "train", root=root, image_size=list(IMAGE))
    assert again.label_histogram().counts.tolist() == expected.tolist()  # from the cache
    assert len(list((root.parent / "cache").glob("nyud2-histogram-*.npz"))) == 1
    regions = train.shot_regions(hist)
    assert regions.codes.tolist() == ShotRegions.from_bins(
        train.binning, DIR_SHOT_BINS).bin_codes.tolist()


def test_training_depth_outside_0_to_10_m_is_named(layout) -> None:
    from bsam.errors import DataError

    root, _ = layout
    train = get_dataset("nyud2-dir", "train", root=root, image_size=list(IMAGE))
    bad = train.pairs[3][1]
    Image.fromarray(np.full((60, 80), 12000, dtype=np.uint16)).save(bad)  # 16-bit: 12 m
    with pytest.raises(DataError, match=rf"Depth map .*{bad.name} holds depths 12\.\.12 m, outside"):
        train.label_histogram()


def test_missing_balanced_mask_is_named(layout) -> None:
    root, _ = layout
    (root / MASK_FILE).unlink()
    test = get_dataset("nyud2-dir", "test", root=root, image_size=list(IMAGE))
    with pytest.raises(FileNotFoundError, match=r"test_balanced_mask\.npy"):
        _ = test.eval_mask
    np.save(root / MASK_FILE, np.ones((3, 5, 5), dtype=np.uint8))
    test = get_dataset("nyud2-dir", "test", root=root, image_size=list(IMAGE))
    with pytest.raises(ValueError, match=r"has shape \(3, 5, 5\), expected \(3, 32, 40\)"):
        _ = test.eval_mask


def test_depth_network_sizes_and_pretrained_file(tmp_path) -> None:
    from bsam.models import build_model

    torch.manual_seed(0)
    net = build_model("nyud2-resnet50", backbone="resnet18")
    x = torch.randn(2, 3, *IMAGE)
    assert net.train()(x).shape == (2, 1, IMAGE[0] // 2, IMAGE[1] // 2)
    assert net.eval()(x).shape == (2, 1, *IMAGE)  # DIR's test-time bilinear upsampling
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("nyud2-resnet50", backbone="resnet18", pretrained=str(tmp_path / "nope.pth"))
    from bsam.vision import import_torchvision

    source = import_torchvision().models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    loaded = build_model("nyud2-resnet50", backbone="resnet18", pretrained=str(tmp_path / "r18.pth"))
    assert torch.equal(loaded.E.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


@pytest.mark.filterwarnings("ignore:.*floored at:RuntimeWarning")
@pytest.mark.parametrize("method", ["sqinv", "bsam"])  # bsam: per-pixel perturbation weights
def test_train_and_evaluate_end_to_end(layout, tmp_path, method) -> None:
    root, mask = layout
    out = tmp_path / "run"
    argv = [
        "train", "--data", "nyud2-dir", "--root", str(root), "--model", "nyud2-resnet50",
        "--model-kwargs", '{"backbone": "resnet18"}', "--data-kwargs",
        json.dumps({"image_size": list(IMAGE)}), "--method", method, "--descent-loss", "mse",
        "--optimizer", "adam", "--lr", "1e-4", "--epochs", "1", "--batch-size", "4",
        "--select", "rmse", "--device", "cpu", "--quiet", "--out", str(out),
    ]
    assert main(argv) == 0
    ckpt = load_checkpoint(out / "best.pt")
    regions = ShotRegions.from_dict(ckpt["regions"])
    assert regions.codes is not None and regions.clip_upper
    assert regions.bins_in("many").tolist() == list(DIR_SHOT_BINS["many"])
    assert sum(regions.counts) == len(TRAIN_VALUES) * IMAGE[0] * IMAGE[1]
    fitted = BalanceWeights.from_dict(ckpt["weights"]["descent" if method == "sqinv" else "perturb"])
    n = regions.counts[[20, 40, 60, 99]].astype(float)  # sqrt-inverse, mean 1 over the pixels
    scaling = n.sum() / (n / np.sqrt(n)).sum()
    assert fitted.bin_weights[[20, 40, 60, 99]] == pytest.approx(scaling / np.sqrt(n))
    picked = ckpt["metrics"]
    assert picked["select"] == "rmse" and picked["best_value"] == picked["val"]["all"]["rmse"]

    js = tmp_path / "eval.json"
    assert main(["evaluate", str(out / "best.pt"), "--split", "test", "--json", str(js), "--quiet"]) == 0
    report = json.loads(js.read_text())["report"]
    keys = {"n", "mae", "mse", "rmse", "gm", "bmae", "delta1", "delta2", "delta3", "absrel", "log10"}
    for region in ("all", "many", "medium", "few"):
        assert set(report[region]) == keys
    # only the balanced pixels count; 2 m is many-shot, 5 m medium, 8 m few (DIR's lists)
    assert [report[r]["n"] for r in ("all", "many", "medium", "few")] == [164, 35, 120, 9]
    assert int(mask.sum()) == 164
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["test"]["many"]["rmse"] == pytest.approx(report["many"]["rmse"], rel=1e-5)
