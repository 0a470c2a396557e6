"""The run-folder protocol: which files a run writes, and refusing a folder of another run.

A run folder holds::

    config.json   the resolved TrainConfig (a rerun with another config is refused)
    last.pt       checkpoint after the last finished epoch (weights, optimizer, RNG states, log)
    best.pt       checkpoint of the epoch with the lowest validation MAE (or bMAE)
    log.csv       one row per epoch (:data:`bsam.train.log.LOG_COLUMNS`)
    metrics.json  per-region reports on val and test of the best and of the final weights

Every file is written atomically after each epoch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from bsam._io import read_json
from bsam.errors import UserError
from bsam.train.config import TrainConfig

__all__ = ["ConfigMismatchError", "RunPaths", "RUN_FILES", "check_run_folder", "METRICS_FORMAT"]

#: Value of the ``"format"`` key of ``metrics.json``.
METRICS_FORMAT = "bsam-metrics/1"


class ConfigMismatchError(UserError, ValueError):
    """The run folder holds a run with another configuration."""


#: The files of a run folder, in the order of :class:`RunPaths`' fields after ``root``.
RUN_FILES: tuple[str, ...] = ("config.json", "last.pt", "best.pt", "log.csv", "metrics.json")


@dataclass(frozen=True)
class RunPaths:
    """The files of run folder ``root`` (module docstring); build with :meth:`of`."""

    root: Path
    config: Path
    last: Path
    best: Path
    log: Path
    metrics: Path

    @classmethod
    def of(cls, root: str | Path) -> RunPaths:
        """The paths of the run folder ``root``."""
        root = Path(root)
        return cls(root, *(root / name for name in RUN_FILES))

    @property
    def finished(self) -> bool:
        """Whether the run is complete (``metrics.json`` and ``last.pt`` exist)."""
        return self.metrics.is_file() and self.last.is_file()


def check_run_folder(out_dir: Path, cfg: TrainConfig) -> None:
    """Raise :class:`ConfigMismatchError` unless ``out_dir`` is new or holds run ``cfg``.

    Only the runtime fields (:data:`bsam.train.config.RUNTIME_FIELDS`) may differ; the message
    lists every other differing field with both values. A folder whose ``config.json`` differs
    but that holds no checkpoint (a run that stopped before its first epoch ended) is accepted
    with a warning: the new run replaces its ``config.json`` and nothing trained is lost.

    Raises
    ------
    NotADirectoryError
        When ``out_dir`` is an existing file.
    ConfigMismatchError
        When the folder holds a checkpoint of another configuration.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(
            f"Run folder {out_dir} is an existing file; give --out a folder path (it is created)"
        )
    paths = RunPaths.of(out_dir)
    if not paths.config.is_file():
        if paths.last.exists():
            raise ConfigMismatchError(
                f"Run folder {out_dir} holds a last.pt but no config.json, so it cannot be "
                "checked against the requested configuration; use a new --out folder"
            )
        return
    trained = paths.last.exists() or paths.best.exists()
    try:
        diff = TrainConfig.from_dict(read_json(paths.config)).diff(cfg)
    except (TypeError, ValueError) as err:
        if trained:
            raise ConfigMismatchError(f"Unreadable config {paths.config}: {err}") from err
        diff = {"config.json": ("unreadable", str(err))}
    if diff and not trained:
        warnings.warn(
            f"Run folder {out_dir} holds a config.json of another configuration but no "
            "checkpoint (that run stopped before its first epoch ended); it is replaced",
            UserWarning,
            stacklevel=3,
        )
        return
    if diff:
        listed = ", ".join(
            f"{k}: {a!r} in the folder vs {b!r} requested" for k, (a, b) in diff.items()
        )
        raise ConfigMismatchError(
            f"Run folder {out_dir} holds a run with a different configuration ({listed}); "
            "use a new --out folder, or delete the folder to start over"
        )
