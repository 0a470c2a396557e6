"""Fault catalogue: the CLI's top level and ``bsam evaluate`` (bad checkpoints and outputs).

User errors exit 2 with one line naming the bad value; Ctrl-C exits 130 and says how to resume;
a bug inside the library keeps its traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import bsam.train.evaluate as evaluate_module
from bsam.cli import EXIT_INTERRUPTED, main
from bsam.errors import DataError
from tests.bsam._tiny_data import FEW, MANY, NAME
from tests.faults._harness import Snapshot, assert_user_error, run_cli

TINY = ["--data", NAME, "--model", "mlp", "--model-kwargs", '{"in_features": 6, "hidden": [8]}',
        "--batch-size", "32", "--many", str(MANY), "--few", str(FEW), "--device", "cpu", "--quiet"]


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write, root included (``chattr +i`` as root, mode 555 otherwise)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    root = os.geteuid() == 0
    if root and (not shutil.which("chattr") or subprocess.run(["chattr", "+i", folder]).returncode):
        pytest.skip("cannot make a folder read-only for root here (chattr +i failed)")
    yield folder
    if root:
        subprocess.run(["chattr", "-i", folder], check=True)
    folder.chmod(0o755)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-epoch tiny run folder."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


def _corrupt(kind: str, best: bytes):
    return {"empty": b"", "truncated": best[: len(best) // 2], "text": b"epoch,mae\n1,2.0\n"}[kind]


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("empty", r"Cannot read checkpoint .*: empty file \(0 bytes\)"),
        ("truncated", r"Cannot read checkpoint .*: truncated or corrupt"),
        ("text", r"Cannot read checkpoint .*: not a checkpoint"),
    ],
    ids=["evaluate-0-byte-checkpoint", "evaluate-truncated-checkpoint", "evaluate-csv-as-ckpt"],
)
def test_unreadable_checkpoint_says_why(tmp_path, capsys, trained, kind, match) -> None:
    ckpt = tmp_path / "bad.pt"
    ckpt.write_bytes(_corrupt(kind, (trained / "best.pt").read_bytes()))
    kept = Snapshot(tmp_path, trained)
    assert_user_error(run_cli(capsys, "evaluate", ckpt), match)
    kept.unchanged()


@pytest.mark.parametrize(
    ("target", "extra", "match"),
    [
        ("folder", [], r"is a folder; give a checkpoint file such as .*best\.pt"),
        ("missing", [], r"Checkpoint not found: .*missing\.pt"),
        ("best", ["--json", "{out}"], r"Is a directory: .*; give a file path"),
        ("best", ["--split", "holdout"], r"invalid choice: 'holdout'"),
        ("best", ["--batch-size", "ten"], r"invalid int value: 'ten'"),
    ],
    ids=["evaluate-run-folder", "evaluate-missing", "evaluate-json-is-folder",
         "evaluate-unknown-split", "evaluate-batch-size-not-int"],
)
def test_evaluate_bad_arguments(tmp_path, capsys, trained, target, extra, match) -> None:
    path = {"folder": trained, "missing": tmp_path / "missing.pt", "best": trained / "best.pt"}
    kept = Snapshot(trained)
    argv = [a.format(out=tmp_path) for a in extra]
    assert_user_error(run_cli(capsys, "evaluate", path[target], *argv), match)
    kept.unchanged()


def test_evaluate_json_into_read_only_folder(capsys, trained, read_only) -> None:
    result = run_cli(capsys, "evaluate", trained / "best.pt", "--json", read_only / "e.json")
    assert_user_error(result, r"(Permission denied|Operation not permitted): .*read-only")
    assert not any(read_only.iterdir())


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:3"], ids=["evaluate-cuda", "evaluate-cuda-3"])
def test_cuda_without_cuda(capsys, trained, device) -> None:
    result = run_cli(capsys, "evaluate", trained / "best.pt", "--device", device)
    assert_user_error(result, r"no CUDA device is available; use --device cpu or --device auto")


def _raise(err: BaseException):
    def fake(*args, **kwargs):
        raise err

    return fake


def test_ctrl_c_exits_130_and_says_how_to_resume(capsys, monkeypatch, trained) -> None:
    monkeypatch.setattr(evaluate_module, "evaluate_checkpoint", _raise(KeyboardInterrupt()))
    result = run_cli(capsys, "evaluate", trained / "best.pt")
    assert result.code == EXIT_INTERRUPTED and "Traceback" not in result.err
    assert "bsam evaluate: interrupted; rerun the same command to resume" in result.err


def test_worker_traceback_text_is_cut_to_one_line(capsys, monkeypatch, trained) -> None:
    wrapped = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most "
               "recent call last):\n  File \"x.py\", line 1\nDataError: Cannot read image a.jpg")
    monkeypatch.setattr(evaluate_module, "evaluate_checkpoint", _raise(DataError(wrapped)))
    assert_user_error(run_cli(capsys, "evaluate", trained / "best.pt"), r"DataLoader worker")


@pytest.mark.parametrize(
    "bug", [IndexError("index 3 is out of bounds"), AssertionError("shapes differ"),
            KeyError("model_state")],
    ids=["bug-IndexError", "bug-AssertionError", "bug-KeyError"],
)
def test_a_library_bug_keeps_its_traceback(monkeypatch, trained, bug) -> None:
    monkeypatch.setattr(evaluate_module, "evaluate_checkpoint", _raise(bug))
    with pytest.raises(type(bug)):
        main(["evaluate", str(trained / "best.pt")])


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["evalute"], r"invalid choice: 'evalute'"), (["train"], r"--out")],
    ids=["cli-unknown-subcommand", "cli-train-without-out"],
)
def test_usage_errors(capsys, argv, match) -> None:
    assert_user_error(run_cli(capsys, *argv), match)
