"""Fault catalogue, `bsam surface`: bad grids, outputs, direction files and damaged HDF5 files.

Every case asserts exit status 2, a one-line message, that each ``--flag`` it suggests exists on
``bsam surface``, and that no file in the work folder changed or appeared.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bsam.checkpoint import save_checkpoint
from bsam.cli import build_parser
from bsam.data import fit_regions, get_dataset
from bsam.models import build_model
from landscape import load_directions, random_directions, save_directions
from tests.bsam._tiny_data import FEW, MANY, NAME
from tests.faults._harness import Snapshot, assert_user_error, run_cli

GRID = "-1:1:3,-0.5:0.5:2"


def make_checkpoint(path: Path, seed: int = 0, hidden: int = 8) -> Path:
    torch.manual_seed(seed)
    model = build_model("mlp", in_features=6, hidden=(hidden,))
    regions = fit_regions(get_dataset(NAME, "train"), many=MANY, few=FEW)
    save_checkpoint(
        path,
        {
            "model": {"name": "mlp", "kwargs": {"in_features": 6, "hidden": [hidden]}},
            "model_state": model.state_dict(),
            "epoch": 1,
            "data": {"name": NAME, "root": None, "kwargs": {}},
            "regions": regions.to_dict(),
        },
    )
    return path


def flip_bits(path: Path, key: str) -> None:
    """Flip one byte inside the stored data of dataset ``key`` (not its metadata)."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        offset = ds.id.get_chunk_info(0).byte_offset if ds.chunks else ds.id.get_offset()
    raw = bytearray(path.read_bytes())
    raw[offset + 3] ^= 0xFF
    path.write_bytes(bytes(raw))


def read_only_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with mode 0o555; for root (who writes anywhere) ``os.access`` says so too."""
    folder.mkdir()
    folder.chmod(0o555)
    real = os.access
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", lambda p, m, **kw: Path(p) != folder and real(p, m, **kw))
    return folder


def flags_exist(command: str, message: str) -> None:
    """Every ``--flag`` a message suggests is an option of ``bsam <command>``."""
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    known = set(sub._option_string_actions)
    suggested = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", message))
    assert suggested <= known, (suggested - known, message)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A checkpoint, a finished surface with its direction file, and a second checkpoint."""
    base = tmp_path_factory.mktemp("made")
    ck = make_checkpoint(base / "best.pt")
    other = make_checkpoint(base / "other.pt", seed=7)
    wide = make_checkpoint(base / "wide.pt", hidden=5)
    code = run_cli_plain(["surface", ck, "--grid", GRID, "--out", base / "s.h5", "--quiet"])
    assert code == 0
    return base, ck, other, wide


def run_cli_plain(argv) -> int:
    from bsam.cli import main

    return main([str(a) for a in argv])


def _setup(case: str, work: Path, made) -> list:
    """Lay out the files of ``case`` in ``work``; return the argv after ``surface CHECKPOINT``."""
    base, ck, other, wide = made
    shutil.copy(base / "s.h5", work / "s.h5")
    shutil.copy(base / "s.dirs.h5", work / "s.dirs.h5")
    out = ["--grid", GRID, "--out", work / "s.h5"]
    if case == "out-is-a-folder":
        (work / "d").mkdir()
        return ["--grid", GRID, "--out", work / "d"]
    if case == "out-below-a-file":
        return ["--grid", GRID, "--out", work / "s.h5" / "t.h5"]
    if case == "out-is-a-text-file":
        (work / "notes.h5").write_text("my notes")
        return ["--grid", GRID, "--out", work / "notes.h5"]
    if case == "out-is-a-foreign-hdf5":
        with h5py.File(work / "images.h5", "w") as f:
            f["images"] = np.zeros(3)
        return ["--grid", GRID, "--out", work / "images.h5"]
    if case == "out-truncated":
        raw = (work / "s.h5").read_bytes()
        (work / "s.h5").write_bytes(raw[: len(raw) // 3])
        return out
    if case == "out-bit-flipped-done":
        flip_bits(work / "s.h5", "done")
        return out
    if case == "out-other-loss":
        return out + ["--loss", "mse"]
    if case == "out-other-grid":
        return ["--grid", "-1:1:5", "--out", work / "s.h5"]
    if case == "dir-other-seed":
        return out + ["--seed", "5"]
    if case == "dir-other-norm":
        return out + ["--norm", "layer"]
    if case == "dir-other-seed-and-norm":
        return out + ["--seed", "5", "--norm", "layer"]
    if case == "dir-from-other-checkpoint":
        model = build_model("mlp", in_features=6, hidden=(8,))
        torch.manual_seed(7)
        model = build_model("mlp", in_features=6, hidden=(8,))
        save_directions(work / "o.dirs.h5", random_directions(model, seed=0))
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "o.dirs.h5"]
    if case == "dir-from-other-architecture":
        torch.manual_seed(0)
        model = build_model("mlp", in_features=6, hidden=(5,))
        save_directions(work / "w.dirs.h5", random_directions(model, seed=0))
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "w.dirs.h5"]
    if case == "dir-1d-for-2d":
        d = load_directions(work / "s.dirs.h5")
        d.y = None
        d.info = {**d.info, "dims": 1}
        save_directions(work / "one.dirs.h5", d)
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "one.dirs.h5"]
    if case == "dir-file-is-a-surface":
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "s.h5"]
    if case == "dir-file-truncated":
        raw = (work / "s.dirs.h5").read_bytes()
        (work / "s.dirs.h5").write_bytes(raw[:200])
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "s.dirs.h5"]
    if case == "dir-file-is-the-out-file":
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "n.h5"]
    if case == "dir-file-is-a-folder":
        (work / "dd").mkdir()
        return ["--grid", GRID, "--out", work / "n.h5", "--dir-file", work / "dd"]
    if case == "grid-reversed":
        return ["--grid", "1:-1:3", "--out", work / "n.h5"]
    if case == "grid-one-point":
        return ["--grid", "-1:1:1", "--out", work / "n.h5"]
    if case == "grid-nan":
        return ["--grid", "nan:1:3", "--out", work / "n.h5"]
    if case == "grid-three-axes":
        return ["--grid", "0:1:2,0:1:2,0:1:2", "--out", work / "n.h5"]
    if case == "regions-unknown":
        return ["--grid", GRID, "--regions", "all,tail", "--out", work / "n.h5"]
    if case == "batch-size-zero":
        return ["--grid", GRID, "--batch-size", "0", "--out", work / "n.h5"]
    raise AssertionError(case)


