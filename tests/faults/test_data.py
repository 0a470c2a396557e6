"""Fault catalogue: data sets on disk and the embedded benchmark's cache (corrupt files,
out-of-range values, nonsense options), through :func:`bsam.data.get_dataset` and ``bsam data``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bsam.data import get_dataset
from bsam.data.render import RenderParams
from bsam.data.synth import generate_synth, synth_cache_path
from bsam.errors import DataError
from tests.bsam.test_data_dir import ROWS, _write_agedb, _write_nyud2
from tests.faults._harness import Snapshot, assert_user_error, run_cli


@pytest.fixture
def agedb(tmp_path):
    root = tmp_path / "agedb"
    _write_agedb(root, ROWS)
    return root


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"img_size": 0}, r"Invalid img_size=0 for agedb-dir; img_size must be a whole number >= 8"),
        ({"img_size": "224"}, r"Invalid img_size='224'"),
        ({"std": (0.5, 0.0, 0.5)}, r"Invalid std=.*three positive numbers"),
        ({"mean": (0.5, 0.5)}, r"Invalid mean=.*give three numbers"),
        ({"imgsize": 32}, r"Unknown option\(s\) \['imgsize'\] for agedb-dir.*accepted options: "),
    ],
    ids=["dir-img-size-0", "dir-img-size-string", "dir-std-zero", "dir-mean-two", "dir-option-typo"],
)
def test_nonsense_dir_options(agedb, options, match) -> None:
    with pytest.raises(ValueError, match=match):
        get_dataset("agedb-dir", "train", root=agedb, **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"size": 0}, r"Invalid image size 0; size must be a whole number >= 8"),
        ({"clutter": 2.0}, r"Invalid clutter=2\.0 .*0\.\.1"),
        ({"label_noise": -1}, r"Invalid label_noise=-1"),
        ({"supersample": 0}, r"Invalid supersample=0"),
    ],
    ids=["synth-size-0", "synth-clutter-2", "synth-negative-noise", "synth-supersample-0"],
)
def test_nonsense_synth_options(tmp_path, options, match) -> None:
    with pytest.raises(ValueError, match=match):
        get_dataset("agedb-synth", "train", cache_dir=tmp_path, limit=4, **options)
    assert not any(tmp_path.iterdir())  # refused before rendering anything


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(b"this is not a jpeg" if how == "garbage" else data[: len(data) // 3])


@pytest.mark.parametrize("how", ["garbage", "truncated"], ids=["jpeg-garbage", "jpeg-truncated"])
def test_corrupt_image_is_named(agedb, how) -> None:
    ds = get_dataset("agedb-dir", "train", root=agedb, img_size=16)
    _damage(ds.paths[1], how)
    with pytest.raises(DataError, match=rf"Cannot read image .*{ds.paths[1].name}.*corrupt"):
        ds[1]
    assert ds[0][0].shape == (3, 16, 16)  # the other images still load


def test_data_show_with_a_corrupt_image(tmp_path, capsys, agedb) -> None:
    jpg = sorted((agedb / "AgeDB").glob("*.jpg"))[0]
    _damage(jpg, "garbage")
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"an older sheet")
    kept = Snapshot(sheet)
    result = run_cli(capsys, "data", "show", "--data", "agedb-dir", "--root", agedb, "--out", sheet)
    assert_user_error(result, rf"Cannot read image .*{jpg.name}")
    kept.unchanged()


def test_nyud2_depth_outside_0_to_10_m(tmp_path) -> None:
    _write_nyud2(tmp_path)
    ds = get_dataset("nyud2-dir", "test", root=tmp_path)
    bad = ds.pairs[1][1]
    Image.fromarray(np.full((480, 640), 60000, dtype=np.uint16)).save(bad)  # 60 m
    with pytest.raises(DataError, match=rf"Depth map .*{bad.name} holds depths 60\.\.60 m, outside"):
        ds[1]


@pytest.mark.parametrize(
    ("options", "match"),
    [({"depth_size": (0, 5)}, r"Invalid depth_size=0"), ({"depth_size": (5,)}, r"\(height, width\)"),
     ({"img_size": 32}, r"Unknown option\(s\) \['img_size'\] for nyud2-dir")],
    ids=["nyud2-depth-size-0", "nyud2-depth-size-1d", "nyud2-foreign-option"],
)
def test_nonsense_nyud2_options(tmp_path, options, match) -> None:
    _write_nyud2(tmp_path)
    with pytest.raises(ValueError, match=match):
        get_dataset("nyud2-dir", "test", root=tmp_path, **options)


def test_truncated_benchmark_cache_is_regenerated_with_a_warning(tmp_path) -> None:
    params = RenderParams(size=8)
    first = generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=12)
    path, _ = synth_cache_path("agedb", 0, params, tmp_path, 12)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.warns(UserWarning, match=rf"Ignoring the data cache file .*{path.name}: it is trunc"):
        again = generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=12)
    assert np.array_equal(again["train_images"], first["train_images"])
    assert np.array_equal(generate_synth("agedb", 0, params, cache_dir=tmp_path, limit=12)[
        "test_labels"], first["test_labels"])  # the regenerated file loads again


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["show", "--out", "{tmp}/s.png", "--n", "0"], r"Invalid --n 0"),
        (["info", "--data", "mnist"], r"Unknown data set 'mnist'"),
        (["info", "--data", "agedb-synth", "--root", "{tmp}"], r"is generated; it takes no root"),
        (["show", "--data", "agedb-dir", "--root", "{tmp}/none", "--out", "{tmp}/s.png"],
         r"DIR CSV not found: .*agedb\.csv"),
    ],
    ids=["data-show-n-0", "data-unknown-set", "data-synth-with-root", "data-dir-without-csv"],
)
def test_data_cli_user_errors(tmp_path, capsys, argv, match) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert_user_error(run_cli(capsys, "data", *argv, "--cache-dir", tmp_path / "cache"), match)
    assert not (tmp_path / "s.png").exists()
