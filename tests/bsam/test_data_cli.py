"""Tests of ``bsam data show`` / ``bsam data info`` on a tiny on-disk data set."""

import numpy as np
import pytest
from PIL import Image

from bsam.cli import main


@pytest.fixture
def agedb_root(tmp_path):
    (tmp_path / "AgeDB").mkdir()
    lines = ["age,path,split"]
    rng = np.random.default_rng(0)
    rows = [(20, "train")] * 3 + [(50, "train"), (70, "val"), (30, "test")]
    for k, (age, split) in enumerate(rows):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(
            tmp_path / f"AgeDB/{k}.png"
        )
        lines.append(f"{age},AgeDB/{k}.png,{split}")
    (tmp_path / "agedb.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_data_show_writes_png(agedb_root, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    rc = main(
        [
            "data",
            "show",
            "--data",
            "agedb-dir",
            "--root",
            str(agedb_root),
            "--out",
            str(out),
            "--n",
            "3",
        ]
    )
    assert rc == 0 and "wrote" in capsys.readouterr().out
    img = Image.open(out)
    assert img.format == "PNG" and img.size[0] > 50


def test_data_info_prints_sizes_and_regions(agedb_root, capsys):
    rc = main(
        [
            "data",
            "info",
            "--data",
            "agedb-dir",
            "--root",
            str(agedb_root),
            "--few",
            "2",
            "--many",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "train 4, val 1, test 1" in out
    # bin 20 has 3 samples (> many=2): many-shot; bin 50 has 1 (< few=2): few-shot
    assert "1 many-shot, 0 medium-shot, 1 few-shot" in out


def test_data_errors_exit_2(agedb_root, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["data", "info", "--data", "agedb-dir", "--root", str(empty)])
    assert rc == 2 and "agedb.csv" in capsys.readouterr().err
    rc = main(["data", "show", "--data", "nope", "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "Unknown data set 'nope'" in capsys.readouterr().err
    out = str(tmp_path / "x.png")
    rc = main(
        ["data", "show", "--data", "agedb-dir", "--root", str(agedb_root), "--out", out, "--n", "0"]
    )
    assert rc == 2 and "Invalid --n 0" in capsys.readouterr().err
