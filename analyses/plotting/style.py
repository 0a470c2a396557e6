"""One look for every figure: method order and colours, region colours, axis names, stamps.

Every figure that draws methods takes its colours from :func:`method_color` and its order from
:func:`method_order`, so a method has one colour across the report, the scripts in ``figures/``
and a user's own figures. Surface axes are named after the paper's directions,
:math:`\\theta + \\alpha d_1 + \\beta d_2`. Figures made with quick settings carry
:data:`QUICK_STAMP` (:func:`stamp_quick`), so a smoke-test figure is never taken for a result.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

__all__ = [
    "METHOD_ORDER",
    "METHOD_COLORS",
    "REGION_ORDER",
    "REGION_COLORS",
    "DIRECTION_LABELS",
    "QUICK_STAMP",
    "method_key",
    "method_color",
    "method_order",
    "region_color",
    "stamp_quick",
    "seeds_note",
    "legend_inside",
]

#: The methods in the order of the paper's tables (baselines first, BSAM last).
METHOD_ORDER: tuple[str, ...] = (
    "vanilla",
    "sqinv",
    "lds",
    "sam",
    "imbsam",
    "bsam",
    "bsam-vanilla-descent",
    "bsam-inv",
)
#: One colour per method of :data:`METHOD_ORDER` (colour-blind-safe Okabe-Ito hues).
METHOD_COLORS: dict[str, str] = {
    "vanilla": "#7f7f7f",
    "sqinv": "#0072b2",
    "lds": "#56b4e9",
    "sam": "#009e73",
    "imbsam": "#cc79a7",
    "bsam": "#d55e00",
    "bsam-vanilla-descent": "#e69f00",
    "bsam-inv": "#8c2d04",
}
_FALLBACK = ("#332288", "#117733", "#44aa99", "#999933", "#882255", "#aa4499", "#661100")

#: The shot regions in reading order, and their colours in every figure.
REGION_ORDER: tuple[str, ...] = ("all", "many", "medium", "few")
REGION_COLORS: dict[str, str] = {
    "all": "black",
    "many": "tab:blue",
    "medium": "tab:orange",
    "few": "tab:red",
}

#: Axis names of a surface's two directions: :math:`\theta + \alpha d_1 + \beta d_2`.
DIRECTION_LABELS: tuple[str, str] = ("α (direction 1)", "β (direction 2)")

#: The text stamped on every figure made with quick settings.
QUICK_STAMP = "quick settings: not a result"


def method_key(name: str) -> str:
    """The key of :data:`METHOD_ORDER` that ``name`` spells, or ``name`` lower-cased.

    Display labels map back to their key: ``"SQINV + BSAM"`` and ``"BSAM"`` are ``"bsam"``,
    ``"SQINV"`` is ``"sqinv"``.
    """
    key = name.strip().lower()
    if key.startswith("sqinv + ") and key[len("sqinv + ") :] in METHOD_COLORS:
        key = key[len("sqinv + ") :]
    return key


def method_color(name: str) -> str:
    """The colour of method ``name`` (a key or a display label) in every figure.

    A method outside :data:`METHOD_COLORS` gets a colour of a second palette chosen by a CRC-32
    of its key, so it too keeps one colour across figures and runs.
    """
    key = method_key(name)
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    return _FALLBACK[zlib.crc32(key.encode()) % len(_FALLBACK)]


def method_order(names: Iterable[str]) -> list[str]:
    """``names`` without repeats, sorted by :data:`METHOD_ORDER`; unknown names last, as given."""
    unique = list(dict.fromkeys(names))
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(unique, key=lambda n: (rank.get(method_key(n), len(rank)), unique.index(n)))


def region_color(name: str) -> str:
    """The colour of shot region ``name`` (grey for a region outside :data:`REGION_COLORS`)."""
    return REGION_COLORS.get(name, "tab:gray")


def stamp_quick(fig: Figure | SubFigure, quick: bool = True) -> None:
    """Write :data:`QUICK_STAMP` across ``fig`` when ``quick``; nothing otherwise.

    The stamp is a large, half-transparent red text over the middle of the figure, so it shows
    in every saved copy and cannot be cropped off with a margin.
    """
    if quick:
        fig.text(
            0.5,
            0.5,
            QUICK_STAMP,
            ha="center",
            va="center",
            rotation=15,
            fontsize=18,
            color="tab:red",
            alpha=0.45,
            fontweight="bold",
            zorder=10,
        )


def seeds_note(counts: Sequence[int | None]) -> str:
    """What an error bar over seeds is, for a legend: ``"error bar: mean ± std over 3 seeds"``.

    ``counts`` are the numbers of seeds of the bars (``None``: more than one, number unknown);
    bars of one seed carry no error bar and are marked ``n = 1`` (the note says so).
    """
    many = sorted({int(c) for c in counts if c is not None and c > 1})
    if many:
        spread = f"{many[0]}" if len(many) == 1 else f"{many[0]}–{many[-1]}"
        note = f"error bar: mean ± std over {spread} seeds"
    elif any(c is None for c in counts):
        note = "error bar: mean ± std over seeds"
    else:
        return "one seed per bar (n = 1): no error bar"
    return note + ("; n = 1: no error bar" if 1 in counts else "")


def legend_inside(ax: Axes, *, title: str | None = None, **kwargs) -> None:
    """A legend inside ``ax`` (matplotlib's best spot), never over a neighbouring subplot."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc=kwargs.pop("loc", "best"),
            fontsize=kwargs.pop("fontsize", "small"),
            title=title,
            title_fontsize="small",
            framealpha=0.8,
            **kwargs,
        )