CASES = {
    "out-is-a-folder": r"Invalid --out .*: it is a folder; give a file path",
    "out-below-a-file": r"Invalid --out .*s\.h5 is a file, not a folder",
    "out-is-a-text-file": r"Cannot open .*notes\.h5 as HDF5 .*--overwrite",
    "out-is-a-foreign-hdf5": r"images\.h5 exists and is not a bsam surface file .*\['images'\]",
    "out-truncated": r"Cannot open .*s\.h5 as HDF5 \(corrupt, truncated",
    "out-bit-flipped-done": r"s\.h5 is damaged: cannot read done .*--overwrite",
    "out-other-loss": r"'loss' is 'l1' in the file but 'mse' now; pass overwrite=True \(--overwrite\)",
    "out-other-grid": r"'xcoordinates' is '3 points .* but '5 points",
    "dir-other-seed": r"was made with seed 0 but seed 5 was asked; pass --overwrite",
    "dir-other-norm": r"was made with norm 'filter' but norm 'layer' was asked",
    "dir-other-seed-and-norm": r"was made with seed 0 but seed 5 was asked",
    "dir-from-other-checkpoint": r"o\.dirs\.h5 was normalized to other weights: model_hash is '\w+' in the file but '\w+'",
    "dir-from-other-architecture": r"do not match the model: parameter 0 '[\w.]+' has shape \(8, 6\) in the model but \(5, 6\)",
    "dir-1d-for-2d": r"holds 1 direction but dims=2 needs 2",
    "dir-file-is-a-surface": r"is not a direction file: it has no 'xdirection' group",
    "dir-file-truncated": r"Cannot read direction file .*s\.dirs\.h5",
    "dir-file-is-the-out-file": r"Invalid --dir-file .*n\.h5: it is the --out file",
    "dir-file-is-a-folder": r"Invalid --dir-file .*dd: it is a folder",
    "grid-reversed": r"Invalid grid axis '1:-1:3'; need MIN < MAX",
    "grid-one-point": r"Invalid grid axis '-1:1:1'; need MIN < MAX and NUM >= 2",
    "grid-nan": r"Invalid grid axis 'nan:1:3'",
    "grid-three-axes": r"3 axes for a 2D surface",
    "regions-unknown": r"Invalid region name\(s\) \['tail'\]; choose from",
    "batch-size-zero": r"Invalid batch_size 0; it must be an int >= 1",
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_surface_fault(case, made, tmp_path, capsys):
    argv = _setup(case, tmp_path, made)
    snap = Snapshot(tmp_path)
    result = run_cli(capsys, "surface", made[1], *argv)
    assert_user_error(result, CASES[case])
    flags_exist("surface", result.err)
    snap.unchanged()


def test_out_in_a_read_only_folder(made, tmp_path, capsys, monkeypatch):
    ro = read_only_folder(tmp_path / "ro", monkeypatch)
    snap = Snapshot(tmp_path)
    result = run_cli(capsys, "surface", made[1], "--grid", GRID, "--out", ro / "s.h5")
    assert_user_error(result, r"Invalid --out .*ro/s\.h5: the folder .*ro is not writable")
    snap.unchanged()


def test_overwrite_remakes_mismatched_directions(made, tmp_path, capsys):
    base, ck, *_ = made
    shutil.copy(base / "s.h5", tmp_path / "s.h5")
    shutil.copy(base / "s.dirs.h5", tmp_path / "s.dirs.h5")
    argv = ["--grid", GRID, "--out", tmp_path / "s.h5", "--seed", "5", "--norm", "layer"]
    result = run_cli(capsys, "surface", ck, *argv, "--overwrite")
    assert result.code == 0, result.err
    assert "seed 5, norm layer" in result.out
    dirs = load_directions(tmp_path / "s.dirs.h5")
    assert dirs.info["seed"] == 5 and dirs.info["norm"] == "layer" and dirs.info["dims"] == 2
    # The same request again reuses them (resume), naming them in the summary.
    again = run_cli(capsys, "surface", ck, *argv)
    assert again.code == 0 and "seed 5, norm layer" in again.out


def test_unverifiable_direction_file_is_used_with_a_warning(made, tmp_path, capsys):
    base, ck, *_ = made
    d = load_directions(base / "s.dirs.h5")
    d.info = {"method": "foreign"}
    save_directions(tmp_path / "ll.dirs.h5", d)
    result = run_cli(
        capsys,
        "surface",
        ck,
        "--grid",
        GRID,
        "--out",
        tmp_path / "n.h5",
        "--dir-file",
        tmp_path / "ll.dirs.h5",
        "--quiet",
    )
    assert result.code == 0, result.err
    assert "records no model hash" in result.err and "--overwrite" in result.err
