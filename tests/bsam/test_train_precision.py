"""Mixed precision and channels_last in training (bsam.train.precision, TrainConfig.amp)."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from bsam.checkpoint import load_checkpoint
from bsam.data import DATASETS, register_dataset
from bsam.distributed import LOCAL_SYNC
from bsam.optim import SAM, plain_step, sam_step
from bsam.train import train
from bsam.train.precision import LossScaler, Precision, check_amp
from tests.bsam._tiny_data import TinyRegression, tiny_config

IMAGES = "tiny-images"


class TinyImages(TinyRegression):
    """The tiny data set as 6x4x4 "images" (each feature repeated over a 4x4 map)."""

    def __init__(self, split: str, seed: int = 0, **kwargs) -> None:
        super().__init__(split, seed=seed, **kwargs)
        self.name = IMAGES
        grid = torch.linspace(0.5, 1.5, 16).reshape(1, 1, 4, 4)
        self.x = self.x[:, :, None, None] * grid


if IMAGES not in DATASETS:

    @register_dataset(IMAGES)
    def _images(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
        return TinyImages(split, seed=seed, **kwargs)


def _losses(folder) -> list[float]:
    with open(folder / "log.csv", newline="") as fh:
        return [float(row["train_loss"]) for row in csv.DictReader(fh)]


def _image_config(**overrides):
    kw = {"model": "resnet8", "model_kwargs": {"in_channels": 6, "widths": [4, 4, 4]}}
    return tiny_config(data=IMAGES, **kw, **overrides)


def test_bf16_training_is_finite_and_close_to_float32(tmp_path) -> None:
    # bfloat16 keeps 8 significant bits (unit roundoff 2**-8 = 0.4%): each layer's output is
    # rounded once, so predictions carry ~1e-2 relative error at worst, and the mean training
    # loss over 240 samples (errors of both signs average out) stays within 2e-2 of float32's
    # over two epochs (measured: ~1e-3). The loss itself is computed in float32.
    ref = train(tiny_config(method="bsam", epochs=2), out_dir=tmp_path / "fp32", quiet=True)
    bf16 = train(
        tiny_config(method="bsam", epochs=2, amp="bf16"), out_dir=tmp_path / "bf16", quiet=True
    )
    a, b = _losses(tmp_path / "fp32"), _losses(tmp_path / "bf16")
    assert all(v == v and abs(v) < float("inf") for v in b)
    assert b == pytest.approx(a, rel=2e-2)
    assert a != b  # bf16 really ran (float32 would be bit-identical)
    mae = (ref.metrics["best"]["val"]["all"]["mae"], bf16.metrics["best"]["val"]["all"]["mae"])
    assert mae[1] == pytest.approx(mae[0], rel=2e-2)
    assert load_checkpoint(tmp_path / "bf16" / "last.pt")["config"]["amp"] == "bf16"
    # the run evaluated its final weights under autocast: near, but not equal to, float32
    from bsam.train import evaluate_checkpoint

    fp32_eval = evaluate_checkpoint(tmp_path / "bf16" / "last.pt", split="val", device="cpu")
    logged, exact = bf16.metrics["final"]["val"]["all"]["mae"], fp32_eval["report"]["all"]["mae"]
    assert logged != exact and logged == pytest.approx(exact, rel=2e-2)


def test_channels_last_gives_the_contiguous_result(tmp_path) -> None:
    train(_image_config(method="sam", epochs=1), out_dir=tmp_path / "a", quiet=True)
    train(
        _image_config(method="sam", epochs=1, channels_last=True),
        out_dir=tmp_path / "b",
        quiet=True,
    )
    assert _losses(tmp_path / "b") == pytest.approx(_losses(tmp_path / "a"), abs=1e-5)
    wa = load_checkpoint(tmp_path / "a" / "last.pt")["model_state"]
    wb = load_checkpoint(tmp_path / "b" / "last.pt")["model_state"]
    for name, value in wa.items():
        torch.testing.assert_close(wb[name].contiguous(), value, atol=1e-5, rtol=0, msg=name)


def test_loss_scaler_follows_torch_grad_scaler() -> None:
    # the reference: torch's own scale update (what torch.amp.GradScaler.update calls)
    ours = LossScaler(scale=8.0, growth_interval=3)
    scale, tracker = torch.tensor([8.0]), torch.tensor([0], dtype=torch.int32)
    for found in [0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0]:
        ours.update(bool(found))
        torch._amp_update_scale_(scale, tracker, torch.tensor([float(found)]), 2.0, 0.5, 3)
        assert (ours.scale, ours.good_steps) == (float(scale), int(tracker))
    assert ours.skipped == 3
    fresh = LossScaler()
    assert (fresh.scale, fresh.growth_interval) == (2.0**16, 2000)
    fresh.load_state_dict(ours.state_dict())
    assert fresh == ours


class _Net(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear; ``poison`` = the pass (1 or 2) whose gradient
    is made infinite by a hook on the first weight."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
        self.poison, self.backwards = 0, 0
        self.body[0].weight.register_hook(self._hook)

    def _hook(self, grad: torch.Tensor) -> torch.Tensor:
        self.backwards += 1
        return grad * float("inf") if self.backwards == self.poison else grad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


def _state(net: nn.Module, opt) -> list[torch.Tensor]:
    tensors = [t.detach().clone() for t in [*net.parameters(), *net.buffers()]]
    base = opt.base_optimizer if isinstance(opt, SAM) else opt
    return tensors + [base.state[p]["momentum_buffer"].clone() for p in net.parameters()]


@pytest.mark.parametrize(("poison", "perturb_sync"), [(1, "global"), (2, "global"), (1, "local")])
def test_fp16_overflow_skips_the_step_exactly(poison: int, perturb_sync: str) -> None:
    torch.manual_seed(0)
    net = _Net()
    opt = SAM(net.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9)
    precision = Precision("fp16", False, torch.device("cpu"))
    wrapped, sync = precision.wrap(net), precision.sync(LOCAL_SYNC)
    x, y = torch.randn(16, 4), torch.randn(16)

    def step():
        net.backwards = 0
        kw = {"sync": sync, "perturb_sync": perturb_sync, "bn_mode": "both"}
        return sam_step(wrapped, opt, x, y, "l1", **kw)

    assert precision.step(step, net, opt) is not None  # a good step: momentum buffers exist
    before, scale = _state(net, opt), precision.scaler.scale
    net.poison = poison  # inf in the first pass, or in the second (after the perturbation)
    assert precision.step(step, net, opt) is None
    after = _state(net, opt)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert precision.scaler.scale == scale / 2 and precision.scaler.skipped == 1
    assert all(p.grad is None for p in net.parameters())
    assert not any(s.get("perturbed") for s in opt.state.values())
    net.poison = 0
    assert precision.step(step, net, opt) is not None  # and training goes on
    assert not torch.equal(_state(net, opt)[0], after[0])


def test_fp16_plain_step_matches_torch_grad_scaler() -> None:
    # the reference: the textbook GradScaler loop (scaled loss, scaler.step, scaler.update)
    torch.manual_seed(1)
    ref = _Net()
    net = _Net()
    net.load_state_dict(ref.state_dict())
    x, y = torch.randn(16, 4), torch.randn(16)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    precision = Precision("fp16", False, torch.device("cpu"))
    wrapped, sync = precision.wrap(net), precision.sync(LOCAL_SYNC)
    for _ in range(3):
        ref_scale = scaler.get_scale()
        ref_opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            out = ref(x)
        loss = (out.float() - y).abs().mean()
        scaler.scale(loss).backward()
        scaler.step(ref_opt)
        scaler.update()
        result = precision.step(lambda: plain_step(wrapped, opt, x, y, "l1", sync=sync), net, opt)
        assert (result is None) == (scaler.get_scale() < ref_scale)  # skipped alike
        assert precision.scaler.scale == scaler.get_scale()
    for a, b in zip(ref.parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_a_nonfinite_loss_stays_an_error() -> None:
    net = _Net()
    opt = SAM(net.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
    precision = Precision("fp16", False, torch.device("cpu"))
    wrapped, sync = precision.wrap(net), precision.sync(LOCAL_SYNC)
    x, y = torch.randn(8, 4), torch.full((8,), float("nan"))
    with pytest.raises(FloatingPointError, match="loss at theta"):
        precision.step(lambda: sam_step(wrapped, opt, x, y, "l1", sync=sync), net, opt)
    assert precision.scaler.skipped == 0


def test_fp16_resume_restores_the_loss_scale(tmp_path) -> None:
    from tests.bsam.test_train_loop import _Kill

    cfg = tiny_config(method="bsam", epochs=2, amp="fp16")
    whole = train(cfg, out_dir=tmp_path / "whole", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out_dir=tmp_path / "cut", quiet=True, callbacks=[_Kill(epoch=1)])
    scaler = load_checkpoint(tmp_path / "cut" / "last.pt")["amp_scaler"]
    assert scaler["skipped"] >= 1 and scaler["scale"] < 2.0**16  # this model overflows at first
    resumed = train(cfg, out_dir=tmp_path / "cut", quiet=True)
    assert resumed.resumed_from == 1
    a = load_checkpoint(tmp_path / "whole" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["amp_scaler"] == b["amp_scaler"]
    for name, value in a["model_state"].items():
        assert torch.equal(b["model_state"][name], value), name
    assert whole.metrics["final"]["test"] == resumed.metrics["final"]["test"]


def test_amp_flags_and_device_errors() -> None:
    from bsam.cli import build_parser
    from bsam.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--out", "x", "--amp", "fp16", "--channels-last"])
    cfg = config_from_args(args).resolve()
    assert (cfg.amp, cfg.channels_last) == ("fp16", True)
    assert cfg.to_dict()["amp"] == "fp16" and cfg.to_dict()["channels_last"] is True
    off = config_from_args(build_parser().parse_args(["train", "--out", "x"])).resolve()
    assert "amp" not in off.to_dict() and "channels_last" not in off.to_dict()
    with pytest.raises(ValueError, match="torch has no autocast for 'meta'; use --amp off"):
        check_amp("bf16", torch.device("meta"))
    check_amp("off", torch.device("meta"))
    with pytest.raises(ValueError, match="Invalid amp 'fp8'"):
        check_amp("fp8", torch.device("cpu"))


def _gpu_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("_gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_its_comparisons_on_the_cpu(capsys, monkeypatch) -> None:
    import json

    check = _gpu_check()
    tiny = ["--steps", "2", "--batch", "16", "--size", "16", "--samples", "12"]
    assert check.main(["--device", "cpu", *tiny]) == 0  # the CPU's autocast vs its float32
    out = json.loads(capsys.readouterr().out)
    names = ["train/fp32", "train/bf16", "train/fp16", "surface", "lanczos"]
    assert sorted(out["checks"]) == sorted(names) and out["pass"]
    assert out["checks"]["train/fp32"]["update_rel"] == 0.0  # the same computation, bit for bit
    assert 0 < out["checks"]["train/bf16"]["update_rel"] <= 0.25
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check.main(tiny) == 0  # no CUDA: the CPU half, and {"cuda": false}
    out = json.loads(capsys.readouterr().out)
    assert out["cuda"] is False and "checks" not in out
    assert len(out["cpu"]["train_losses"]) == 2 and out["cpu"]["lanczos"]["eigenvalue"] > 0
