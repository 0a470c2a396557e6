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
