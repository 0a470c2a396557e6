"""Checkpoint files: atomic save, safe load, model rebuild, hash."""

from __future__ import annotations

import hashlib

import pytest
import torch

from bsam.checkpoint import (
    CHECKPOINT_FORMAT,
    file_hash,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from bsam.models import build_model


def _ckpt(model: torch.nn.Module) -> dict:
    return {
        "model": {"name": "mlp", "kwargs": {"in_features": 4, "hidden": [3]}},
        "model_state": model.state_dict(),
        "optimizer_state": {"state": {}, "param_groups": []},
        "rng": {"torch": torch.get_rng_state()},
        "epoch": 7,
        "config": {"lr": 0.1, "nan": float("nan")},
        "regions": {"kind": "ShotRegions"},
    }


def test_round_trip_rebuilds_the_model(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("mlp", in_features=4, hidden=[3])
    path = save_checkpoint(tmp_path / "sub" / "a.pt", _ckpt(model))
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.pt"]  # no temporary left
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["epoch"] == 7
    rebuilt, info = load_model(path, device="cpu")
    assert not rebuilt.training
    assert "optimizer_state" not in info and "rng" not in info and info["epoch"] == 7
    x = torch.randn(5, 4)
    assert torch.equal(rebuilt(x), model.eval()(x))


def test_the_same_checkpoint_saves_to_the_same_bytes(tmp_path) -> None:
    # torch.save names its zip records after the file it writes; through the random temporary
    # name of the atomic write that would make every save's bytes (and file_hash) differ
    torch.manual_seed(0)
    ckpt = _ckpt(build_model("mlp", in_features=4, hidden=[3]))
    a = save_checkpoint(tmp_path / "a" / "best.pt", ckpt)
    b = save_checkpoint(tmp_path / "b" / "best.pt", ckpt)
    assert a.read_bytes() == b.read_bytes() and file_hash(a) == file_hash(b)


def test_failed_save_keeps_the_old_file(tmp_path) -> None:
    model = build_model("mlp", in_features=4, hidden=[3])
    path = save_checkpoint(tmp_path / "a.pt", _ckpt(model))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_checkpoint(path, {**_ckpt(model), "model_state": _Unpicklable()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_file_hash_is_sha256_prefix(tmp_path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"bsam" * 1000)
    assert file_hash(path) == hashlib.sha256(b"bsam" * 1000).hexdigest()[:16]
    with pytest.raises(FileNotFoundError, match="File not found"):
        file_hash(tmp_path / "missing")


def test_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="Checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"format": "other/1", "model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format 'other/1', expected 'bsam-checkpoint/1'"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match=r"missing keys \['model_state'\]"):
        save_checkpoint(tmp_path / "x.pt", {"model": {"name": "mlp"}, "epoch": 1})


def test_unsafe_pickle_is_refused(tmp_path) -> None:
    torch.save(
        {"format": CHECKPOINT_FORMAT, "model": _Payload(), "model_state": {}, "epoch": 0},
        tmp_path / "evil.pt",
    )
    with pytest.raises(ValueError, match="Cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


class _Payload:
    """An arbitrary class: weights_only loading must refuse it."""
