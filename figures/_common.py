"""Shared set-up of the figure scripts: parse ``--quick``/``--out`` and run the needed stages.

Every script runs the reproduction's stages it needs through :func:`analyses.reproduce.reproduce`,
which skips whatever ``bsam reproduce`` (or another script) already computed with the same
settings, then calls one artefact builder of :mod:`analyses.reproduce.artefacts`.
"""

from __future__ import annotations

import argparse
import sys

from analyses.reproduce import ReproduceConfig, ReproduceResult, reproduce


def config(**overrides) -> ReproduceConfig:
    """The reproduction's configuration from the command line (``--quick``, ``--out DIR``).

    Unknown arguments (a notebook kernel's) are ignored, so the same file runs as a script and
    as a notebook; there it uses the full default configuration.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    if args.out:
        overrides["out"] = args.out
    return ReproduceConfig.quick_config(**overrides) if args.quick else ReproduceConfig(**overrides)


def run(cfg: ReproduceConfig, stages: tuple[str, ...]) -> ReproduceResult:
    """Run (or load from the cache) the stages up to the last one named; no report is written."""
    return reproduce(cfg, quiet=True, stages=tuple(s for s in stages if s != "report"))


def build(builder: str, stages: tuple[str, ...], **overrides):
    """Run ``stages`` and the artefact builder named ``builder``; print its tables and figure paths.

    Returns ``(config, result, section)`` for further editing in a notebook.
    """
    from analyses.reproduce import artefacts

    cfg = config(**overrides)
    result = run(cfg, stages)
    section = getattr(artefacts, builder)(result)
    if section is None:
        raise SystemExit(f"{builder}: nothing to show; the stages {stages} produced no input for it.")
    for table in section.tables:
        print(table, end="\n\n")
    for image in section.images:
        print(cfg.out_dir / image)
    return cfg, result, section
