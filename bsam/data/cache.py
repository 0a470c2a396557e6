"""Content-addressed cache of generated data sets.

A cached file is named by a key that hashes everything that made it (generator version,
parameters, seed); the key is also stored inside the file and checked on load, so a file made
differently is never reused (it is regenerated instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bsam._io import atomic_path

__all__ = ["default_cache_dir", "cache_key", "save_arrays", "load_arrays"]


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$BSAM_CACHE``, else ``~/.cache/bsam``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("BSAM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "bsam"


def cache_key(spec: dict[str, Any]) -> str:
    """SHA-256 (hex, first 20 characters) of the canonical JSON of ``spec``."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_arrays(path: str | os.PathLike, key: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and ``key`` to an uncompressed ``.npz`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, __key__=np.array(key), **arrays)
        os.chmod(tmp, 0o644)  # readable like any cache file (mkstemp makes it private)
    return path


def load_arrays(path: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """Load the arrays saved by :func:`save_arrays`, or ``None`` when the file is missing,
    unreadable (truncated, corrupt), or was made with a different ``key``.

    An existing file that cannot be used gives a ``UserWarning`` naming it, so the caller's
    regeneration (which replaces it atomically) is never silent.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__key__" not in data.files or str(data["__key__"]) != key:
                reason = "it was made with other settings"
                arrays = None
            else:
                arrays = {name: data[name] for name in data.files if name != "__key__"}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason, arrays = f"it is truncated or corrupt ({type(err).__name__}: {err})", None
    if arrays is None:
        warnings.warn(
            f"Ignoring the data cache file {path}: {reason}; it is regenerated",
            UserWarning,
            stacklevel=2,
        )
    return arrays
