"""Spectrum plots draw the numbers of the result they are given."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.plotting.spectra import plot_curvature_bars, plot_density


def _result():
    grid = np.linspace(-1, 3, 50)
    dens = {
        "grid": grid.tolist(),
        "density": np.exp(-((grid - 1) ** 2)).tolist(),
        "nodes": [1.0],
        "weights": [1.0],
    }
    eig = {w: {"residuals": [0.01]} for w in ("LA", "SA", "LM")}
    return {
        "provenance": {"curvature": "hessian", "loss": "l1"},
        "regions": {
            "all": {
                "density": dens,
                "lambda_max": 2.0,
                "trace": 5.0,
                "trace_se": 0.5,
                "eigen": eig,
            },
            "few": {
                "density": dens,
                "lambda_max": 4.0,
                "trace": 9.0,
                "trace_se": 1.0,
                "eigen": eig,
            },
            "medium": {
                "density": None,
                "lambda_max": float("nan"),
                "trace": float("nan"),
                "trace_se": float("nan"),
                "eigen": None,
            },
        },
    }


def test_density_lines_carry_the_data(tmp_path):
    fig = plot_density(_result(), log=True)
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["all", "few"]  # empty region skipped
    x, y = ax.get_lines()[1].get_data()
    assert np.allclose(x, _result()["regions"]["few"]["density"]["grid"])
    assert np.allclose(y, np.maximum(_result()["regions"]["few"]["density"]["density"], 1e-8))
    assert ax.get_yscale() == "log"
    fig.savefig(tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 1000


def test_bars_heights_and_error_bars():
    fig = plot_curvature_bars(_result(), "trace", region_names=["all", "few"])
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [5.0, 9.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all", "few"]
    fig = plot_curvature_bars(_result(), "lambda_max")
    assert np.isnan(fig.axes[0].patches[2].get_height())


def test_plot_errors():
    with pytest.raises(ValueError, match="Invalid quantity 'spectrum'"):
        plot_curvature_bars(_result(), "spectrum")
    with pytest.raises(ValueError, match=r"Invalid region_names \['many'\]"):
        plot_density(_result(), region_names=["many"])
    with pytest.raises(ValueError, match="Invalid result"):
        plot_density({"x": 1})
    with pytest.raises(ValueError, match="no density to draw"):
        plot_density(_result(), region_names=["medium"])
    r = _result()
    del r["regions"]["all"]["trace"]
    with pytest.raises(ValueError, match="region 'all' has no 'trace'"):
        plot_curvature_bars(r, "trace")


def test_old_regions_keyword_still_selects_the_names():
    with pytest.warns(DeprecationWarning, match="plot_curvature_bars.*region_names="):
        fig = plot_curvature_bars(_result(), "trace", regions=["few", "all"])
    assert [p.get_height() for p in fig.axes[0].patches] == [9.0, 5.0]
