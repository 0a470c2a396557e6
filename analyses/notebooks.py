"""Shared set-up of the script-notebooks in ``figures/``: parameters, stages, inline display.

Each file in ``figures/`` is a jupytext percent-format script that runs two ways:

* as a script, ``python figures/table8.py [--quick] [--out DIR]``: tables are printed, figures
  written as PNG+PDF under ``<out>/figures``, tables as Markdown/CSV/LaTeX under ``<out>/tables``;
* as a notebook (opened with jupytext, or executed by papermill/nbclient): its parameters cell
  (``# %% tags=["parameters"]``) sets ``quick``, ``out`` and ``overrides``; the kernel's own
  command-line arguments are ignored; tables are shown as Markdown and the cell's last
  expression is a matplotlib :class:`~matplotlib.figure.Figure`, so it appears inline.

How the settings are chosen, first match wins:

======================  ==================================  ================================
setting                 notebook parameter                  otherwise
======================  ==================================  ================================
quick mode              ``quick=True``                      ``--quick`` (script), ``BSAM_QUICK=1``
output folder           ``out="DIR"``                       ``--out DIR`` (script), ``BSAM_OUT``,
                                                            the configuration's default
======================  ==================================  ================================

A relative ``out`` from a parameter, ``BSAM_OUT`` or the default is taken relative to the
repository root (the folder holding ``figures/``), never to the notebook's folder; a relative
``--out`` on the command line is relative to the shell's working directory, as for any command.
Every script runs the stages it needs through :func:`analyses.reproduce.reproduce`, which skips
what ``bsam reproduce`` (or another script) already computed with the same settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from analyses.reproduce import ReproduceConfig, ReproduceResult
    from analyses.reproduce.report import Section

__all__ = [
    "QUICK_ENV",
    "OUT_ENV",
    "repository_root",
    "in_notebook",
    "config",
    "run",
    "build",
    "show",
    "show_table",
    "image_figure",
]

#: Environment variable that turns on quick mode (``1``, ``true``, ``yes``, ``on``).
QUICK_ENV = "BSAM_QUICK"
#: Environment variable naming the output folder.
OUT_ENV = "BSAM_OUT"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def repository_root() -> Path:
    """The repository root: the folder above ``analyses/`` when it holds ``figures/``.

    Returns
    -------
    Path
        That folder for a source checkout (also an editable install); the current working
        directory for an installed wheel, which has no ``figures/``.
    """
    root = Path(__file__).resolve().parents[1]
    return root if (root / "figures").is_dir() else Path.cwd()


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (ipykernel), where ``sys.argv`` is the kernel's.

    Returns
    -------
    bool
        True under ipykernel (Jupyter, nbclient, papermill), False under ``python`` and IPython's
        terminal shell.
    """
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _env_quick() -> bool:
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(
            f"Invalid {QUICK_ENV}={os.environ[QUICK_ENV]!r}; set it to 1 (quick mode) or 0."
        )
    return value in _TRUE


