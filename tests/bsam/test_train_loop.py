"""The training loop on a tiny in-memory data set with an MLP: files, resume, errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from bsam.checkpoint import load_checkpoint, load_model, save_checkpoint
from bsam.regions import ALL_REGIONS
from bsam.train import (
    METHODS,
    ConfigMismatchError,
    NonFiniteLossError,
    TrainCallback,
    train,
)
from bsam.train.loop import LOG_COLUMNS, METRICS_FORMAT, lr_factor
from bsam.train.schedule import LRFactor
from tests.bsam._tiny_data import FEW, MANY, TinyRegression, tiny_config

_METRIC_KEYS = {"n", "mae", "mse", "rmse", "gm", "bmae"}


def _read_log(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class _Kill(TrainCallback):
    """Raise KeyboardInterrupt after epoch ``epoch`` or after global step ``step``."""

    def __init__(self, *, epoch: int | None = None, step: int | None = None) -> None:
        self.epoch, self.step = epoch, step

    def on_step_end(self, epoch, step, result):
        if step == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, row, model):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("method", [*METHODS, "bsam-official"])
def test_every_method_trains_one_epoch(tmp_path, method: str) -> None:
    cfg = (
        tiny_config(preset=method, epochs=1)
        if method == "bsam-official"
        else tiny_config(method=method, epochs=1)
    )
    result = train(cfg, out_dir=tmp_path, quiet=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.pt", "config.json", "last.pt", "log.csv", "metrics.json"]
    assert result.metrics["best"]["epoch"] == 1
    assert math.isfinite(result.metrics["best"]["test"]["all"]["mae"])
    log = _read_log(tmp_path / "log.csv")
    assert list(log[0]) == list(LOG_COLUMNS) and len(log) == 1
    assert math.isfinite(float(log[0]["train_loss"]))


@pytest.mark.parametrize("method", ["sqinv", "imbsam", "bsam"])
def test_dense_targets_train_per_element(tmp_path, method: str) -> None:
    cfg = tiny_config(
        method=method,
        epochs=3,
        lr=0.1,
        data_kwargs={"dense": True},
        model_kwargs={"in_features": 6, "hidden": [16], "num_outputs": 4},
    )
    result = train(cfg, out_dir=tmp_path, quiet=True)
    report = result.metrics["best"]["test"]
    assert report["all"]["n"] == 80 * 4  # metrics pooled over the pixels
    assert 0.0 <= report["all"]["delta1"] <= 1.0
    assert math.isfinite(report["few"]["mae"])


def test_metrics_json_schema_and_values(tmp_path) -> None:
    result = train(tiny_config(method="bsam", epochs=2), out_dir=tmp_path, quiet=True)
    m = result.metrics
    assert m["format"] == METRICS_FORMAT and m["select"] == "mae"
    assert set(m) >= {"best", "final", "regions", "train_seconds", "config"}
    for which in ("best", "final"):
        assert set(m[which]) == {"epoch", "val", "test"}
        for split, size in (("val", 80), ("test", 80)):
            report = m[which][split]
            assert list(report) == list(ALL_REGIONS)
            assert all(set(report[r]) == _METRIC_KEYS for r in ALL_REGIONS)
            assert report["all"]["n"] == size
            assert sum(report[r]["n"] for r in ("many", "medium", "few")) == size
    assert m["final"]["epoch"] == 2


def test_reported_test_metrics_match_an_independent_evaluation(tmp_path) -> None:
    result = train(tiny_config(method="sqinv", epochs=2), out_dir=tmp_path, quiet=True)
    model, _ = load_model(tmp_path / "best.pt", device="cpu")
    test = TinyRegression("test")
    with torch.no_grad():
        pred = model(test.x).squeeze(1).double().numpy()
    y = test.y.double().numpy()
    err = np.abs(pred - y)
    counts = np.bincount(TinyRegression("train").y.long().numpy(), minlength=20)
    region = np.where(counts > MANY, 0, np.where(counts < FEW, 2, 1))[y.astype(int)]
    got = result.metrics["best"]["test"]
    for code, name in enumerate(("many", "medium", "few")):
        sel = region == code
        assert got[name]["n"] == sel.sum()
        assert got[name]["mae"] == pytest.approx(err[sel].mean(), rel=1e-5)
        bins = np.unique(y[sel])
        assert got[name]["bmae"] == pytest.approx(
            np.mean([err[sel & (y == b)].mean() for b in bins]), rel=1e-5
        )
    assert got["all"]["mse"] == pytest.approx(np.mean(err**2), rel=1e-5)


def test_weights_and_regions_come_from_the_training_split(tmp_path) -> None:
    train(tiny_config(method="bsam", weights="inv", epochs=1), out_dir=tmp_path, quiet=True)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    y = TinyRegression("train").y.long().numpy()
    counts = np.bincount(y, minlength=20)
    assert ckpt["regions"]["counts"] == counts.tolist()
    for key, power in (("descent", 0.5), ("perturb", 1.0)):
        raw = 1.0 / np.maximum(counts, 1) ** power
        expected = raw / raw[y].mean()  # mean 1 over the training samples
        np.testing.assert_allclose(ckpt["weights"][key]["bin_weights"], expected, rtol=1e-12)


@pytest.mark.parametrize("select", ["mae", "bmae"])
def test_best_and_last_checkpoints(tmp_path, select: str) -> None:
    result = train(
        tiny_config(method="vanilla", epochs=4, lr=0.2, select=select), out_dir=tmp_path, quiet=True
    )
    log = _read_log(tmp_path / "log.csv")
    values = [float(row[f"val_{select}_all"]) for row in log]
    best_epoch = int(np.argmin(values)) + 1
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == best_epoch
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 4
    assert result.metrics["best"]["epoch"] == best_epoch
    assert result.metrics["best"]["val"]["all"][select] == pytest.approx(min(values), rel=1e-9)
    assert result.metrics["final"]["val"]["all"][select] == pytest.approx(values[-1], rel=1e-9)
    assert "optimizer_state" not in load_checkpoint(tmp_path / "best.pt")


def _same_run(dir_a, dir_b) -> None:
    a, b = load_checkpoint(dir_a / "last.pt"), load_checkpoint(dir_b / "last.pt")
    assert a["epoch"] == b["epoch"]
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    sa, sb = a["optimizer_state"]["state"], b["optimizer_state"]["state"]
    for key in sa:
        for name, value in sa[key].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb[key][name]))
    la, lb = _read_log(dir_a / "log.csv"), _read_log(dir_b / "log.csv")
    drop = lambda rows: [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]  # noqa: E731
    assert drop(la) == drop(lb)


@pytest.mark.parametrize(
    ("method", "kill", "data_kwargs"),
    [
        ("bsam", {"epoch": 1}, {}),
        ("imbsam", {"step": 13}, {}),  # mid-epoch 2 (9 batches per epoch)
        ("sqinv", {"epoch": 2}, {"in_memory": False}),  # DataLoader path
    ],
)
def test_resume_after_kill_gives_identical_weights(tmp_path, method, kill, data_kwargs) -> None:
    cfg = tiny_config(method=method, epochs=3, batch_size=27, data_kwargs=data_kwargs)
    full = train(cfg, out_dir=tmp_path / "full", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out_dir=tmp_path / "killed", quiet=True, callbacks=[_Kill(**kill)])
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = train(cfg, out_dir=tmp_path / "killed", quiet=True)
    assert resumed.resumed_from == kill.get("epoch", 1)
    _same_run(tmp_path / "full", tmp_path / "killed")
    assert resumed.metrics["best"] == full.metrics["best"]
    # another seed gives other weights, so the equality above is not vacuous
    other = train(
        tiny_config(method=method, epochs=1, seed=1, batch_size=27, data_kwargs=data_kwargs),
        out_dir=tmp_path / "other",
        quiet=True,
    )
    w_other = load_checkpoint(other.last_path)["model_state"]
    w_full = load_checkpoint(full.last_path)["model_state"]
    assert not all(torch.equal(w_other[k], w_full[k]) for k in w_full)


def test_finished_run_is_not_trained_again(tmp_path, capsys) -> None:
    cfg = tiny_config(method="vanilla", epochs=1)
    train(cfg, out_dir=tmp_path, quiet=True)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = train(tiny_config(method="vanilla", epochs=1, eval_batch_size=7), out_dir=tmp_path)
    assert again.already_done and again.metrics["best"]["epoch"] == 1
    assert "already finished" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_different_config_is_refused(tmp_path) -> None:
    train(tiny_config(method="vanilla", epochs=1), out_dir=tmp_path, quiet=True)
    with pytest.raises(ConfigMismatchError, match="lr: 0.05 in the folder vs 0.1 requested"):
        train(tiny_config(method="vanilla", epochs=1, lr=0.1), out_dir=tmp_path, quiet=True)
    with pytest.raises(ConfigMismatchError, match="method: 'vanilla' in the folder vs 'bsam'"):
        train(tiny_config(method="bsam", epochs=1), out_dir=tmp_path, quiet=True)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ConfigMismatchError, match="holds a last.pt but no config.json"):
        train(tiny_config(method="vanilla", epochs=1), out_dir=tmp_path, quiet=True)


class _Poison(TrainCallback):
    """After epoch 1, snapshot the run folder and put a NaN into the first weight."""

    def __init__(self, folder) -> None:
        self.folder, self.snapshot = folder, {}

    def on_epoch_end(self, epoch, row, model):
        if epoch == 1:
            self.snapshot = {p.name: p.read_bytes() for p in self.folder.iterdir()}
            with torch.no_grad():
                next(model.parameters()).view(-1)[0] = float("nan")


@pytest.mark.parametrize("method", ["vanilla", "bsam", "imbsam"])
def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, method) -> None:
    poison = _Poison(tmp_path)
    cfg = tiny_config(method=method, epochs=3)  # 240 samples / 32 = 8 batches per epoch
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, step 9, batch 0 of 8") as info:
        train(cfg, out_dir=tmp_path, quiet=True, callbacks=[poison])
    assert (info.value.epoch, info.value.step, info.value.batch) == (2, 9, 0)
    assert "last good checkpoint" in str(info.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == poison.snapshot
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 1
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model_state"].values())


def _hand_factor(schedule: str, step: int, steps_per_epoch: int, epochs: int) -> float:
    """The learning-rate multiplier written out (the formula of the loop before LambdaLR)."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / (steps_per_epoch * epochs)))
    if schedule == "step":
        epoch = step // steps_per_epoch
        return 0.1 ** ((epoch >= epochs / 2) + (epoch >= 3 * epochs / 4))
    return 1.0


