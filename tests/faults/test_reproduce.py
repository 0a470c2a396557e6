"""Fault catalogue: ``bsam reproduce`` refuses a wrong input before any work, and never runs
twice into one folder."""

from __future__ import annotations

import os

import pytest

from analyses.reproduce import ReproduceConfig, reproduce
from analyses.reproduce.lock import LOCK_NAME, output_lock
from bsam.errors import OutputLockedError
from tests.faults._harness import Snapshot, assert_user_error, run_cli
from tests.faults.test_cli import read_only  # noqa: F401  (a fixture)


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--seeds", ","], r"argument --seeds: invalid seed list ','"),
        (["--seeds", ""], r"argument --seeds: invalid seed list ''"),
        (["--seeds", "0,0"], r"seeds must be distinct and >= 0"),
        (["--seeds", "0,-1"], r"seeds must be distinct and >= 0"),
        (["--seeds", "one"], r"invalid seed list 'one'"),
        (["--methods", ","], r"argument --methods: expected a comma-separated list"),
        (["--methods", "bsam,sma"], r"Unknown method\(s\) \['sma'\]; choose from"),
        (["--stages", "train,plots"], r"Unknown stage\(s\) \['plots'\]"),
        (["--epochs", "0"], r"Invalid --epochs 0"),
        (["--data", "agedb-dir"], r"--data agedb-dir needs --root PATH"),
        (["--ablation", "lr"], r"invalid choice: 'lr'"),
    ],
    ids=["seeds-comma", "seeds-empty", "seeds-repeated", "seeds-negative", "seeds-word",
         "methods-comma", "methods-typo", "stages-typo", "epochs-0", "dir-data-without-root",
         "ablation-unknown"],
)
def test_bad_flags_do_no_work(tmp_path, capsys, flags, match) -> None:
    out = tmp_path / "out"
    assert_user_error(run_cli(capsys, "reproduce", "--quick", "--quiet", *flags, "--out", out), match)
    assert not out.exists() or not any(p.name != LOCK_NAME for p in out.iterdir())


def test_out_is_an_existing_file(tmp_path, capsys) -> None:
    out = tmp_path / "report.md"
    out.write_text("an older report\n")
    kept = Snapshot(tmp_path)
    result = run_cli(capsys, "reproduce", "--quick", "--quiet", "--out", out)
    assert_user_error(result, r"report\.md is an existing file; give --out a folder path")
    kept.unchanged()


def test_read_only_out(capsys, read_only) -> None:  # noqa: F811
    result = run_cli(capsys, "reproduce", "--quick", "--quiet", "--out", read_only / "out")
    assert_user_error(result, r"(Permission denied|Operation not permitted): .*read-only")


def test_second_run_into_the_same_folder_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "a-finished-run.txt").write_text("kept\n")
    with output_lock(out):  # the first run, still going
        kept = Snapshot(out)
        result = run_cli(capsys, "reproduce", "--quick", "--quiet", "--out", out)
        assert_user_error(result, rf"in use by another bsam reproduce \(pid {os.getpid()}\)")
        kept.unchanged()
    with output_lock(out):  # released when the first run ends: the folder can be used again
        pass


def test_lock_is_released_when_the_run_crashes(tmp_path) -> None:
    cfg = ReproduceConfig.quick_config(out=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="Unknown stage"):
        reproduce(cfg, stages=("train", "bogus"))
    with pytest.raises(KeyError):
        with output_lock(cfg.out_dir):
            raise KeyError("a crash inside the locked block")
    with output_lock(cfg.out_dir) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(OutputLockedError, match=r"pid \d+"):
            with output_lock(cfg.out_dir):
                pass
