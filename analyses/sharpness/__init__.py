"""Sharpness as a function of the target: where in the label space is a model sharp?

* :func:`bin_windows` -- one point per target bin, widened to at least ``min_samples`` samples;
* :func:`gauss_newton_spectrum` -- the exact Gauss-Newton spectrum of a small region from its
  output-Jacobian Gram matrix (Lanczos + Hutch++ beyond ``max_bytes``);
* :func:`average_sharpness` -- loss rise along filter-normalized random directions;
* :func:`worst_case_sharpness` -- worst-case (and adaptive) rho-sharpness by projected gradient
  ascent, a lower bound;
* :func:`sharpness_profile` -- all of it per bin window, with the generalization gap;
* :func:`balanced_flatness` -- Spearman correlation with the training count and the few/many ratio
  over seeds;
* :func:`plot_profile`, :func:`plot_profile_overlay` -- the figures; :func:`save_profiles`.

The names are imported on first use (PEP 562), so ``import analyses.sharpness`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsam import _lazy_exports

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from analyses.sharpness.average import AverageSharpness, average_sharpness
    from analyses.sharpness.balance import balance_statistics, balanced_flatness
    from analyses.sharpness.bins import BinWindow, bin_windows, window_masks
    from analyses.sharpness.checkpoint import checkpoint_profiles
    from analyses.sharpness.gram import (
        DEFAULT_MAX_BYTES,
        GaussNewtonSpectrum,
        gauss_newton_spectrum,
        output_jacobian,
    )
    from analyses.sharpness.plot import plot_profile, plot_profile_overlay
    from analyses.sharpness.profile import CURVATURES, METHODS, UNCERTAINTY, sharpness_profile
    from analyses.sharpness.save import save_profiles
    from analyses.sharpness.worst import WorstCaseSharpness, worst_case_sharpness

#: Module that defines each public name.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("AverageSharpness", "average_sharpness"), "analyses.sharpness.average"),
    **dict.fromkeys(("balance_statistics", "balanced_flatness"), "analyses.sharpness.balance"),
    **dict.fromkeys(("BinWindow", "bin_windows", "window_masks"), "analyses.sharpness.bins"),
    "checkpoint_profiles": "analyses.sharpness.checkpoint",
    **dict.fromkeys(
        ("DEFAULT_MAX_BYTES", "GaussNewtonSpectrum", "gauss_newton_spectrum", "output_jacobian"),
        "analyses.sharpness.gram",
    ),
    **dict.fromkeys(("plot_profile", "plot_profile_overlay"), "analyses.sharpness.plot"),
    **dict.fromkeys(
        ("CURVATURES", "METHODS", "UNCERTAINTY", "sharpness_profile"), "analyses.sharpness.profile"
    ),
    "save_profiles": "analyses.sharpness.save",
    **dict.fromkeys(("WorstCaseSharpness", "worst_case_sharpness"), "analyses.sharpness.worst"),
}

__all__ = [
    "AverageSharpness",
    "BinWindow",
    "CURVATURES",
    "DEFAULT_MAX_BYTES",
    "GaussNewtonSpectrum",
    "METHODS",
    "UNCERTAINTY",
    "WorstCaseSharpness",
    "average_sharpness",
    "balance_statistics",
    "balanced_flatness",
    "bin_windows",
    "checkpoint_profiles",
    "gauss_newton_spectrum",
    "output_jacobian",
    "plot_profile",
    "plot_profile_overlay",
    "save_profiles",
    "sharpness_profile",
    "window_masks",
    "worst_case_sharpness",
]

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
