"""analyses: curvature per shot region, flatness comparisons, plots, tables and the reproduction.

* :mod:`analyses.curvature` -- Hessian/GGN products, eigenvalues, trace, spectral density;
* :mod:`analyses.plotting` -- matplotlib figures of surfaces and spectra;
* :mod:`analyses.tables` -- Markdown/CSV/LaTeX tables;
* :mod:`analyses.reproduce` -- the paper's artefacts from one call (``bsam reproduce``);
* :func:`compare_flatness` (:mod:`analyses.compare`) -- surfaces and curvature of several models
  per region, pooled over seeds, as one table and one figure;
* :mod:`analyses.sharpness` -- sharpness per target bin (exact Gauss-Newton spectra, average-
  and worst-case sharpness, the gap) and balanced-flatness statistics;
* :mod:`analyses.notebooks` -- parameters and inline display of the ``figures/`` notebooks.

The subpackages are imported on first use (PEP 562): ``import analyses`` is cheap, and
``analyses.curvature`` imports torch only when it is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsam import _lazy_exports

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from analyses import compare, curvature, notebooks, plotting, reproduce, sharpness, tables
    from analyses.compare import FlatnessComparison, compare_flatness

__all__ = [
    "compare",
    "curvature",
    "notebooks",
    "plotting",
    "reproduce",
    "sharpness",
    "tables",
    "compare_flatness",
    "FlatnessComparison",
]
_MODULES = __all__[:7]

#: Module that defines each public name (a subpackage or module stands for itself).
_EXPORTS: dict[str, str] = {
    **{name: f"analyses.{name}" for name in _MODULES},
    **dict.fromkeys(("compare_flatness", "FlatnessComparison"), "analyses.compare"),
}

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
