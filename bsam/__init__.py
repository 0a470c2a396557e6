"""bsam: Balanced Sharpness-Aware Minimization for imbalanced regression.

The training side of the toolkit: shot regions, balance weights, regression losses and metrics,
the SAM-family optimizers, datasets, models and the training loop.

The public names below are imported on first use (PEP 562), so ``import bsam`` and the ``bsam``
command line start without importing torch; ``from bsam import BSAM`` works as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bsam._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from bsam import losses, metrics
    from bsam.optim import (
        BSAM,
        OFFICIAL_BSAM,
        SAM,
        ImbSAM,
        StepResult,
        imbsam_step,
        official_bsam_config,
        plain_step,
        sam_step,
    )
    from bsam.regions import ALL_REGIONS, REGION_NAMES, ShotRegions
    from bsam.weights import BalanceWeights

__all__ = [
    "__version__",
    "ALL_REGIONS",
    "REGION_NAMES",
    "ShotRegions",
    "BalanceWeights",
    "losses",
    "metrics",
    "SAM",
    "BSAM",
    "ImbSAM",
    "StepResult",
    "sam_step",
    "imbsam_step",
    "plain_step",
    "OFFICIAL_BSAM",
    "official_bsam_config",
]

#: Module that defines each lazily imported public name (a submodule stands for itself).
_EXPORTS: dict[str, str] = {
    "losses": "bsam.losses",
    "metrics": "bsam.metrics",
    **dict.fromkeys(
        (
            "BSAM",
            "OFFICIAL_BSAM",
            "SAM",
            "ImbSAM",
            "StepResult",
            "imbsam_step",
            "official_bsam_config",
            "plain_step",
            "sam_step",
        ),
        "bsam.optim",
    ),
    **dict.fromkeys(("ALL_REGIONS", "REGION_NAMES", "ShotRegions"), "bsam.regions"),
    "BalanceWeights": "bsam.weights",
}


def _lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The PEP 562 ``__getattr__`` and ``__dir__`` of a package that imports names on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : Mapping[str, str]
        Public name -> module that defines it. A name whose module is ``f"{package}.{name}"``
        is that submodule itself.

    Returns
    -------
    (__getattr__, __dir__)
        ``__getattr__(name)`` imports ``exports[name]`` (or, as an import statement would, the
        submodule ``package.name``), caches the value in the package's namespace and returns
        it; any other name raises :class:`AttributeError`. ``__dir__()`` lists the namespace
        and every exported name.
    """

    def __getattr__(name: str) -> Any:
        namespace = vars(sys.modules[package])
        source = exports.get(name)
        if source is None:
            candidate = f"{package}.{name}"
            if name.startswith("__") or importlib.util.find_spec(candidate) is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            source = candidate
        module = importlib.import_module(source)
        value = module if source == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
