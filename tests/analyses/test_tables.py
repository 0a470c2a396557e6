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


# -- unconverged values are never printed as numbers ------------------------------------------
def _entry(lam_min_rel: float, stored_flag: bool = True) -> dict:
    def eig(value, rel):
        return {"eigenvalues": [value], "residuals": [abs(value) * rel],
                "relative_residuals": [rel], "converged": stored_flag, "tol": 1e-3}

    return {"lambda_max": 40.0, "lambda_min": 1e-6, "trace": 90.0, "trace_se": 2.0,
            "eigen": {"LA": eig(40.0, 1e-5), "SA": eig(1e-6, lam_min_rel), "LM": eig(40.0, 1e-5)}}


def test_not_converged_cells_in_every_format():
    from analyses.tables import NC_NOTE, NotConverged

    rows = [{"m": "a", "v": (NotConverged(3.25), 0.5)}, {"m": "b", "v": NotConverged(2.0)}]
    assert format_cell(rows[0]["v"]) == format_cell(rows[1]["v"]) == "n/c"
    md = to_markdown(rows, ["m", "v"])
    assert "3.25" not in md and md.count("| n/c |") == 2 and md.endswith(NC_NOTE)
    assert to_csv(rows, ["m", "v"]).splitlines()[1:] == ["a,n/c,", "b,n/c,"]
    tex = to_latex(rows, ["m", "v"])
    assert "3.25" not in tex and tex.count("n/c \\\\") == 2 and "not converged" in tex
    assert "not converged" not in to_markdown(ROWS, ["method", "mae"])


def test_table8_marks_an_unconverged_eigenvalue_whatever_its_stored_flag(tmp_path):
    from types import SimpleNamespace

    from analyses.reproduce.hessian_tables import certified, few_shot_means, flatness_rows, table8
    from bsam._io import write_json

    paths = {}
    for seed, rel in enumerate([50.0, 1e-5]):  # seed 0: lambda_min at relative residual 50
        for split in ("train", "test"):
            path = tmp_path / f"{seed}-{split}.json"
            write_json(path, {"provenance": {"settings": {"tol": 1e-3}},
                              "regions": {"few": _entry(rel)}})
            paths[("bsam", seed, split)] = path
    assert not certified(_entry(50.0), "lambda_min", 1e-3)  # the stored flag said True
    assert certified(_entry(50.0), "lambda_max", 1e-3) and certified({}, "lambda_min", 1e-3)
    cfg = SimpleNamespace(hessian_methods=["bsam"], hessian_regions=["few"])
    rows, cols = table8(cfg, paths)
    body = to_markdown(rows, cols).splitlines()[2:4]
    # lambda_min (one seed unconverged) is n/c; lambda_max and the trace are numbers
    assert body and all("| 40.000 ± 0.000 | n/c | 90.000 ± 0.000 |" in line for line in body)
    assert flatness_rows(cfg, paths)[0]["lambda_max"] == (40.0, 0.0)
    assert few_shot_means(cfg, paths)["bsam"]["lambda_max"] == 40.0
