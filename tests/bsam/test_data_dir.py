"""Tests of the real-data loaders on tiny data sets written in the DIR on-disk format."""

import numpy as np
import pytest
import torch
from PIL import Image

from bsam.data import fit_regions, get_dataset
from bsam.data.dir_age import read_dir_csv
from bsam.data.nyud2 import depth_to_metres


def _write_agedb(root, rows, csv_name="agedb.csv", header="age,path,split", sizes=None):
    (root / "AgeDB").mkdir(parents=True, exist_ok=True)
    lines = [header]
    for k, (age, split) in enumerate(rows):
        rel = f"AgeDB/{k}_Person_{age}_m.jpg"
        h, w = sizes[k] if sizes else (40, 30)
        rng = np.random.default_rng(k)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / rel)
        lines.append(f"{age},{rel},{split}")
    (root / csv_name).write_text("\n".join(lines) + "\n")


ROWS = [(31, "train"), (59, "val"), (44, "train"), (8, "test"), (101, "train"), (0, "test")]


def test_agedb_dir_loads_each_split(tmp_path):
    _write_agedb(tmp_path, ROWS)
    train = get_dataset("agedb-dir", "train", root=tmp_path, img_size=32)
    assert len(train) == 3 and train.targets.tolist() == [31.0, 44.0, 101.0]
    assert train.label_range == (0.0, 101.0) and train.bin_width == 1.0
    assert not train.in_memory
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.shape == ()
    # eval transform: normalised with mean .5, std .5 -> values in [-1, 1]
    assert x.min() >= -1.0 and x.max() <= 1.0
    test = get_dataset("agedb-dir", "test", root=tmp_path, img_size=32)
    assert test.targets.tolist() == [8.0, 0.0]
    X, Y = test.tensors()
    assert X.shape == (2, 3, 32, 32) and torch.equal(Y, test.targets)
    regions = fit_regions(train)
    assert regions.num_bins == 102 and regions.counts.sum() == 3


def test_eval_transform_is_resize_then_center_crop_of_pillow(tmp_path):
    """img_size 32: Resize(round(32 * 256 / 224) = 37) of the shorter side, CenterCrop(32)."""
    (tmp_path / "AgeDB").mkdir()
    arr = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "AgeDB/a.png")
    (tmp_path / "agedb.csv").write_text("age,path,split\n30,AgeDB/a.png,val\n")
    x, _ = get_dataset("agedb-dir", "val", root=tmp_path, img_size=32)[0]
    # Pillow by hand: 64x48 -> 49x37 (long side floor(37 * 64 / 48)), crop offsets
    # top round((37 - 32) / 2) = 2, left round((49 - 32) / 2) = 8 (halves to even)
    ref = np.asarray(Image.fromarray(arr).resize((49, 37), Image.BILINEAR))[2:34, 8:40]
    ref = (ref.astype(np.float32) / 255.0 - 0.5) / 0.5
    assert x.shape == (3, 32, 32)
    assert np.abs(x.permute(1, 2, 0).numpy() - ref).max() < 1e-6


def test_eval_transform_224_resizes_to_256():
    from bsam.data.transforms import EvalTransform

    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 260, 3), dtype=np.uint8))
    out = EvalTransform(224)(img)
    ref = np.asarray(img.resize((256, 295), Image.BILINEAR))[36:260, 16:240]
    assert torch.allclose(out, torch.from_numpy((ref / 255.0 - 0.5) / 0.5).permute(2, 0, 1).float(), atol=1e-6)


def test_train_augmentation_is_random_but_shaped(tmp_path):
    _write_agedb(tmp_path, ROWS, sizes=[(50, 40)] * len(ROWS))
    train = get_dataset("agedb-dir", "train", root=tmp_path, train=True, img_size=24)
    torch.manual_seed(0)
    a = train[0][0]
    b = train[0][0]
    assert a.shape == b.shape == (3, 24, 24) and a.dtype == torch.float32
    assert not torch.equal(a, b)
    torch.manual_seed(0)
    assert torch.equal(a, train[0][0])  # reproducible from the global seed


