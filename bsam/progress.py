"""Progress bars that stay quiet in CI, in pipes and when asked to."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled"]

T = TypeVar("T")


def progress_enabled(quiet: bool = False) -> bool:
    """Whether bars are shown: not ``quiet``, stderr is a terminal, and ``CI`` is not set."""
    if quiet or os.environ.get("CI") or os.environ.get("BSAM_QUIET"):
        return False
    return sys.stderr.isatty()


def progress(
    iterable: Iterable[T], *, desc: str = "", total: int | None = None, quiet: bool = False, **kwargs
) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar when :func:`progress_enabled`, else return it unchanged."""
    if not progress_enabled(quiet):
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, **kwargs)
