"""Benchmark: start-up time of the ``bsam`` command line (``bsam --help`` and each subcommand's).

Each measurement runs the virtual environment's ``bsam`` executable (beside ``sys.executable``)
in a fresh subprocess, as a user would, and times it from spawn to exit: ``bsam --help``
``--runs`` times, and ``bsam <cmd> --help`` for every subcommand of :data:`bsam.cli.SUBCOMMANDS`
``--cmd-runs`` times; ``python -c pass`` gives the interpreter's own start-up for scale. Times
are medians. Prints and writes (``--json OUT``) ``{"help_s", "help_runs_s", "commands_s",
"python_startup_s", "target_s", "load_average", "executable"}``; ``load_average`` is the 1, 5
and 15 minute load when the benchmark started (a busy machine inflates every figure).
Target: ``help_s <= 0.5``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bsam._io import write_json
from bsam.cli import SUBCOMMANDS

__all__ = ["main", "time_command"]

TARGET_S = 0.5


def time_command(argv: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh runs of ``argv`` (output discarded; must exit 0).

    Raises
    ------
    RuntimeError
        When a run exits with a non-zero status (its stderr is in the message).
    """
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return times


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; return (and print) the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the result here")
    parser.add_argument("--runs", type=int, default=11, help="runs of `bsam --help` (default 11)")
    parser.add_argument("--cmd-runs", type=int, default=5, help="runs per subcommand (default 5)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.cmd_runs < 1:
        parser.error(f"Invalid --runs {args.runs} / --cmd-runs {args.cmd_runs}: both must be >= 1")
    exe = Path(sys.executable).parent / "bsam"
    if not exe.is_file():
        parser.error(f"No bsam executable at {exe}; install the project: pip install -e .")
    load = os.getloadavg()
    time_command([str(exe), "--help"], 1)  # warm the file cache
    help_runs = time_command([str(exe), "--help"], args.runs)
    result = {
        "help_s": statistics.median(help_runs),
        "help_runs_s": help_runs,
        "commands_s": {
            cmd: statistics.median(time_command([str(exe), cmd, "--help"], args.cmd_runs))
            for cmd in SUBCOMMANDS
        },
        "python_startup_s": statistics.median(
            time_command([sys.executable, "-c", "pass"], args.cmd_runs)
        ),
        "target_s": TARGET_S,
        "load_average": list(load),
        "executable": str(exe),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
