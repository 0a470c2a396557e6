"""The API reference builds from the docstrings (pdoc) with a page per package and its main
names; the citation file and the licence agree with the package metadata."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
MAIN_NAMES = {
    "bsam.html": ["BSAM", "SAM", "ImbSAM", "sam_step", "ShotRegions", "BalanceWeights"],
    "landscape.html": ["compute_surface", "random_directions", "read_surface", "SurfaceResult"],
    "analyses.html": ["compare_flatness", "FlatnessComparison"],
    "analyses/curvature.html": ["region_curvature", "lanczos", "hutchpp_trace"],
    "analyses/compare.html": ["compare_flatness"],
    "analyses/notebooks.html": ["build", "config", "show"],
}


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api")
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "pdoc", "bsam", "landscape", "analyses", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return out


@pytest.mark.parametrize("page", sorted(MAIN_NAMES))
def test_api_page_documents_the_main_names(api, page):
    html = (api / page).read_text()
    for name in MAIN_NAMES[page]:
        assert f'id="{name}"' in html, f"{page} does not document {name}"


def test_api_index_links_every_package(api):
    index = (api / "index.html").read_text()
    for package in ("bsam", "landscape", "analyses"):
        assert re.search(rf'href="{package}\.html"', index) or (api / f"{package}.html").is_file()


def test_docs_api_page_gives_the_build_command():
    assert "python -m pdoc bsam landscape analyses -o docs/_build/api" in (ROOT / "docs" / "api.md").read_text()


def test_citation_file_matches_the_package():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert (cff["title"], str(cff["version"]), cff["license"]) == (meta["name"], meta["version"], meta["license"]["text"])
    (paper,) = cff["references"]
    assert paper["title"] == "Balanced Sharpness-Aware Minimization for Imbalanced Regression"
    assert [a["family-names"] for a in paper["authors"]] == ["Liu", "Wang", "Duan", "Li"]
    assert paper["year"] == 2025 and "ICCV" in paper["conference"]["name"]


def test_licence_is_mit_with_the_authors_line():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the bsam-landscape authors" in text
