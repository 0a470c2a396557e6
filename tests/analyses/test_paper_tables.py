"""The paper's tables (package data) and the tables that set our runs beside them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from analyses.reproduce import results as res
from analyses.reproduce.config import RunSpec
from analyses.reproduce.hessian_tables import table8_vs_paper
from analyses.reproduce.paper import PAPER, PAPER_SOURCE, paper_mae, paper_tables
from analyses.reproduce.report import paper_tables_section
from analyses.reproduce.stages import RunOutput
from analyses.tables import to_csv, to_markdown
from bsam._io import write_json

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "analyses" / "reproduce" / "data" / "paper_tables.json"
SHARED = ROOT.parent / "shared" / "data" / "paper_tables.json"
REGIONS = ("all", "many", "medium", "few")


# ----------------------------------------------------------------------------- the loader
def test_the_loader_returns_the_json_numbers():
    stored = json.loads(PACKAGED.read_text("utf-8"))
    assert paper_tables() == stored
    if SHARED.is_file():  # the project's copy: the package data must be identical
        assert json.loads(SHARED.read_text("utf-8")) == stored
    t1 = stored["table1_agedb_dir"]["rows"]
    assert PAPER["mae"]["vanilla"] == dict(zip(REGIONS, t1["Vanilla (reproduced)"]["mae"]))
    assert PAPER["gm"]["bsam"] == dict(zip(REGIONS, t1["BSAM (ours)"]["gm"]))
    assert PAPER["table8"]["bsam"] == stored["table8_few_shot_hessian_agedb_mean_of_3"]["BSAM"]
    assert "Liu, Wang, Duan, Li" in PAPER_SOURCE and "ICCV 2025" in PAPER_SOURCE


def test_the_headline_numbers_of_the_design():
    # DESIGN.md, "The paper's headline numbers" (AgeDB-DIR, ResNet-18)
    assert [paper_mae("vanilla", r) for r in REGIONS] == [6.690, 5.959, 7.740, 10.688]
    assert [paper_mae("sqinv", r) for r in REGIONS] == [6.391, 5.955, 7.155, 8.390]
    assert [paper_mae("bsam", r) for r in REGIONS] == [6.067, 5.801, 6.304, 7.928]
    assert (paper_mae("sam", "all"), paper_mae("imbsam", "all")) == (6.230, 6.184)
    assert PAPER["table8"]["sqinv"] == {"lambda_max": 141.21, "trace": 653.53}
    assert PAPER["table8"]["bsam"] == {"lambda_max": 86.51, "trace": 90.88}
    assert PAPER["figure1"] == {"all": 6.67, "few": 10.68}
    assert paper_mae("asam", "all") is None and paper_mae("vanilla", "tail") is None


def test_the_data_file_is_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["analyses"]
    assert any(PACKAGED.match(f"analyses/{g}") for g in globs)


# ----------------------------------------------------------------------------- builders
def _run(name: str, seed: int, test: dict, method: str | None = None) -> RunOutput:
    spec = RunSpec(name, method or name, seed)
    return RunOutput(spec, Path(f"/runs/{name}-{seed}"), {"best": {"test": test}}, False)


def _age_report(shift: float) -> dict:
    return {r: {"mae": 7.0 + i + shift, "gm": 4.0 + i + shift, "bmae": 8.0 + i + shift}
            for i, r in enumerate(REGIONS)}


def _runs() -> dict:
    runs = {}
    for name, base in (("vanilla", 1.0), ("sqinv", 0.5), ("imbsam", 0.3), ("bsam", 0.0)):
        for seed, shift in ((0, 0.0), (1, 0.2)):
            runs[(name, seed)] = _run(name, seed, _age_report(base + shift))
    return runs


def test_table1_sets_every_paper_row_beside_ours():
    rows, cols = res.dir_table_vs_paper(_runs(), "agedb-synth", ["vanilla", "bsam"])
    paper_rows = json.loads(PACKAGED.read_text())["table1_agedb_dir"]["rows"]
    labels = [r["method"] for r in rows[: len(paper_rows)]]
    assert labels == [k.replace("(ours)", "(paper's method)") for k in paper_rows]
    assert labels[-1] == "BSAM (paper's method)"
    assert {r["source"] for r in rows[: len(paper_rows)]} == {"paper, AgeDB-DIR"}
    assert [(r["source"], r["method"]) for r in rows[len(paper_rows):]] == [
        ("ours, agedb-synth", "Vanilla"), ("ours, agedb-synth", "SQINV + BSAM")]
    quoted = next(r for r in rows if r["method"] == "LDS (quoted)")
    assert quoted["gm_few"] == 7.03
    ranksim = next(r for r in rows if r["method"] == "RankSim (reproduced)")
    assert ranksim["mae_all"] == 6.51 and ranksim["mae_few"] is None and ranksim["gm_all"] is None
    ours = rows[-1]  # bsam: seeds 0.0 and 0.2 above 7, 8, 9, 10
    assert ours["seeds"] == 2
    assert ours["mae_few"][0] == pytest.approx(10.1)
    assert ours["mae_few"][1] == pytest.approx(math.sqrt(0.02))
    md = to_markdown(rows, cols)
    assert "| paper, AgeDB-DIR | RankSim (reproduced) | – | 6.510 | – | – | – |" in md
    csv = to_csv(rows, cols).splitlines()
    assert csv[0].startswith("source,method,seeds,mae_all")
    ranksim_csv = next(line for line in csv if "RankSim (reproduced)" in line)
    # our cells are (mean, std): every metric column splits in two; missing cells are empty
    assert ranksim_csv == '"paper, AgeDB-DIR",RankSim (reproduced),,6.51' + "," * 15


def test_imdb_runs_go_beside_table2_and_nyud2_runs_beside_table3():
    rows, _ = res.dir_table_vs_paper(_runs(), "imdb-synth", ["sqinv"])
    t2 = json.loads(PACKAGED.read_text())["table2_imdb_wiki_dir"]["rows"]
    assert rows[0]["source"] == "paper, IMDB-WIKI-DIR" and len(rows) == len(t2) + 1
    assert rows[-1]["source"] == "ours, imdb-synth"

    dense = {r: {"rmse": 1.0 + i, "delta1": 0.5 + i / 10} for i, r in enumerate(REGIONS)}
    runs = {("bsam", 0): _run("bsam", 0, dense), ("sqinv", 0): _run("sqinv", 0, _age_report(0))}
    rows, cols = res.dir_table_vs_paper(runs, "nyud2-dir", ["sqinv", "bsam"])
    assert cols[3:] == [f"{m}_{r}" for m in ("rmse", "delta1") for r in REGIONS]
    bni = next(r for r in rows if r["method"] == "Balanced MSE BNI (quoted)")
    assert (bni["rmse_all"], bni["delta1_few"]) == (1.283, 0.723)
    ours = [r for r in rows if r["source"] == "ours, nyud2-dir"]
    assert [r["method"] for r in ours] == ["SQINV + BSAM"]  # the sqinv run has no rmse/delta1
    assert ours[0]["rmse_medium"][0] == 3.0 and math.isnan(ours[0]["rmse_medium"][1])  # 1 seed
    assert ours[0]["delta1_few"][0] == pytest.approx(0.8)


def test_tables_4_to_7_and_figure1_beside_the_paper():
    runs = _runs()
    rows, cols = res.table4_vs_paper(runs, "agedb-dir")
    assert [(r["source"], r["method"]) for r in rows] == [
        ("paper, AgeDB-DIR", "SQINV"), ("paper, AgeDB-DIR", "BSAM"),
        ("ours, agedb-dir", "SQINV"), ("ours, agedb-dir", "SQINV + BSAM")]
    assert rows[1]["bmae_few"] == 8.890 and rows[3]["bmae_all"][0] == pytest.approx(8.1)
    assert res.table4_vs_paper(runs, "nyud2-dir")[0] == []  # the paper has no depth bMAE
    assert res.table4_vs_paper(runs, "imdb-wiki-dir")[0][0]["bmae_all"] == 11.838

    rows, cols = res.table6_vs_paper(runs, "agedb-synth")
    assert cols == ["source", "method", "seeds", "mae_all", "mae_many", "mae_medium", "mae_few"]
    assert [r["mae_all"] for r in rows[:4]] == [6.391, 6.230, 6.184, 6.067]
    assert [r["method"] for r in rows[4:]] == ["SQINV", "SQINV + ImbSAM", "SQINV + BSAM"]

    rows, _ = res.table5_vs_paper(runs, "agedb-synth")
    assert rows[1] == {"source": "paper, AgeDB-DIR", "method": "Vanilla + BSAM", "seeds": None,
                       "mae_all": 6.427, "mae_many": 5.856, "mae_medium": 7.116, "mae_few": 9.915}
    rows, _ = res.table7_vs_paper(runs, "agedb-synth")
    assert rows[1]["method"] == "INV-BSAM" and rows[1]["mae_medium"] == 6.668
    assert "SQINV + BSAM (INV perturbation)" not in {r["method"] for r in rows}  # not trained

    rows, cols = res.figure1_vs_paper(runs, "agedb-synth")
    assert rows[0]["mae_all"] == 6.67 and rows[0]["mae_few"] == 10.68
    assert rows[1]["source"] == "ours, agedb-synth" and rows[1]["mae_few"][0] == pytest.approx(11.1)


def _hessian(tmp_path: Path) -> dict:
    paths = {}
    for method, lam in (("sqinv", 20.0), ("bsam", 10.0)):
        for seed in (0, 1):
            path = tmp_path / f"h-{method}-{seed}.json"
            entry = {"lambda_max": lam + seed, "lambda_min": 0.0, "trace": 3 * lam, "method": "gram"}
            write_json(path, {"provenance": {"settings": {"tol": 1e-3}}, "regions": {"few": entry}})
            paths[(method, seed, "train")] = path
    return paths


def test_table8_beside_the_paper(tmp_path):
    cfg = SimpleNamespace(hessian_methods=["sqinv", "bsam"], hessian_regions=["few"],
                          curvature="ggn", data="agedb-synth")
    rows, cols = table8_vs_paper(cfg, _hessian(tmp_path))
    assert cols == ["source", "method", "seeds", "matrix", "lambda_max", "trace"]
    assert rows[0] == {"source": "paper, AgeDB-DIR", "method": "SQINV", "seeds": 3, "matrix": "H",
                       "lambda_max": 141.21, "trace": 653.53}
    assert rows[3]["method"] == "SQINV + BSAM" and rows[3]["matrix"] == "G"
    assert rows[3]["lambda_max"][0] == 10.5 and rows[3]["trace"] == (30.0, 0.0)


def test_the_report_section_writes_every_table(tmp_path):
    cfg = SimpleNamespace(out_dir=tmp_path, data="agedb-synth", curvature="ggn",
                          methods=("vanilla", "sqinv", "sam", "imbsam", "bsam"),
                          hessian_methods=["sqinv", "bsam"], hessian_regions=["few"])
    result = SimpleNamespace(config=cfg, runs=_runs(), hessian=_hessian(tmp_path))
    section = paper_tables_section(result)
    names = ["table1", "table4", "table5", "table6", "table7", "table8", "figure1"]
    for name in names:
        for ext in ("md", "csv", "tex"):
            assert (tmp_path / "tables" / f"paper_{name}.{ext}").is_file(), (name, ext)
    assert len(section.tables) == len(names)
    assert section.tables[0].startswith("**Table 1 (AgeDB-DIR): MAE and GM per region**")
    assert "ours, agedb-synth" in section.tables[0] and "paper, AgeDB-DIR" in section.tables[0]
    assert "| paper, AgeDB-DIR | SQINV + ImbSAM | – | 6.184 |" in section.tables[3]

    cfg.data = "nyud2-dir"
    dense = {r: {"rmse": 1.0, "delta1": 0.7} for r in REGIONS}
    result = SimpleNamespace(config=cfg, runs={("bsam", 0): _run("bsam", 0, dense)}, hessian={})
    section = paper_tables_section(result)
    assert len(section.tables) == 1 and section.tables[0].startswith("**Table 3 (NYUD2-DIR)")
    assert paper_tables_section(SimpleNamespace(config=cfg, runs={}, hessian={})) is None
