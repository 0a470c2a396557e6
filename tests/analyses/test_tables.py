import math

from analyses.tables import format_cell, to_csv, to_latex, to_markdown, write_table

ROWS = [
    {"method": "SQINV", "mae": 6.3912, "lam": (141.2, 3.04)},
    {"method": "BSAM", "mae": math.nan, "lam": (86.5, None)},
]


def test_cells():
    assert format_cell(1.23456) == "1.235"
    assert format_cell(math.nan) == "–"
    assert format_cell((1.0, 0.25), ".2f") == "1.00 ± 0.25"
    assert format_cell((1.0, math.nan), ".1f") == "1.0"
    assert format_cell(None) == "–"


def test_markdown_layout():
    md = to_markdown(ROWS, ["method", "mae", "lam"], headers={"lam": "λmax"}).splitlines()
    assert md[0] == "| method | mae | λmax |"
    assert md[1] == "|:---|---:|---:|"
    assert md[2] == "| SQINV | 6.391 | 141.200 ± 3.040 |"
    assert md[3] == "| BSAM | – | 86.500 |"


def test_csv_splits_mean_and_std():
    lines = to_csv(ROWS, ["method", "mae", "lam"]).splitlines()
    assert lines[0] == "method,mae,lam_mean,lam_std"
    assert lines[1] == "SQINV,6.3912,141.2,3.04"
    assert lines[2] == "BSAM,nan,86.5,"


def test_latex_escapes_and_writes_all_formats(tmp_path):
    tex = to_latex(ROWS, ["method", "lam"], headers={"lam": "lambda_max"}, caption="Table 8")
    assert r"lambda\_max" in tex and r"$\pm$" in tex and r"\caption{Table 8}" in tex
    paths = write_table(tmp_path / "t8", ROWS, ["method", "lam"])
    assert sorted(paths) == ["csv", "md", "tex"]
    assert all(p.is_file() for p in paths.values())
