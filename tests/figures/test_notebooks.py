"""Script-notebooks run as real notebooks: jupytext -> ipynb -> nbclient on the venv's python3
kernel, in quick mode (papermill-style injected parameters, or BSAM_QUICK/BSAM_OUT), on the cached
quick reproduction; their figures come back inline as image/png and their tables as Markdown."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

FIGURES = Path(__file__).resolve().parents[2] / "figures"


def _outputs(nb, mime: str) -> list[str]:
    return [
        out["data"][mime]
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if mime in out.get("data", {})
    ]


def _execute(script: str, monkeypatch, inject: str | None = None):
    nb = jupytext.read(FIGURES / script, fmt="py:percent")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{script} needs exactly one parameters cell"
    if inject is not None:  # what papermill does: a cell right after the parameters cell
        cell = nbformat.v4.new_code_cell(inject, metadata={"tags": ["injected-parameters"]})
        nb.cells.insert(tagged[0] + 1, cell)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(FIGURES)}})
    client.execute()
    return nb


def test_table8_with_injected_parameters_shows_figure_and_markdown_table(quick_reproduction, monkeypatch):
    out = quick_reproduction["config"].out_dir
    monkeypatch.delenv("BSAM_QUICK", raising=False)
    nb = _execute("table8.py", monkeypatch, inject=f"quick = True\nout = {str(out)!r}")
    tables = _outputs(nb, "text/markdown")
    assert any(t.lstrip().startswith("|") and "λ_max" in t for t in tables), tables
    assert _outputs(nb, "image/png"), "no inline figure"
    assert (out / "tables" / "table8.md").is_file()
    assert not (FIGURES / "results").exists(), "the notebook wrote into figures/"


def test_figure1_in_quick_mode_from_the_environment(quick_reproduction, monkeypatch):
    out = quick_reproduction["config"].out_dir
    monkeypatch.setenv("BSAM_QUICK", "1")
    monkeypatch.setenv("BSAM_OUT", str(out))
    nb = _execute("figure1.py", monkeypatch)
    assert len(_outputs(nb, "image/png")) >= 2  # figure1 inline, the others displayed
    assert (out / "figures" / "figure1.png").is_file()
    assert not (FIGURES / "results").exists(), "the notebook wrote into figures/"


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_quick_environment_value_is_one_clear_error(monkeypatch, value):
    from analyses.notebooks import config

    monkeypatch.setenv("BSAM_QUICK", value)
    with pytest.raises(ValueError, match=rf"Invalid BSAM_QUICK='{value}'; set it to 1"):
        config()
