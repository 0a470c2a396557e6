"""Checks of data-set options: one-line errors that name the option, its value and the fix."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["positive_int", "number_in", "triple", "check_options"]


def positive_int(where: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int, when it is a whole number ``>= minimum``.

    Raises
    ------
    ValueError
        Naming ``where`` (the data set), the option and the value (e.g. ``img_size=0``).
    """
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if not ok:
        raise ValueError(
            f"Invalid {name}={value!r} for {where}; {name} must be a whole number >= {minimum}."
        )
    return int(value)


def number_in(where: str, name: str, value: Any, low: float, high: float = math.inf) -> float:
    """``value`` as a float, when it is a finite number in ``[low, high]``.

    Raises
    ------
    ValueError
        Naming ``where``, the option, the value and the allowed range.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and low <= number <= high):
        upper = "" if math.isinf(high) else f"..{high:g}"
        raise ValueError(
            f"Invalid {name}={value!r} for {where}; {name} must be a number in {low:g}{upper}."
        )
    return number


def triple(where: str, name: str, value: Sequence[float], *, positive: bool) -> tuple:
    """``value`` as a 3-tuple of finite floats (per RGB channel), ``> 0`` when ``positive``."""
    items = tuple(value) if isinstance(value, (list, tuple)) else ()
    numbers = [number_in(where, name, v, 0.0 if positive else -math.inf) for v in items]
    if len(numbers) != 3 or (positive and min(numbers) <= 0):
        sign = "positive " if positive else ""
        raise ValueError(
            f"Invalid {name}={value!r} for {where}; give three {sign}numbers, one per channel."
        )
    return tuple(numbers)


def check_options(where: str, factory: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse keyword options that ``factory`` does not take, listing those it does.

    ``root``, ``split``, ``name`` and ``train`` are set by the registry, not by the user, so
    they are left out of the accepted list.

    Raises
    ------
    ValueError
        ``Unknown option(s) [...] for <where>; accepted options: [...]``.
    """
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    fixed = {"self", "root", "split", "name", "train"}
    accepted = sorted(p.name for p in params if p.name not in fixed)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for {where} (--data-kwargs); accepted options: "
            f"{accepted}"
        )