def test_train_transform_reproducible_from_generator_and_rnc_stages():
    from bsam.data.transforms import RnCTrainTransform

    t = RnCTrainTransform(24)
    img = Image.fromarray(np.random.default_rng(2).integers(0, 255, (50, 40, 3), dtype=np.uint8))
    state = torch.get_rng_state()
    a = t(img, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert torch.equal(a, t(img, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, t(img, generator=torch.Generator().manual_seed(6)))
    names = [type(s).__name__ for s in t.pipeline.transforms]
    assert names[:4] == ["RandomResizedCrop", "RandomHorizontalFlip", "RandomApply", "RandomGrayscale"]
    crop, _, jitter, gray = t.pipeline.transforms[:4]
    assert crop.scale == (0.2, 1.0) and jitter.p == 0.8 and gray.p == 0.2
    cj = jitter.transforms[0]
    assert (cj.brightness, cj.contrast, cj.saturation, cj.hue) == ((0.6, 1.4), (0.6, 1.4), (0.6, 1.4), (-0.1, 0.1))


def test_imdb_wiki_dir_uses_its_csv(tmp_path):
    _write_agedb(tmp_path, [(120, "train"), (20, "val")], csv_name="imdb_wiki.csv")
    ds = get_dataset("imdb-wiki-dir", "train", root=tmp_path, img_size=16)
    assert ds.targets.tolist() == [120.0] and ds.label_range == (0.0, 120.0)


def test_imdb_wiki_dir_ages_above_120_binned_into_last_bin(tmp_path):
    """DIR: labels kept, counted in bin min(120, int(age)) (imdb-wiki-dir/datasets.py)."""
    from bsam.regions import ShotRegions

    rows = [(130, "train"), (121, "train"), (120, "train"), (5, "train"), (20, "val")]
    _write_agedb(tmp_path, rows, csv_name="imdb_wiki.csv")
    ds = get_dataset("imdb-wiki-dir", "train", root=tmp_path, img_size=16)
    assert ds.targets.tolist() == [130.0, 121.0, 120.0, 5.0]  # the loss keeps the ages
    assert ds[0][1].item() == 130.0
    assert ds.bin_targets.tolist() == [120.0, 120.0, 120.0, 5.0]
    regions = ShotRegions.fit(ds.bin_targets, 1.0, lower=0.0, upper=120.0)
    assert regions.num_bins == 121 and regions.counts[120] == 3 and regions.counts[5] == 1
    # AgeDB-DIR still refuses ages above its range
    _write_agedb(tmp_path, [(130, "train")])
    with pytest.raises(ValueError, match="age 130 outside the label range"):
        get_dataset("agedb-dir", "train", root=tmp_path)


def test_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="agedb.csv"):
        get_dataset("agedb-dir", "train", root=tmp_path)


def test_missing_root():
    with pytest.raises(ValueError, match="needs root="):
        get_dataset("agedb-dir", "train")


def test_missing_image_names_file(tmp_path):
    _write_agedb(tmp_path, ROWS)
    (tmp_path / "AgeDB/2_Person_44_m.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="2_Person_44_m.jpg"):
        get_dataset("agedb-dir", "train", root=tmp_path)


@pytest.mark.parametrize(
    "text,match",
    [
        ("age,path\n3,a.jpg\n", r"missing column\(s\) \['split'\]"),
        ("age,path,split\n3,a.jpg,train\nnan,b.jpg,train\n", "line 3: age 'nan' is not finite"),
        ("age,path,split\nold,a.jpg,train\n", "line 2: invalid age 'old'"),
        ("age,path,split\n3,a.jpg,dev\n", "line 2: unknown split 'dev'"),
        ("age,path,split\n130,a.jpg,train\n", "line 2: age 130 outside the label range"),
        ("age,path,split\n3,,train\n", "line 2: empty image path"),
    ],
)
def test_malformed_csv(tmp_path, text, match):
    path = tmp_path / "agedb.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_dir_csv(path, (0.0, 101.0))
    with pytest.raises(ValueError, match="agedb.csv"):
        get_dataset("agedb-dir", "train", root=tmp_path)


def test_empty_split(tmp_path):
    _write_agedb(tmp_path, [(30, "train")])
    with pytest.raises(ValueError, match="no rows with split 'val'"):
        get_dataset("agedb-dir", "val", root=tmp_path)


# ---------------------------------------------------------------------------- NYUD2-DIR


def _write_nyud2(root, n_train=3, n_test=2):
    rng = np.random.default_rng(0)
    lines = []
    for k in range(n_train):
        d = root / "nyu2_train" / "scene"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(d / f"{k}.jpg")
        depth = np.full((240, 320), 51 * (k + 1), dtype=np.uint8)  # 2 m, 4 m, 6 m
        Image.fromarray(depth).save(d / f"{k}.png")
        lines.append(f"data/nyu2_train/scene/{k}.jpg,data/nyu2_train/scene/{k}.png")
    (root / "nyu2_train.csv").write_text("\n".join(lines) + "\n")
    lines = []
    (root / "nyu2_test").mkdir(parents=True, exist_ok=True)
    for k in range(n_test):
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(
            root / f"nyu2_test/{k:05d}_colors.png"
        )
        depth = np.full((480, 640), 1500 + 1000 * k, dtype=np.uint16)  # 1.5 m, 2.5 m
        Image.fromarray(depth).save(root / f"nyu2_test/{k:05d}_depth.png")
        lines.append(f"data/nyu2_test/{k:05d}_colors.png,data/nyu2_test/{k:05d}_depth.png")
    (root / "nyu2_test.csv").write_text("\n".join(lines) + "\n")


def test_nyud2_dense_targets(tmp_path):
    _write_nyud2(tmp_path)
    train = get_dataset("nyud2-dir", "train", root=tmp_path)
    assert train.bin_width == 0.1 and train.label_range == (0.0, 10.0)
    x, y = train[1]
    assert x.shape == (3, 228, 304) and y.shape == (114, 152)
    assert torch.allclose(y, torch.full_like(y, 102 / 255 * 10), atol=1e-5)
    assert train.targets.shape == (3, 114, 152)
    test = get_dataset("nyud2-dir", "test", root=tmp_path)
    _, yt = test[1]
    assert yt.shape == (228, 304) and torch.allclose(yt, torch.full_like(yt, 2.5))
    regions = fit_regions(train)
    # counted as training counts them (DIR's TRAIN_BUCKET_NUM): every pixel of the 228x304 crop,
    # before the resize of the training depth to 114x152
    assert regions.counts.sum() == 3 * 228 * 304
    assert regions.counts[20] == 228 * 304  # 2.0 m falls in bin [2.0, 2.1)


def test_nyud2_train_flip_moves_depth_with_image(tmp_path):
    _write_nyud2(tmp_path, n_train=1, n_test=1)
    d = tmp_path / "nyu2_train/scene/0.png"
    ramp = np.tile(np.arange(320, dtype=np.uint8)[None, :] // 2, (240, 1))
    Image.fromarray(ramp).save(d)
    ds = get_dataset("nyud2-dir", "train", root=tmp_path, train=True)
    plain = get_dataset("nyud2-dir", "train", root=tmp_path)[0][1]
    seen = set()
    for s in range(8):
        torch.manual_seed(s)
        y = ds[0][1]
        seen.add("flip" if torch.allclose(y, plain.flip(-1)) else "same")
        assert torch.allclose(y, plain) or torch.allclose(y, plain.flip(-1))
    assert seen == {"flip", "same"}


def test_depth_decoding(tmp_path):
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[1000, 4321]], dtype=np.uint16)).save(tmp_path / "b.png")
    assert depth_to_metres(tmp_path / "a.png").tolist() == [[0.0, 10.0]]
    assert torch.allclose(depth_to_metres(tmp_path / "b.png"), torch.tensor([[1.0, 4.321]]))


