"""Tests of the embedded synthetic benchmark: exact counts, determinism, cache, items."""

import csv
from importlib import resources

import numpy as np
import pytest
import torch

import bsam.data.synth as synth
from bsam.data import fit_regions, get_dataset
from bsam.data.counts import SPLITS, load_label_counts
from bsam.data.render import RenderParams, render_faces
from bsam.data.synth import generate_synth, synth_cache_path, synth_labels
from tests.bsam.conftest_data import agedb_synth_full  # noqa: F401  (session fixture)

TINY = {"size": 8}  # tiny pictures
LIMIT = 40  # first 40 samples of each split: fast


def _csv(name):
    text = resources.files("bsam.data").joinpath(f"resources/{name}").read_text()
    return list(csv.DictReader(text.splitlines()))


def _hist(labels):
    ages, counts = np.unique(labels.astype(int), return_counts=True)
    return dict(zip(ages.tolist(), counts.tolist()))


@pytest.mark.parametrize("split", SPLITS)
def test_agedb_label_counts_equal_csv(split):
    want = {int(r["age"]): int(r[split]) for r in _csv("agedb_dir_label_counts.csv")}
    labels = synth_labels("agedb", split, seed=3)
    assert _hist(labels) == {a: c for a, c in want.items() if c > 0}
    assert labels.dtype == np.float32
    assert len(labels) == {"train": 12208, "val": 2140, "test": 2140}[split]


def test_imdb_counts_train_exact_val_test_in_range():
    rows = _csv("imdb_wiki_dir_label_counts.csv")
    counts = load_label_counts("imdb")
    assert counts.counts["train"].tolist() == [int(r["train"]) for r in rows]
    assert counts.size("train") == 191509
    assert counts.size("val") == counts.size("test") == 11022
    for r, v, t in zip(rows, counts.counts["val"], counts.counts["test"]):
        assert v == t
        if r["val"]:
            assert v == int(r["val"])
        else:
            assert int(r["val_test_min"]) <= v <= int(r["val_test_max"])


def test_labels_order_depends_on_seed_only():
    a, b = synth_labels("agedb", "train", 0), synth_labels("agedb", "train", 0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synth_labels("agedb", "train", 1))


def test_render_deterministic_and_seed_dependent():
    ages = np.linspace(0, 101, 40).astype(np.float32)
    a = render_faces(ages, seed=5)
    assert a.dtype == np.uint8 and a.shape == (40, 3, 32, 32)
    assert np.array_equal(a, render_faces(ages, seed=5))
    b = render_faces(ages, seed=6)
    assert (a != b).mean() > 0.5  # different pictures, not a few pixels


def test_render_bad_input():
    with pytest.raises(ValueError, match="every age must be finite and >= 0"):
        render_faces(np.array([3.0, np.nan]))
    with pytest.raises(ValueError, match="Invalid image size 4"):
        render_faces(np.array([3.0]), params=RenderParams(size=4))


def test_generation_cached_and_reused(tmp_path, monkeypatch):
    params = RenderParams(**TINY)
    first = generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=LIMIT)
    path, _ = synth_cache_path("agedb", 0, params, tmp_path, LIMIT)
    assert path.is_file()
    for split in SPLITS:
        assert first[f"{split}_images"].shape == (LIMIT, 3, 8, 8)
        assert np.array_equal(first[f"{split}_labels"], synth_labels("agedb", split, 0)[:LIMIT])

    def boom(*args, **kwargs):
        raise AssertionError("rendered although a valid cache exists")

    monkeypatch.setattr(synth, "render_faces", boom)
    again = generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=LIMIT)
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_cache_invalidated_by_version_params_seed_and_bad_key(tmp_path, monkeypatch):
    params = RenderParams(**TINY)
    path, key = synth_cache_path("agedb", 0, params, tmp_path, LIMIT)
    assert synth_cache_path("agedb", 0, params, tmp_path, LIMIT)[1] == key
    assert synth_cache_path("agedb", 1, params, tmp_path, LIMIT)[1] != key
    other = RenderParams(size=8, label_noise=1.0)
    assert synth_cache_path("agedb", 0, other, tmp_path, LIMIT)[1] != key
    assert synth_cache_path("agedb", 0, params, tmp_path, LIMIT + 1)[1] != key
    monkeypatch.setattr(synth, "RENDER_VERSION", synth.RENDER_VERSION + 1)
    assert synth_cache_path("agedb", 0, params, tmp_path, LIMIT)[1] != key
    monkeypatch.setattr(synth, "SYNTH_VERSION", synth.SYNTH_VERSION + 1)
    assert synth_cache_path("agedb", 0, params, tmp_path, LIMIT)[1] != key
    monkeypatch.undo()
    # a file under the right name but made differently (wrong stored key) is regenerated
    np.savez(path, __key__=np.array("something-else"), mean=np.zeros(3))
    calls = []
    real = synth.render_faces

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "render_faces", counting)
    out = generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=LIMIT)
    assert len(calls) == 3 and "train_images" in out
    # ... and the regenerated file is then reused
    generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=LIMIT)
    assert len(calls) == 3


