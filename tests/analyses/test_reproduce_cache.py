from analyses.reproduce.cache import StageCache, stage_key


def test_stage_skipped_only_when_inputs_and_outputs_are_unchanged(tmp_path):
    cache = StageCache(tmp_path)
    out = tmp_path / "a.json"
    inputs = {"ckpt": "abc", "grid": [1, 2]}
    assert not cache.is_done("surface/a", inputs)
    out.write_text("{}")
    cache.mark_done("surface/a", inputs, [out])
    assert cache.is_done("surface/a", inputs)
    assert cache.is_done("surface/a", {"grid": [1, 2], "ckpt": "abc"})  # key order irrelevant
    assert not cache.is_done("surface/a", {"ckpt": "abd", "grid": [1, 2]})
    out.unlink()
    assert not cache.is_done("surface/a", inputs)
    assert cache.finished() == ["surface__a"]


def test_corrupt_manifest_means_not_done(tmp_path):
    cache = StageCache(tmp_path)
    cache.dir.mkdir(parents=True)
    (cache.dir / "x.stage.json").write_text("{not json")
    assert not cache.is_done("x", {})
    assert stage_key({"a": 1}) != stage_key({"a": 2})


def _fake_stages(monkeypatch):
    """Replace the surface and curvature computations by stubs that write their file and log
    each call as ``(kind, checkpoint bytes)``."""
    import analyses.reproduce.curvature_run as curvature_run
    import landscape.from_checkpoint as from_checkpoint

    calls = []

    def surface(checkpoint, *, out, **kwargs):
        calls.append(("surface", checkpoint.read_bytes()))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("surface")

    def curvature(checkpoint, *, out, **kwargs):
        calls.append(("hessian", checkpoint.read_bytes()))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("{}")

    monkeypatch.setattr(from_checkpoint, "checkpoint_surface", surface)
    monkeypatch.setattr(curvature_run, "checkpoint_curvature_file", curvature)
    return calls


def test_stages_are_keyed_on_the_checkpoint_content(tmp_path, monkeypatch):
    from analyses.reproduce.config import ReproduceConfig, RunSpec
    from analyses.reproduce.stages import RunOutput, hessian_stage, surface_stage

    calls = _fake_stages(monkeypatch)
    cfg = ReproduceConfig(out=str(tmp_path), seeds=(0,), surface_methods=("bsam",),
                          hessian_methods=("bsam",))
    folder = tmp_path / "runs" / "bsam-s0-abc"
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights A")
    runs = {("bsam", 0): RunOutput(RunSpec("bsam", "bsam", 0), folder, {}, True)}

    def run_all():
        calls.clear()
        return surface_stage(cfg, runs), hessian_stage(cfg, runs)

    first = run_all()
    assert sorted(k for k, _ in calls) == ["hessian", "hessian", "surface", "surface"]
    assert run_all() == first and calls == []  # unchanged rerun: nothing recomputed
    (folder / "best.pt").write_bytes(b"weights B")  # same folder name, new content
    surfaces, hessian = run_all()
    assert sorted(calls) == [("hessian", b"weights B")] * 2 + [("surface", b"weights B")] * 2
    assert surfaces["bsam"]["2d"] != first[0]["bsam"]["2d"]  # new directions and surfaces
    assert first[0]["bsam"]["2d"].is_file()  # the old surface file is kept, not overwritten
    assert run_all() == (surfaces, hessian) and calls == []
