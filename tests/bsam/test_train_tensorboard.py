"""``TrainConfig.tensorboard`` / ``bsam train --tensorboard``: events equal ``log.csv``, resume
appends without duplicates, a run folder made without it resumes, a missing package is one line."""

from __future__ import annotations

import csv
import dataclasses
import sys

import pytest

from bsam.cli import main
from bsam.train import TrainCallback, TrainConfig, train
from bsam.train import loop as loop_module
from bsam.train.config import _OMITTED_AT
from bsam.train.tensorboard import EPOCH_TAGS, STEP_TAGS, TensorBoardMissingError
from tests.bsam._tiny_data import FEW, MANY, NAME, tiny_config

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

_BATCHES_PER_EPOCH = 9  # 240 training samples, batch 27


def _read_log(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag under ``folder`` as (step, value) pairs, as TensorBoard shows them."""
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _assert_events_equal_log(run) -> None:
    rows = _read_log(run / "log.csv")
    scalars = _scalars(run / "tensorboard")
    assert set(EPOCH_TAGS.values()) <= set(scalars)
    for column, tag in EPOCH_TAGS.items():
        expected = [(int(r["step"]), float(r[column])) for r in rows]
        got = scalars[tag]
        assert [s for s, _ in got] == [s for s, _ in expected], tag  # one event per epoch
        for (_, value), (_, ref) in zip(got, expected):
            assert value == pytest.approx(ref, rel=1e-6, abs=1e-7, nan_ok=True), tag


def _cfg(**kw) -> TrainConfig:
    return tiny_config(method="bsam", epochs=3, batch_size=27, **kw)


class _Kill(TrainCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, epoch, step, result):
        if step == self.step:
            raise KeyboardInterrupt


def test_events_equal_the_log_and_steps_are_logged(tmp_path) -> None:
    train(_cfg(tensorboard_steps=True), out_dir=tmp_path, quiet=True)
    _assert_events_equal_log(tmp_path)
    steps = _scalars(tmp_path / "tensorboard")
    for tag in STEP_TAGS.values():
        assert [s for s, _ in steps[tag]] == list(range(1, 3 * _BATCHES_PER_EPOCH + 1)), tag
    # the epoch's mean training loss is the sample-weighted mean of its step losses
    losses = [v for _, v in steps["step/loss"]][:_BATCHES_PER_EPOCH]
    sizes = [27] * 8 + [240 - 8 * 27]
    mean = sum(v * n for v, n in zip(losses, sizes)) / 240
    assert float(_read_log(tmp_path / "log.csv")[0]["train_loss"]) == pytest.approx(mean, rel=1e-5)


def test_without_the_switch_no_events_are_written(tmp_path) -> None:
    train(tiny_config(method="vanilla", epochs=1), out_dir=tmp_path, quiet=True)
    assert not (tmp_path / "tensorboard").exists()


def test_resume_after_a_kill_mid_epoch_appends_without_duplicates(tmp_path) -> None:
    cfg = _cfg(tensorboard_steps=True)
    with pytest.raises(KeyboardInterrupt):  # mid-epoch 2: its first steps are already logged
        train(cfg, out_dir=tmp_path, quiet=True, callbacks=[_Kill(_BATCHES_PER_EPOCH + 4)])
    resumed = train(cfg, out_dir=tmp_path, quiet=True)
    assert resumed.resumed_from == 1
    assert len(list((tmp_path / "tensorboard").iterdir())) == 2  # one events file per session
    _assert_events_equal_log(tmp_path)
    steps = [s for s, _ in _scalars(tmp_path / "tensorboard")["step/loss"]]
    assert steps == list(range(1, 3 * _BATCHES_PER_EPOCH + 1))


def test_an_epoch_logged_but_not_checkpointed_is_replaced(tmp_path, monkeypatch) -> None:
    save = loop_module._Trainer._save

    def save_then_die(self, epoch, val):
        if epoch == 2:  # its events are written, its checkpoint is not
            raise KeyboardInterrupt
        save(self, epoch, val)

    monkeypatch.setattr(loop_module._Trainer, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tensorboard=True), out_dir=tmp_path, quiet=True)
    monkeypatch.setattr(loop_module._Trainer, "_save", save)
    before = _scalars(tmp_path / "tensorboard")["train/loss"]
    assert [s for s, _ in before] == [_BATCHES_PER_EPOCH, 2 * _BATCHES_PER_EPOCH]
    train(_cfg(tensorboard=True), out_dir=tmp_path, quiet=True)
    _assert_events_equal_log(tmp_path)  # epoch 2 once, with the resumed run's value


def test_a_folder_made_without_tensorboard_resumes_with_it(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(), out_dir=tmp_path, quiet=True, callbacks=[_Kill(_BATCHES_PER_EPOCH + 1)])
    resumed = train(_cfg(tensorboard=True), out_dir=tmp_path, quiet=True)
    assert resumed.resumed_from == 1
    scalars = _scalars(tmp_path / "tensorboard")["train/loss"]
    # the epochs of this session only, at their steps; the log has every epoch
    assert [s for s, _ in scalars] == [2 * _BATCHES_PER_EPOCH, 3 * _BATCHES_PER_EPOCH]
    assert len(_read_log(tmp_path / "log.csv")) == 3


def test_the_switches_leave_the_stored_config_unchanged_while_off() -> None:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    off = TrainConfig().to_dict()
    # every field but those left out at their neutral value (the tensorboard switches among them)
    assert {"tensorboard", "tensorboard_steps"} <= set(_OMITTED_AT)
    assert set(off) == names - set(_OMITTED_AT)
    on = TrainConfig(tensorboard_steps=True).resolve()
    assert on.tensorboard and on.to_dict()["tensorboard_steps"] is True
    assert TrainConfig.from_dict(on.to_dict()) == on
    off_resolved = TrainConfig().resolve()
    assert off_resolved.diff(on) == {} and on.diff(off_resolved) == {}  # runtime fields
    assert on.diff(off_resolved, ignore=()) == {
        "tensorboard": (True, False),
        "tensorboard_steps": (True, False),
    }


def test_missing_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(
        TensorBoardMissingError, match=r'pip install "bsam-landscape\[tensorboard\]"'
    ):
        train(tiny_config(epochs=1, tensorboard=True), out_dir=tmp_path / "lib", quiet=True)
    assert not (tmp_path / "lib").exists()  # refused before anything was written
    argv = [
        "train", "--out", str(tmp_path / "cli"), "--tensorboard", "--data", NAME,
        "--model", "mlp", "--model-kwargs", '{"in_features": 6, "hidden": [8]}',
        "--many", str(MANY), "--few", str(FEW), "--epochs", "1", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("bsam train: error: TensorBoard logging")
    assert 'pip install "bsam-landscape[tensorboard]"' in err


def test_cli_flag_writes_events_beside_the_log(tmp_path) -> None:
    out = tmp_path / "run"
    argv = [
        "train", "--out", str(out), "--tensorboard", "--data", NAME, "--model", "mlp",
        "--model-kwargs", '{"in_features": 6, "hidden": [8]}', "--many", str(MANY),
        "--few", str(FEW), "--epochs", "2", "--batch-size", "32", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt", "config.json", "last.pt", "log.csv", "metrics.json", "tensorboard",
    ]  # fmt: skip
    _assert_events_equal_log(out)