def test_nyud2_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nyu2_train.csv"):
        get_dataset("nyud2-dir", "train", root=tmp_path)
    _write_nyud2(tmp_path)
    (tmp_path / "nyu2_train/scene/1.png").unlink()
    with pytest.raises(FileNotFoundError, match="line 2"):
        get_dataset("nyud2-dir", "train", root=tmp_path)
    (tmp_path / "nyu2_test.csv").write_text("only_one_column.png\n")
    with pytest.raises(ValueError, match="line 1: expected two columns"):
        get_dataset("nyud2-dir", "test", root=tmp_path)


def test_fit_weights_uses_dataset_bins(tmp_path):
    _write_agedb(tmp_path, [(31, "train")] * 3 + [(44, "train"), (60, "val")])
    from bsam.data import fit_weights

    train = get_dataset("agedb-dir", "train", root=tmp_path, img_size=8)
    w = fit_weights(train, scheme="sqrt_inv").weights(torch.tensor([31.0, 44.0, 101.0]))
    raw = np.array([1 / np.sqrt(3), 1.0, 1.0])  # empty bin 101 counts as 1
    mean = (3 * raw[0] + raw[1]) / 4  # mean weight over the 4 training samples
    assert np.allclose(w.numpy(), raw / mean, rtol=1e-6)
