"""Deprecated: the figure scripts' set-up moved to :mod:`analyses.notebooks`.

``from _common import build, config, run`` (which worked only from inside ``figures/``) keeps
working, with a DeprecationWarning; use ``from analyses.notebooks import build, config, run``,
which works from anywhere.
"""

from __future__ import annotations

import warnings

from analyses.notebooks import build, config, run

__all__ = ["build", "config", "run"]

warnings.warn(
    "figures/_common.py is deprecated; import build, config and run from analyses.notebooks.",
    DeprecationWarning,
    stacklevel=2,
)
