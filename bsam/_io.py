"""Atomic file writing and output checks: a crash never leaves a half-written result.

Files are written to a temporary name beside the target and renamed onto it. A new file gets the
mode ``0o666`` minus the process umask (as ``open(path, "w")`` gives it); a replaced file keeps
its mode. :func:`check_output_file` and :func:`check_output_dir` refuse a bad output path before
any work is done.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "write_json",
    "read_json",
    "file_mode",
    "check_output_file",
    "check_output_dir",
]


def _umask() -> int:
    # The only portable way to read the umask is to set it and put it back.
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode(path: str | os.PathLike) -> int:
    """Permission bits a write to ``path`` should leave: the existing file's, else 0o666 & ~umask.

    Returns
    -------
    int
        ``stat.S_IMODE`` of the existing file, or ``0o666 & ~umask`` for a new one.
    """
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file is removed when the block raises, so ``path`` holds either its old content
    or the complete new one. The result has the mode of :func:`file_mode` (``mkstemp`` alone
    would leave 0o600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_writable(target: Path, folder: Path, flag: str) -> None:
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ValueError(
            f"Invalid {flag} {target}: {base} is a file, not a folder; choose another {flag}."
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise ValueError(
            f"Invalid {flag} {target}: the folder {base} is not writable; choose another {flag}."
        )


def check_output_file(path: str | os.PathLike, *, flag: str = "--out") -> Path:
    """Check that ``path`` can be written as a file; raise ``ValueError`` naming ``flag`` if not.

    Refused: an existing folder, a path below a file, a folder that is not writable. Whether an
    existing file may be replaced is the caller's decision.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Invalid {flag} {path}: it is a folder; give a file path.")
    _check_writable(path, path.parent, flag)
    return path


def check_output_dir(
    folder: str | os.PathLike,
    files: Iterable[str | os.PathLike] = (),
    *,
    overwrite: bool = False,
    flag: str = "--out",
) -> Path:
    """Check that figures can be written into ``folder`` without replacing ``files`` by surprise.

    Refused (``ValueError``): ``folder`` is an existing file, lies below a file or in a folder
    that is not writable; ``FileExistsError``: one of ``files`` exists and ``overwrite`` is false.

    Returns
    -------
    Path
        ``folder`` as a :class:`~pathlib.Path`.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"Invalid {flag} {folder}: it is a file; give a folder for the figures.")
    _check_writable(folder, folder, flag)
    if not overwrite:
        existing = [Path(f) for f in files if Path(f).exists()]
        if existing:
            raise FileExistsError(
                f"{existing[0]} exists ({len(existing)} of the files to write do); pass "
                f"--overwrite to replace them, or choose another {flag}."
            )
    return folder


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN is written as ``NaN``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_default, sort_keys=False) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSON file not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"Malformed JSON in {path}: {err}") from err
