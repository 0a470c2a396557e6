"""The errors that are the user's, not the library's: the CLI prints them as one line, exit 2.

This module imports nothing but the standard library (the CLI imports it at ``--help`` time).

Hierarchy::

    UserError                       anything the user can fix (a flag, a file, a folder)
    ├── CheckpointError(ValueError) a checkpoint that cannot be read or does not fit
    ├── DataError(ValueError)       a data set on disk with a bad file or value
    └── OutputLockedError(RuntimeError)  another process is writing the same output folder

:class:`bsam.train.ConfigMismatchError` and :class:`bsam.train.NonFiniteLossError` are
``UserError`` too. :data:`USER_ERRORS` adds the standard exceptions that name a bad input
(``ValueError``, missing/existing/unwritable files); any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

__all__ = [
    "UserError",
    "CheckpointError",
    "DataError",
    "OutputLockedError",
    "USER_ERRORS",
    "one_line",
]


class UserError(Exception):
    """A problem with the user's input or environment, stated in a one-line message."""


class CheckpointError(UserError, ValueError):
    """A checkpoint file that is empty, truncated, of another format or of another model."""


class DataError(UserError, ValueError):
    """A data set file (image, depth map, list) that cannot be read or holds a bad value."""


class OutputLockedError(UserError, RuntimeError):
    """The output folder is held by another running process (an ``fcntl.flock`` lock)."""


#: What ``bsam.cli.main`` reports as ``bsam <cmd>: error: <one line>`` with exit status 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)

_OS_HINTS: dict[type[BaseException], str] = {
    PermissionError: "choose a folder you can write (--out, or BSAM_CACHE for the data cache)",
    IsADirectoryError: "give a file path, not a folder",
    NotADirectoryError: "a part of the path is a file; give a folder path",
}


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line, with a fix for the OS errors that lack one.

    Multi-line messages are joined with spaces; the re-raised traceback text that a
    ``DataLoader`` worker appends (from ``Original Traceback`` on) is dropped.
    """
    text = str(err)
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("Original Traceback"):
            break
        if line.strip():
            lines.append(line.strip())
    message = " ".join(lines) or type(err).__name__
    for kind, hint in _OS_HINTS.items():
        name = getattr(err, "filename2", None) or getattr(err, "filename", None)
        if isinstance(err, kind) and name is not None:  # filename2: the target of a rename
            message = f"{err.strerror}: {name}; {hint}"
            break
    return message
