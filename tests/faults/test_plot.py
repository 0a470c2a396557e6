"""Fault catalogue, `bsam plot`: bad inputs, damaged files, bad output folders, kinds that do not fit.

Every case asserts exit status 2, a one-line message, that each ``--flag`` it suggests exists on
``bsam plot``, and that no file in the work folder changed or appeared.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.store import SurfaceStore
from tests.faults._harness import Snapshot, assert_user_error, run_cli
from tests.faults.test_landscape import flags_exist, flip_bits, read_only_folder
from tests.landscape.test_layout import loss_landscape_file

X, Y = np.linspace(-1, 1, 3), np.linspace(-1, 1, 2)


def surface_file(path: Path, *, dims: int = 2, empty_few: bool = False, done: bool = True) -> Path:
    """A complete (or untouched) surface file written by the store; ``few`` may hold no sample."""
    counts = np.array([10, 6, 4, 0 if empty_few else 2])
    names = ["all", "many", "medium", "few"]
    store = SurfaceStore(
        path,
        identity={"loss": "l1", "regions": json.dumps({"names": names})},
        info={},
        xcoords=X,
        ycoords=Y if dims == 2 else None,
        names=names,
        counts=counts,
    )
    if done:
        total = int(np.prod(store.shape))
        means = np.random.default_rng(0).uniform(1, 2, (total, 4, 2))
        if empty_few:
            means[:, 3, :] = np.nan
        store.write(np.arange(total), means)
    return path


def _setup(case: str, work: Path) -> list:
    """Lay out the files of ``case`` in ``work``; return the argv after ``plot``."""
    s2 = surface_file(work / "s.h5")
    out = ["--out", work / "figs"]
    if case == "file-missing":
        return [work / "none.h5", *out]
    if case == "file-is-a-folder":
        return [work, *out]
    if case == "file-is-text":
        (work / "notes.txt").write_text("hello")
        return [work / "notes.txt", *out]
    if case == "json-malformed":
        (work / "h.json").write_text('{"regions": ')
        return [work / "h.json", *out]
    if case == "json-not-curvature":
        (work / "h.json").write_text("[1, 2]")
        return [work / "h.json", *out]
    if case == "json-all-regions-empty":
        (work / "h.json").write_text(json.dumps({"regions": {"few": {"lambda_max": None}}}))
        return [work / "h.json", *out]
    if case == "json-kind-not-held":
        (work / "h.json").write_text(json.dumps({"regions": {"few": {"trace": 3.0}}}))
        return [work / "h.json", *out, "--kind", "lambda_max"]
    if case == "json-surface-kind":
        (work / "h.json").write_text(json.dumps({"regions": {"few": {"trace": 3.0}}}))
        return [work / "h.json", *out, "--kind", "heatmap"]
    if case == "json-with-log":
        (work / "h.json").write_text(json.dumps({"regions": {"few": {"trace": 3.0}}}))
        return [work / "h.json", *out, "--log"]
    if case == "h5-foreign":
        with h5py.File(work / "images.h5", "w") as f:
            f["images"] = np.zeros(3)
        return [work / "images.h5", *out]
    if case == "h5-truncated":
        raw = s2.read_bytes()
        s2.write_bytes(raw[: len(raw) // 3])
        return [s2, *out]
    if case == "h5-bit-flipped-loss":
        flip_bits(s2, "loss/few")
        return [s2, *out]
    if case == "h5-bit-flipped-coordinates":
        flip_bits(s2, "xcoordinates")
        return [s2, *out]
    if case == "h5-loss-landscape-wrong-size":
        with h5py.File(work / "ll.h5", "w") as f:
            f["xcoordinates"], f["ycoordinates"] = X, Y
            f["train_loss"] = np.ones((4, 4))
        return [work / "ll.h5", *out]
    if case == "h5-no-point-computed":
        surface_file(work / "new.h5", done=False)
        return [work / "new.h5", *out]
    if case == "out-is-a-file":
        (work / "figs").write_text("not a folder")
        return [s2, *out]
    if case == "out-below-a-file":
        return [s2, "--out", s2 / "figs"]
    if case == "figures-exist":
        (work / "figs").mkdir()
        (work / "figs" / "s_panels.png").write_bytes(b"my old figure")
        return [s2, *out]
    if case == "kind-unknown":
        return [s2, *out, "--kind", "wireframe"]
    if case == "kind-1d-on-2d":
        return [s2, *out, "--kind", "curves"]
    if case == "kind-2d-on-1d":
        surface_file(work / "one.h5", dims=1)
        return [work / "one.h5", *out, "--kind", "contour"]
    if case == "mae-of-loss-landscape-file":
        loss_landscape_file(work / "ll.h5", X, Y, lambda a, b: 1 + a * a + b * b)
        return [work / "ll.h5", *out, "--quantity", "mae"]
    raise AssertionError(case)


CASES = {
    "file-missing": r"File not found: .*none\.h5",
    "file-is-a-folder": r"Cannot plot .*: it is a folder; give a \.h5 or \.json file",
    "file-is-text": r"Cannot plot .*notes\.txt: expected a surface HDF5 file",
    "json-malformed": r"Malformed JSON in .*h\.json",
    "json-not-curvature": r"h\.json is not a curvature result: expected a JSON object with 'regions'",
    "json-all-regions-empty": r"Nothing to plot in .*h\.json: no region has a density or a finite",
    "json-kind-not-held": r"Invalid kind\(s\) \['lambda_max'\]: .*holds no such data; it holds \['trace'\]",
    "json-surface-kind": r"Invalid kind\(s\) \['heatmap'\] for a curvature file; choose from",
    "json-with-log": r"--quantity and --log apply to surfaces; .*h\.json is a Hessian result",
    "h5-foreign": r"images\.h5 is not a surface file: it has no 'format' attribute",
    "h5-truncated": r"Cannot open .*s\.h5 as HDF5 \(corrupt, truncated",
    "h5-bit-flipped-loss": r"s\.h5 is damaged: cannot read its datasets .*; delete it and compute",
    "h5-bit-flipped-coordinates": r"s\.h5 is damaged: cannot read its datasets",
    "h5-loss-landscape-wrong-size": r"'train_loss' holds 16 values but the grid has 6 points",
    "h5-no-point-computed": r"no computed point yet \(0 of 6\); run `bsam surface` again",
    "out-is-a-file": r"Invalid --out .*figs: it is a file; give a folder",
    "out-below-a-file": r"Invalid --out .*figs: .*s\.h5 is a file, not a folder",
    "figures-exist": r"s_panels\.png exists \(1 of the files to write do\); pass --overwrite",
    "kind-unknown": r"Invalid kind\(s\) \['wireframe'\]; choose from",
    "kind-1d-on-2d": r"Invalid kind\(s\) \['curves'\] for a 2D surface; choose from",
    "kind-2d-on-1d": r"Invalid kind\(s\) \['contour'\] for a 1D surface; choose from",
    "mae-of-loss-landscape-file": r"this surface holds no mae \(a loss-landscape file holds only",
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_plot_fault(case, tmp_path, capsys):
    argv = _setup(case, tmp_path)
    snap = Snapshot(tmp_path)
    result = run_cli(capsys, "plot", *argv)
    assert_user_error(result, CASES[case])
    flags_exist("plot", result.err)
    snap.unchanged()


def test_out_in_a_read_only_folder(tmp_path, capsys, monkeypatch):
    s2 = surface_file(tmp_path / "s.h5")
    ro = read_only_folder(tmp_path / "ro", monkeypatch)
    snap = Snapshot(tmp_path)
    result = run_cli(capsys, "plot", s2, "--out", ro / "figs")
    assert_user_error(result, r"Invalid --out .*figs: the folder .*ro is not writable")
    snap.unchanged()


def test_existing_figures_are_replaced_with_overwrite(tmp_path, capsys):
    s2 = surface_file(tmp_path / "s.h5")
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "s_panels.png").write_bytes(b"old")
    result = run_cli(capsys, "plot", s2, "--out", tmp_path / "figs", "--overwrite")
    assert result.code == 0, result.err
    assert (tmp_path / "figs" / "s_panels.png").read_bytes()[:4] == b"\x89PNG"


def test_complete_surface_with_an_empty_region_plots_the_others(tmp_path, capsys):
    s2 = surface_file(tmp_path / "s.h5", empty_few=True)
    result = run_cli(capsys, "plot", s2, "--out", tmp_path / "figs")
    assert result.code == 0, result.err
    assert "region 'few' holds no sample (n=0); not plotted" in result.err
    assert "no computed point" not in result.err
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "s_contour_many.png" in names and not any("few" in n for n in names)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)], ids=["022", "077"])
def test_outputs_respect_the_umask(tmp_path, capsys, umask, mode):
    old = os.umask(umask)
    try:
        s2 = surface_file(tmp_path / "s.h5")
        result = run_cli(capsys, "plot", s2, "--out", tmp_path / "figs", "--kind", "panels")
    finally:
        os.umask(old)
    assert result.code == 0, result.err
    for path in [s2, *(tmp_path / "figs").iterdir()]:
        assert path.stat().st_mode & 0o777 == mode, path
    shutil.rmtree(tmp_path / "figs")
