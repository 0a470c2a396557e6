"""``bsam reproduce --data <DIR data set> --root TINY --quick`` end to end, for all three data sets.

Each test writes a tiny folder in the exact on-disk layout of the DIR release
(github.com/YyzHarry/imbalanced-regression): AgeDB-DIR's and IMDB-WIKI-DIR's ``age,path,split``
csv beside the image folder, NYUD2-DIR's headerless csvs, 8-bit training and 16-bit test depth
pngs and ``test_balanced_mask.npy``; then runs the command line as a user would, on the CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bsam.cli import main
from tests.bsam.test_nyud2_dir import write_dir_layout

pytestmark = pytest.mark.slow


def _age_layout(root, csv_name: str, folder: str, ages: dict[str, list[int]]) -> None:
    """``root/<csv_name>`` (age,path,split) and ``root/<folder>/*.jpg`` of tiny random faces."""
    (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["age,path,split"]
    for split, values in ages.items():
        for k, age in enumerate(values):
            rel = f"{folder}/{split}_{k}_{age}.jpg"
            Image.fromarray(rng.integers(0, 255, (36, 28, 3), dtype=np.uint8)).save(root / rel)
            lines.append(f"{age},{rel},{split}")
    (root / csv_name).write_text("\n".join(lines) + "\n")


def _ages(rng: np.random.Generator, n: int, top: int) -> list[int]:
    return np.clip(rng.normal(35, 12, n).round().astype(int), 1, top).tolist()


def _reproduce(out, *flags: str) -> dict:
    assert main(["reproduce", *flags, "--quick", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    return json.loads((out / "timings.json").read_text())


def test_agedb_dir_quick_runs_every_stage_with_the_rnc_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("BSAM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    root = tmp_path / "agedb"
    _age_layout(root, "agedb.csv", "AgeDB", {s: _ages(rng, n, 101) for s, n in
                                             (("train", 80), ("val", 30), ("test", 40))})
    out = tmp_path / "out"
    timings = _reproduce(out, "--data", "agedb-dir", "--root", str(root), "--methods", "sqinv,bsam",
                         "--seeds", "0")
    assert {"train", "surface", "hessian", "sharpness", "report"} <= set(timings)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["name"] == "rnc-agedb-quick" and recipe["schedule"] == "cosine-epoch"
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert any(r.startswith("bsam-s0-") for r in runs) and any(r.startswith("bsam-inv-") for r in runs)
    surfaces = sorted(p.name for p in (out / "surfaces").glob("bsam-s0-*"))
    assert [n.endswith(e) for n, e in zip(surfaces, ("-1d.h5", "-2d.h5", ".dirs.h5"))] == [True] * 3
    config = json.loads(next((out / "runs").glob("sqinv-s0-*/metrics.json")).read_text())["config"]
    assert (config["data"], config["data_kwargs"], config["lr"]) == ("agedb-dir", {"img_size": 32}, 0.2)
    report = (out / "report.md").read_text()
    assert "The paper's tables beside ours" in report and "paper, AgeDB-DIR" in report
    assert (out / "tables" / "table8.csv").is_file()


def test_imdb_wiki_dir_quick_keeps_ages_above_120_in_the_last_bin(tmp_path, monkeypatch):
    monkeypatch.setenv("BSAM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(2)
    root = tmp_path / "imdb"
    train = _ages(rng, 78, 120) + [135, 150]  # DIR's training split holds ages above 120
    _age_layout(root, "imdb_wiki.csv", "imdb_crop",
                {"train": train, "val": _ages(rng, 30, 120), "test": _ages(rng, 40, 120)})
    out = tmp_path / "out"
    _reproduce(out, "--data", "imdb-wiki-dir", "--root", str(root), "--methods", "vanilla,bsam",
               "--seeds", "0", "--stages", "train,report")
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["name"] == "rnc-imdb-quick" and recipe["rho_by_method"]["bsam"] == 0.05
    metrics = json.loads(next((out / "runs").glob("bsam-s0-*/metrics.json")).read_text())
    counts = metrics["regions"]["counts"]
    assert len(counts) == 121 and counts[-1] == 2 + train.count(120)  # 135 and 150 clipped
    assert "paper, IMDB-WIKI-DIR" in (out / "report.md").read_text()


def test_nyud2_dir_quick_trains_and_writes_table3(tmp_path, monkeypatch):
    monkeypatch.setenv("BSAM_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "nyud2"
    root.mkdir()
    write_dir_layout(root)  # 60x80 sources, balanced mask at the 32x40 crop
    config = tmp_path / "small.toml"  # a recipe override file: the whole protocol scaled down
    config.write_text("[data_kwargs]\nimage_size = [32, 40]\n")
    out = tmp_path / "out"
    timings = _reproduce(out, "--data", "nyud2-dir", "--root", str(root), "--rho", "0.1",
                         "--methods", "sqinv,bsam", "--seeds", "0", "--config", str(config))
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["name"] == "dir-nyud2-quick" and recipe["data_kwargs"]["image_size"] == [32, 40]
    assert "surface" not in timings or timings["surface"] < 1  # per-sample stages do not apply
    table3 = (out / "tables" / "paper_table3.md")
    if not table3.exists():
        table3 = next((out / "tables").glob("*table3*.md"))
    text = table3.read_text()
    assert "paper, NYUD2-DIR" in text and "ours, nyud2-dir" in text
    metrics = json.loads(next((out / "runs").glob("bsam-s0-*/metrics.json")).read_text())
    test = metrics["best"]["test"]
    assert {"rmse", "delta1", "absrel", "log10"} <= set(test["few"])
    assert [test[r]["n"] for r in ("all", "many", "medium", "few")] == [164, 35, 120, 9]
    assert metrics["config"]["select"] == "rmse" and metrics["config"]["descent_loss"] == "mse"