def _command_line() -> argparse.Namespace:
    """``--quick`` / ``--out`` of a script run; nothing under a kernel (its argv is its own)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    argv = [] if in_notebook() else sys.argv[1:]
    return parser.parse_known_args(argv)[0]


def _under_root(path: str | os.PathLike) -> str:
    path = Path(path).expanduser()
    return str(path if path.is_absolute() else repository_root() / path)


def config(
    quick: bool | None = None,
    out: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    **more: Any,
) -> ReproduceConfig:
    """The reproduction's configuration of a script-notebook.

    Parameters
    ----------
    quick : bool, optional
        Quick settings (:meth:`ReproduceConfig.quick_config`); ``None``: ``--quick`` on the
        command line of a script run, else the ``BSAM_QUICK`` environment variable.
    out : str or path, optional
        Output folder; ``None``: ``--out`` of a script run, else ``BSAM_OUT``, else the
        configuration's default. Relative folders (other than ``--out``) are taken under
        :func:`repository_root`.
    overrides : mapping, optional
        Fields of :class:`~analyses.reproduce.ReproduceConfig` to set (``{"seeds": (0,)}``).
    **more
        More fields, as keywords (merged over ``overrides``).

    Returns
    -------
    ReproduceConfig
        ``quick_config(**fields)`` in quick mode, else ``ReproduceConfig(**fields)``.
    """
    from analyses.reproduce import ReproduceConfig

    fields = {**dict(overrides or {}), **more}
    args = _command_line()
    if quick is None:
        quick = bool(args.quick) or _env_quick()
    if out is not None:
        fields["out"] = _under_root(out)
    elif args.out:
        fields["out"] = args.out
    elif os.environ.get(OUT_ENV):
        fields["out"] = _under_root(os.environ[OUT_ENV])
    elif "out" in fields:
        fields["out"] = _under_root(fields["out"])
    cfg = ReproduceConfig.quick_config(**fields) if quick else ReproduceConfig(**fields)
    return cfg if "out" in fields else cfg.replace(out=_under_root(cfg.out))


def run(cfg: ReproduceConfig, stages: tuple[str, ...]) -> ReproduceResult:
    """Run (or load from the cache) the stages up to the last one named; no report is written.

    Returns
    -------
    ReproduceResult
        The runs, surfaces and curvature files of ``cfg``'s reproduction.
    """
    from analyses.reproduce import reproduce

    return reproduce(cfg, quiet=True, stages=tuple(s for s in stages if s != "report"))


def show_table(markdown: str) -> None:
    """Show a Markdown table: rendered (``IPython.display.Markdown``) in a notebook, else printed."""
    if in_notebook():
        from IPython.display import Markdown, display

        display(Markdown(markdown))
    else:
        print(markdown, end="\n\n")


def image_figure(path: str | os.PathLike, *, dpi: int = 100) -> Figure:
    """A matplotlib Figure showing a saved PNG pixel for pixel (no pyplot global state).

    Parameters
    ----------
    path : str or path
        The PNG file (as written by :func:`analyses.plotting.save_figure`).
    dpi : int
        Dots per inch of the returned figure; its size is the image's size in pixels / ``dpi``.

    Returns
    -------
    Figure
        A figure whose one image fills the canvas; a notebook shows it inline as ``image/png``.
    """
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    pixels = imread(os.fspath(path))
    height, width = pixels.shape[:2]
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    fig.figimage(pixels, resize=False)
    return fig


def show(section: Section, cfg: ReproduceConfig) -> Figure | None:
    """The figures of a report section for a notebook cell.

    In a notebook every image but the first is displayed here and the first is returned, so the
    cell's last expression ``show(section, cfg)`` puts it inline; outside a notebook nothing is
    displayed and the first image's Figure is returned too.

    Returns
    -------
    Figure or None
        The section's first image (:func:`image_figure`), or None when it has none.
    """
    paths = [cfg.out_dir / image for image in section.images]
    if not paths:
        return None
    if in_notebook():
        from IPython.display import Image, display

        for path in paths[1:]:
            display(Image(filename=str(path)))
    return image_figure(paths[0])


def build(
    builder: str,
    stages: tuple[str, ...],
    *,
    quick: bool | None = None,
    out: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    **more: Any,
) -> tuple[ReproduceConfig, ReproduceResult, Section]:
    """Run ``stages`` and the artefact builder named ``builder``; show its tables and figure paths.

    Parameters
    ----------
    builder : str
        A function of :mod:`analyses.reproduce.artefacts` (``"table8_section"``, ``"figure1"``, ...).
    stages : tuple of str
        The reproduction's stages it needs (``("train", "hessian")``).
    quick, out, overrides, **more
        As for :func:`config`.

    Returns
    -------
    (config, result, section)
        For further editing in a notebook; tables are shown (Markdown in a notebook, printed
        otherwise) and the written figures' paths printed.

    Raises
    ------
    SystemExit
        When the stages produced no input for the builder.
    """
    from analyses.reproduce import artefacts

    cfg = config(quick, out, overrides, **more)
    result = run(cfg, stages)
    section = getattr(artefacts, builder)(result)
    if section is None:
        raise SystemExit(f"{builder}: nothing to show; the stages {stages} produced no input for it.")
    for table in section.tables:
        show_table(table)
    for image in section.images:
        print(cfg.out_dir / image)
    return cfg, result, section