def test_lr_factor_closed_form() -> None:
    kw = {"steps_per_epoch": 10, "epochs": 4}
    cosine = LRFactor("cosine", **kw)
    assert cosine(0) == 1.0
    assert cosine(20) == pytest.approx(0.5, rel=1e-15)
    assert cosine(10) == pytest.approx((1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    assert cosine(40) == pytest.approx(0.0, abs=1e-15)
    assert cosine(55) == cosine(40)  # clamped after the last step
    step = LRFactor("step", **kw)
    assert [step(s) for s in (0, 19, 20, 29, 30, 39)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01], rel=1e-15
    )
    assert LRFactor("none", **kw)(33) == 1.0
    with pytest.raises(ValueError, match="Invalid schedule 'linear'"):
        LRFactor("linear", **kw)
    with pytest.warns(DeprecationWarning, match="lr_factor is deprecated"):
        assert lr_factor("cosine", 10, **kw) == cosine(10)


@pytest.mark.parametrize("schedule", ["cosine", "step", "none"])
def test_lr_follows_the_schedule_in_the_log(tmp_path, schedule) -> None:
    train(
        tiny_config(method="bsam", epochs=4, lr=0.1, schedule=schedule),
        out_dir=tmp_path,
        quiet=True,
    )  # 240 samples / 32 = 8 steps per epoch
    log = _read_log(tmp_path / "log.csv")
    for e, row in enumerate(log):
        expected = 0.1 * _hand_factor(schedule, 8 * e, 8, 4)
        assert float(row["lr"]) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert int(row["step"]) == 8 * (e + 1)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["scheduler_state"]["step"] == 32 and ckpt["scheduler_state"]["schedule"] == schedule
    group = ckpt["optimizer_state"]["param_groups"][0]
    assert group["lr"] == pytest.approx(0.1 * _hand_factor(schedule, 32, 8, 4), abs=1e-15)


def test_a_checkpoint_of_the_hand_written_schedule_resumes(tmp_path) -> None:
    """``last.pt`` as the loop wrote it before LambdaLR: ``scheduler_state = {schedule, step}``
    and no ``initial_lr`` in the optimizer groups; the lr was set before each step."""
    cfg = tiny_config(method="bsam", epochs=3)
    train(cfg, out_dir=tmp_path / "full", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out_dir=tmp_path / "old", quiet=True, callbacks=[_Kill(epoch=1)])
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    step = ckpt["train_state"]["step"]
    ckpt["scheduler_state"] = {"schedule": cfg.schedule, "step": step}
    for group in ckpt["optimizer_state"]["param_groups"]:
        del group["initial_lr"]
        group["lr"] = cfg.lr * _hand_factor("cosine", step - 1, 8, 3)  # the last step's rate
    save_checkpoint(tmp_path / "old" / "last.pt", ckpt)
    train(cfg, out_dir=tmp_path / "old", quiet=True)
    _same_run(tmp_path / "full", tmp_path / "old")


def test_batch_size_larger_than_the_data_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="Invalid batch_size 1000: the training split has only"):
        train(
            tiny_config(batch_size=1000, data_kwargs={"n": 1}), out_dir=tmp_path / "r", quiet=True
        )
    assert not (tmp_path / "r").exists()  # nothing written, so a corrected rerun is not refused