def test_same_seed_same_arrays_different_seed_different_images(tmp_path):
    kw = {"limit": LIMIT}
    a = generate_synth("agedb", 0, RenderParams(**TINY), cache_dir=tmp_path / "a", **kw)
    b = generate_synth("agedb", 0, RenderParams(**TINY), cache_dir=tmp_path / "b", **kw)
    c = generate_synth("agedb", 1, RenderParams(**TINY), cache_dir=tmp_path / "a", **kw)
    for split in SPLITS:
        assert np.array_equal(a[f"{split}_images"], b[f"{split}_images"])
        assert not np.array_equal(a[f"{split}_images"], c[f"{split}_images"])


def test_dataset_items_tensors_and_normalisation(tmp_path):
    ds = get_dataset("agedb-synth", "val", cache_dir=tmp_path, limit=LIMIT, **TINY)
    assert (ds.name, ds.split, ds.bin_width, ds.label_range) == (
        "agedb-synth",
        "val",
        1.0,
        (0.0, 101.0),
    )
    x, y = ds[3]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert y.shape == () and y.dtype == torch.float32 and y == ds.targets[3]
    X, Y = ds.tensors()
    assert X.shape == (LIMIT, 3, 8, 8) and torch.equal(Y, ds.targets) and torch.equal(X[3], x)
    # normalised with the training images' channel statistics
    train = get_dataset("agedb-synth", "train", cache_dir=tmp_path, limit=LIMIT, **TINY)
    Xt, _ = train.tensors()
    assert torch.allclose(Xt.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(Xt.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    regions = fit_regions(train)
    assert regions.num_bins == 102 and regions.counts.sum() == LIMIT


def test_imdb_synth_profile(tmp_path):
    ds = get_dataset("imdb-synth", "test", cache_dir=tmp_path, limit=LIMIT, **TINY)
    assert (ds.name, ds.label_range, len(ds)) == ("imdb-synth", (0.0, 120.0), LIMIT)
    assert np.array_equal(ds.targets.numpy(), synth_labels("imdb", "test", 0)[:LIMIT])
    assert ds.in_memory


def test_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['colour'\]"):
        get_dataset("agedb-synth", "train", cache_dir=tmp_path, colour=1)
    with pytest.raises(ValueError, match="Invalid seed -1"):
        get_dataset("agedb-synth", "train", cache_dir=tmp_path, seed=-1)
    with pytest.raises(ValueError, match="Invalid limit 0"):
        get_dataset("agedb-synth", "train", cache_dir=tmp_path, limit=0)
    with pytest.raises(ValueError, match="Invalid split 'dev'"):
        get_dataset("agedb-synth", "dev")
    with pytest.raises(ValueError, match="takes no root"):
        get_dataset("agedb-synth", "train", root="/data")
    with pytest.raises(ValueError, match="Unknown data set 'agedb'"):
        get_dataset("agedb", "train")


# ---------------------------------------------------------------------------- full generation


@pytest.mark.slow
def test_full_generation_counts_and_pixels(agedb_synth_full):  # noqa: F811
    """The rendered benchmark (all 16,488 images) has the CSV's exact per-age counts."""
    for split in SPLITS:
        want = {int(r["age"]): int(r[split]) for r in _csv("agedb_dir_label_counts.csv")}
        ds = get_dataset("agedb-synth", split, cache_dir=agedb_synth_full)
        assert _hist(ds.targets.numpy()) == {a: c for a, c in want.items() if c > 0}
        assert ds.images.shape == (len(ds), 3, 32, 32) and ds.images.dtype == torch.uint8
        # pictures are not constant: every image has contrast
        flat = ds.images.reshape(len(ds), -1).float()
        assert (flat.std(1) > 5).all()
    ds = get_dataset("agedb-synth", "train", cache_dir=agedb_synth_full)
    assert fit_regions(ds).summary() == {"many": 51, "medium": 16, "few": 33, "empty": 2}


def test_img_size_is_the_rendered_side(tmp_path):
    """``img_size`` (the recipes' name) renders at that side, exactly as ``size`` does."""
    by_alias = get_dataset("agedb-synth", "val", cache_dir=tmp_path, limit=LIMIT, img_size=8)
    by_size = get_dataset("agedb-synth", "val", cache_dir=tmp_path, limit=LIMIT, size=8)
    assert by_alias.images.shape[-2:] == (8, 8) and by_alias.params.size == 8
    assert torch.equal(by_alias.images, by_size.images)
    get_dataset("agedb-synth", "val", cache_dir=tmp_path, limit=LIMIT, img_size=8, size=8)
    with pytest.raises(ValueError, match="Conflicting sizes .* img_size=8 and size=12"):
        get_dataset("agedb-synth", "val", cache_dir=tmp_path, limit=LIMIT, img_size=8, size=12)
