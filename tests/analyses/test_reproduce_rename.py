"""The trace budget is ``trace_max_matvecs`` and region names are ``region_names`` in the
reproduction; the old spellings still work, and finished Hessian stages keep their keys."""

from pathlib import Path

import pytest

import analyses.curvature as curvature
from analyses.reproduce.cache import stage_key
from analyses.reproduce.config import ReproduceConfig, RunSpec
from analyses.reproduce.curvature_run import checkpoint_curvature_file
from analyses.reproduce.stages import RunOutput, _hashed, _hessian_settings, hessian_path


def _old_settings(cfg: ReproduceConfig) -> dict:
    # The settings dict exactly as the stage wrote it before the rename (first seed, test split).
    return {
        "split": "test",
        "regions": list(cfg.hessian_regions),
        "loss": cfg.hessian_loss,
        "curvature": cfg.curvature,
        "lanczos_iters": cfg.lanczos_iters,
        "trace_rel_se": cfg.trace_rel_se,
        "max_trace_hvps": 300,
        "density": True,
        "density_probes": cfg.density_probes,
        "density_steps": cfg.density_steps,
    }


def test_hessian_stage_key_is_unchanged_by_the_rename(tmp_path):
    # gram_max_bytes=0: the Lanczos + Hutch++ results written before the exact Gram values
    cfg = ReproduceConfig(out=str(tmp_path), gram_max_bytes=0)
    run = RunOutput(RunSpec("bsam", "bsam", 0), tmp_path / "runs" / "bsam-s0-abc", {}, True)
    old = _old_settings(cfg)
    assert _hashed(_hessian_settings(cfg, "test", 0, "bsam")) == old
    assert hessian_path(cfg, run, "test").name == f"bsam-s0-abc-test-{stage_key(old)[:8]}.json"


def test_old_config_key_still_loads_with_a_warning():
    with pytest.warns(DeprecationWarning, match="max_trace_hvps is deprecated; use trace_max_matvecs"):
        cfg = ReproduceConfig(max_trace_hvps=7)
    assert cfg.trace_max_matvecs == 7 and cfg.max_trace_hvps == 7
    assert "max_trace_hvps" not in cfg.to_dict() and cfg.to_dict()["trace_max_matvecs"] == 7
    with pytest.warns(DeprecationWarning):
        assert cfg.replace(max_trace_hvps=9).trace_max_matvecs == 9
    assert cfg.replace(seeds=(0,)).trace_max_matvecs == 7
    old_json = {**cfg.to_dict(), "version": "0.1"}
    old_json["max_trace_hvps"] = old_json.pop("trace_max_matvecs")
    with pytest.warns(DeprecationWarning):
        assert ReproduceConfig.from_dict(old_json) == cfg
    with pytest.warns(DeprecationWarning):
        assert ReproduceConfig.quick_config(max_trace_hvps=3).trace_max_matvecs == 3
    assert ReproduceConfig.quick_config().trace_max_matvecs == 20


def test_curvature_file_accepts_old_keywords(tmp_path, monkeypatch):
    seen = {}

    def fake(checkpoint, **kwargs):
        seen.update(kwargs)
        return {"provenance": {}, "regions": {}}

    monkeypatch.setattr(curvature, "checkpoint_curvature", fake)
    monkeypatch.setattr(curvature, "save_curvature", lambda result, path: (Path(path), Path(path)))
    with pytest.warns(DeprecationWarning) as record:
        checkpoint_curvature_file("x.pt", out=tmp_path / "h.json", split="test",
                                  regions=["few"], max_trace_hvps=11)
    assert len(record) == 2
    assert seen["region_names"] == ("few",) and seen["trace_max_matvecs"] == 11
    checkpoint_curvature_file("x.pt", out=tmp_path / "h.json", split="test",
                              region_names=["all"], trace_max_matvecs=5)
    assert seen["region_names"] == ("all",) and seen["trace_max_matvecs"] == 5
