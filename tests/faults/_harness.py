"""Shared helpers of the fault catalogue: run a CLI command, check nothing was lost.

Every case of the catalogue asserts three things: the exit status, the one-line message
(``match``), and that the files the user already had are unchanged (``Snapshot``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from bsam.cli import main


@dataclass(frozen=True)
class CliResult:
    """Exit status and captured streams of one in-process ``bsam`` call."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """Run ``bsam *argv`` in this process; argparse's ``SystemExit`` becomes the exit status."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors exit 2
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(int(code), captured.out, captured.err)


def assert_user_error(result: CliResult, match: str) -> None:
    """A user error: exit status 2, no traceback, and ``match`` found in a single stderr line."""
    assert result.code == 2, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err, result.err[-2000:]
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert any(re.search(match, line) for line in lines), result.err[-2000:]


class Snapshot:
    """Content hashes of every file under some paths; ``unchanged()`` asserts none changed."""

    def __init__(self, *paths: Path) -> None:
        self.paths = [Path(p) for p in paths]
        self.before = self._hashes()

    def _hashes(self) -> dict[Path, str]:
        found: dict[Path, str] = {}
        for root in self.paths:
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for f in files:
                found[f] = hashlib.sha256(f.read_bytes()).hexdigest()
        return found

    def unchanged(self) -> None:
        """Assert that every file still exists with the same bytes, and no file was added."""
        assert self._hashes() == self.before
