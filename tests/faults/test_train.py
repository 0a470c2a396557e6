"""Fault catalogue: ``bsam train`` and :func:`bsam.train.train` never lose work or accept a wrong
input (bad flags, bad folders, bad checkpoints, divergence, interruption)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

import bsam.train.loop as loop
from bsam.checkpoint import load_checkpoint
from bsam.cli import EXIT_INTERRUPTED
from bsam.models import MODELS, register_model
from bsam.train import NonFiniteLossError, TrainCallback, train
from tests.bsam._tiny_data import tiny_config
from tests.faults._harness import Snapshot, assert_user_error, run_cli
from tests.faults.test_cli import TINY, read_only  # noqa: F401  (a fixture)

if "tiny-bn" not in MODELS:

    @register_model("tiny-bn")
    def _tiny_bn(in_features: int = 6) -> nn.Module:
        return nn.Sequential(nn.Linear(in_features, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))


def _train(capsys, out, *flags: str):
    return run_cli(capsys, "train", *TINY, "--epochs", "2", *flags, "--out", out)


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--model-kwargs", '{"in_features": 6, "hiden": [8]}'],
         r"Unknown option\(s\) \['hiden'\] for model 'mlp'.*accepted keys: \['hidden', 'in_features'"),
        (["--model", "resnet99"], r"Unknown model 'resnet99'"),
        (["--data-kwargs", "{not json"], r"invalid --data-kwargs .*not JSON"),
        (["--data-kwargs", "[1]"], r"give a JSON object"),
        (["--epochs", "0"], r"Invalid epochs value: 0; epochs must be a positive integer"),
        (["--threads", "0"], r"Invalid --threads 0: must be >= 1"),
        (["--lr", "nan"], r"Invalid lr value: nan; lr must be > 0"),
        (["--data", "agedb-dir"], r"needs root="),
        (["--device", "tpu"], r"Invalid device 'tpu'"),
    ],
    ids=["model-kwargs-typo", "unknown-model", "data-kwargs-not-json", "data-kwargs-list",
         "zero-epochs", "zero-threads", "lr-nan", "dir-data-without-root", "unknown-device"],
)
def test_bad_flags_write_nothing(tmp_path, capsys, flags, match) -> None:
    out = tmp_path / "run"
    assert_user_error(_train(capsys, out, *flags), match)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(tmp_path, capsys) -> None:
    result = _train(capsys, tmp_path / "run", "--device", "cuda")
    assert_user_error(result, r"no CUDA device is available; use --device cpu or --device auto")
    assert not (tmp_path / "run").exists()


def test_out_is_an_existing_file(tmp_path, capsys) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    kept = Snapshot(tmp_path)
    assert_user_error(_train(capsys, out), r"notes\.txt is an existing file; give --out a folder")
    kept.unchanged()


def test_read_only_out(capsys, read_only) -> None:  # noqa: F811
    result = _train(capsys, read_only / "run")
    assert_user_error(result, r"(Permission denied|Operation not permitted): .*read-only.*--out")


@pytest.fixture
def finished(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(capsys, out).code == 0
    return out


def test_other_config_keeps_the_finished_run(capsys, finished) -> None:
    kept = Snapshot(finished)
    assert_user_error(_train(capsys, finished, "--lr", "0.1"), r"lr: 0\.05 in the folder vs 0\.1")
    kept.unchanged()


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda p: p.write_bytes(b""), r"Cannot read checkpoint .*last\.pt: empty file"),
        (lambda p: p.write_bytes(p.read_bytes()[:999]), r"last\.pt: truncated or corrupt"),
    ],
    ids=["resume-from-0-byte-last", "resume-from-truncated-last"],
)
def test_damaged_last_checkpoint_is_named(capsys, finished, damage, match) -> None:
    (finished / "metrics.json").unlink()  # an unfinished run: the rerun resumes from last.pt
    damage(finished / "last.pt")
    kept = Snapshot(finished)
    assert_user_error(_train(capsys, finished), match)
    kept.unchanged()


def test_last_checkpoint_of_another_architecture(tmp_path, capsys, finished) -> None:
    other = tmp_path / "wide"
    wide = '{"in_features": 6, "hidden": [16]}'
    assert _train(capsys, other, "--model-kwargs", wide).code == 0
    (other / "metrics.json").unlink()
    shutil.copy(finished / "last.pt", other / "last.pt")
    kept = Snapshot(other)
    result = _train(capsys, other, "--model-kwargs", wide)
    assert_user_error(result, r"holds the weights of mlp \{.*'hidden': \[8\]\}, which do not fit "
                              r"the requested mlp \{.*'hidden': \[16\]\}")
    kept.unchanged()


def test_failed_first_epoch_does_not_block_the_corrected_rerun(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    diverging = _train(capsys, out, "--descent-loss", "mse", "--lr", "1e30", "--schedule", "none")
    assert diverging.code == 1 and "no checkpoint was written" in diverging.err
    assert not (out / "last.pt").exists()
    with pytest.warns(UserWarning, match="holds a config.json of another configuration but no"):
        assert _train(capsys, out, "--descent-loss", "mse").code == 0
    assert json.loads((out / "config.json").read_text())["lr"] == 0.05
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


class _OverflowRunningVar(TrainCallback):
    """After epoch 1, keep the folder's bytes and overflow a BatchNorm running variance (what a
    diverging lr does while the batch loss, computed with batch statistics, stays finite)."""

    def __init__(self, folder) -> None:
        self.folder, self.kept = folder, None

    def on_epoch_end(self, epoch, row, model) -> None:
        if epoch == 1:
            self.kept = Snapshot(self.folder)
            model[1].running_var.fill_(float("inf"))


def test_nonfinite_buffer_is_never_saved(tmp_path) -> None:
    cfg = tiny_config(model="tiny-bn", model_kwargs={"in_features": 6}, epochs=3)
    poison = _OverflowRunningVar(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"\(1\.running_var\) after epoch 2.*last\.pt \(epoch 1\)"):
        train(cfg, out_dir=tmp_path, quiet=True, callbacks=[poison])
    poison.kept.unchanged()
    state = load_checkpoint(tmp_path / "last.pt")["model_state"]
    assert all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


def test_ctrl_c_then_rerun_resumes(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "run"
    real = loop._Trainer._train_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        real(self, epoch)

    monkeypatch.setattr(loop._Trainer, "_train_epoch", interrupted)
    result = _train(capsys, out)
    assert result.code == EXIT_INTERRUPTED and "rerun the same command to resume" in result.err
    epoch_one = Snapshot(out / "best.pt")
    monkeypatch.setattr(loop._Trainer, "_train_epoch", real)
    assert _train(capsys, out).code == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    if load_checkpoint(out / "best.pt")["epoch"] == 1:
        epoch_one.unchanged()
