"""analyses: curvature per shot region, flatness comparisons, plots, tables and the reproduction.

* :mod:`analyses.curvature` -- Hessian/GGN products, eigenvalues, trace, spectral density;
* :mod:`analyses.plotting` -- matplotlib figures of surfaces and spectra;
* :mod:`analyses.tables` -- Markdown/CSV/LaTeX tables;
* :mod:`analyses.reproduce` -- the paper's artefacts from one call (``bsam reproduce``).

The subpackages are imported on first use (PEP 562): ``import analyses`` is cheap, and
``analyses.curvature`` imports torch only when it is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsam import _lazy_exports

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from analyses import curvature, plotting, reproduce, tables

__all__ = ["curvature", "plotting", "reproduce", "tables"]

#: Each public name is the subpackage (or module) of that name.
_EXPORTS: dict[str, str] = {name: f"analyses.{name}" for name in __all__}

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
