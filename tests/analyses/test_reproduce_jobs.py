"""``bsam reproduce --jobs N``, ``--list-runs`` / ``--run`` and the stage gating of dense data.

One tiny plan (quick settings, ``--methods vanilla --seeds 0``: three runs of one epoch) is
trained three ways: in this process, two at a time in child processes, and run by run from the
commands ``--list-runs`` prints. Each way must write the same run folders holding the same
numbers: ``metrics.json`` equal but for its wall-clock ``train_seconds``, and ``best.pt`` with
bit-identical tensors (the raw bytes differ: ``torch.save`` names the zip's records after the
temporary file it writes).
"""

from __future__ import annotations

import json
import shlex

import pytest
import torch

from analyses.reproduce import ReproduceConfig, jobs, processes, reproduce
from analyses.reproduce.stages import skipped_stages
from bsam.cli import build_parser, main

FLAGS = ["--quick", "--methods", "vanilla", "--seeds", "0", "--quiet"]


def _config(out) -> ReproduceConfig:
    return ReproduceConfig.quick_config(methods=("vanilla",), seeds=(0,), out=str(out))


def _folders(out) -> dict[str, tuple[dict, dict]]:
    """``{run folder name: (metrics without timings, best.pt)}`` of every run under ``out``."""
    found = {}
    for folder in sorted((out / "runs").iterdir()):
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics.pop("train_seconds")
        found[folder.name] = (metrics, torch.load(folder / "best.pt", weights_only=True))
    return found


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        (metrics_a, ckpt_a), (metrics_b, ckpt_b) = a[name], b[name]
        assert metrics_a == metrics_b, name
        state_a, state_b = ckpt_a.pop("model_state"), ckpt_b.pop("model_state")
        assert state_a.keys() == state_b.keys()
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a), name
        assert ckpt_a == ckpt_b, name


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The plan trained with ``jobs=1`` (this process, one thread as in the children)."""
    out = tmp_path_factory.mktemp("jobs1")
    result = reproduce(_config(out), quiet=True, stages=("train",))
    return out, result


def test_two_jobs_write_the_same_run_folders_as_one(in_process, tmp_path, monkeypatch):
    out1, result1 = in_process
    monkeypatch.setattr(processes, "available_cores", lambda: 2)  # one thread per child, as here
    result2 = reproduce(_config(tmp_path), quiet=True, stages=("train",), jobs=2)
    assert len(result2.runs) == 3 and not any(r.already_done for r in result2.runs.values())
    _assert_same(_folders(out1), _folders(tmp_path))
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings["jobs"] == 2 and "train" in timings
    assert set(result1.timings) == {"train"}  # the result's timings keep their keys
    again = reproduce(_config(tmp_path), quiet=True, stages=("train",), jobs=2)
    assert all(r.already_done for r in again.runs.values())  # finished runs are not retrained


def test_listed_commands_run_one_by_one_give_the_plain_run_folders(in_process, tmp_path, capsys):
    out1, _ = in_process
    argv = ["reproduce", *FLAGS, "--out", str(tmp_path)]
    assert main([*argv, "--list-runs"]) == 0
    commands = capsys.readouterr().out.splitlines()
    names = ["vanilla-s0", "bsam-vanilla-descent-s0", "bsam-inv-s0"]
    parser = build_parser()
    plain = vars(parser.parse_args(argv))
    for command, name in zip(commands, names, strict=True):  # the same flags, plus --run NAME
        words = shlex.split(command)
        assert words[:2] == ["bsam", "reproduce"]
        assert vars(parser.parse_args(words[1:])) == {**plain, "run": [(name,)]}
    assert main([*argv, "--list-runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == names and not any(r["done"] for r in rows)
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0
    capsys.readouterr()
    _assert_same(_folders(out1), _folders(tmp_path))
    assert main([*argv, "--stages", "train"]) == 0  # the final plain run finds every run done
    summary = json.loads(capsys.readouterr().out)
    assert summary["timings_s"]["train"] < 5.0
    assert main([*argv, "--list-runs", "--json"]) == 0
    assert all(r["done"] for r in json.loads(capsys.readouterr().out))


def test_an_unknown_run_is_a_one_line_error_naming_the_valid_runs(tmp_path, capsys):
    assert main(["reproduce", *FLAGS, "--out", str(tmp_path), "--run", "bsam-s7"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Unknown run(s) ['bsam-s7']" in err
    assert "vanilla-s0, bsam-vanilla-descent-s0, bsam-inv-s0" in err
    assert not (tmp_path / "runs").exists()


def test_a_failing_job_names_its_run_and_leaves_no_process(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "available_cores", lambda: 2)
    cfg = _config(tmp_path).replace(data_kwargs={"limit": 600, "no_such_option": 1})
    with pytest.raises(jobs.JobError, match=r"^run vanilla-s0: .*no_such_option"):
        reproduce(cfg, quiet=True, stages=("train",), jobs=2)
    import multiprocessing

    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_jobs_are_refused(bad, tmp_path):
    with pytest.raises(ValueError, match="Invalid jobs"):
        jobs.train_runs(_config(tmp_path), [], jobs=bad)


def test_job_threads_share_the_cores():
    assert [jobs.job_threads(n, cores=16) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]


def test_dense_targets_skip_the_per_sample_stages():
    dense = ReproduceConfig(data="nyud2-dir", root="/nowhere", methods=("vanilla", "sqinv"))
    skipped = skipped_stages(dense)
    assert set(skipped) == {"surface", "hessian", "sharpness"}
    assert all("not computed for dense targets" in why for why in skipped.values())
    assert skipped_stages(ReproduceConfig()) == {}


def test_reproduce_skips_the_per_sample_stages_of_dense_data_and_says_why(in_process, monkeypatch):
    from analyses.reproduce import stages

    out, _ = in_process
    monkeypatch.setattr(stages, "DENSE_DATA", frozenset({"agedb-synth"}))  # as if it were dense
    result = reproduce(_config(out), quiet=True, stages=("train", "surface", "hessian", "sharpness"))
    assert set(result.skipped) == {"surface", "hessian", "sharpness"}
    assert not result.surfaces and not result.hessian and not result.sharpness
    assert not (out / "surfaces").exists() and not (out / "hessian").exists()
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) == {"train", "surface", "hessian", "sharpness", "jobs"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--json"], "--json only applies to --list-runs"),
        (["--list-runs", "--run", "vanilla-s0"], "exclude each other"),
        (["--jobs", "0"], "Invalid jobs 0"),
    ],
)
def test_farm_flag_errors(extra, match, tmp_path, capsys):
    assert main(["reproduce", *FLAGS, "--out", str(tmp_path), *extra]) == 2
    assert match in capsys.readouterr().err


def _surfaces_and_curvature(out) -> dict[str, object]:
    """Every surface (all HDF5 datasets) and Hessian JSON under ``out``, without timings and
    the checkpoint's path."""
    import h5py
    import numpy as np

    found: dict[str, object] = {}
    for path in sorted((out / "surfaces").glob("*.h5")):
        with h5py.File(path, "r") as fh:
            found[path.name] = {k: np.asarray(v) for k, v in fh.items() if isinstance(v, h5py.Dataset)}
    for path in sorted((out / "hessian").glob("*.json")):
        entry = json.loads(path.read_text())
        entry["provenance"]["data"].pop("checkpoint")  # its path, under out (its hash stays)
        found[path.name] = _without_timings(entry)
    for path in sorted((out / "sharpness").glob("*.json")):
        entry = json.loads(path.read_text())
        for profile in entry["profiles"]:
            profile["provenance"]["data"].pop("checkpoint", None)  # its path, under out
        found[path.name] = _without_timings(entry)
    return found


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not any(t in k for t in ("second", "time", "created"))}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_two_jobs_compute_the_same_surfaces_curvature_and_profiles_as_one(in_process, tmp_path,
                                                                         monkeypatch):
    import shutil

    import numpy as np

    monkeypatch.setattr(processes, "available_cores", lambda: 2)
    found = []
    for j in (1, 2):
        out = tmp_path / f"jobs{j}"
        shutil.copytree(in_process[0] / "runs", out / "runs")
        cfg = _config(out).replace(surface_methods=("vanilla", "bsam-inv"), surface_points_2d=3,
                                   surface_points_1d=3, hessian_methods=("bsam-inv",),
                                   density=False, sharpness_methods=("vanilla", "bsam-inv"),
                                   sharpness_measures=("lambda_max", "average"))
        result = reproduce(cfg, quiet=True, stages=("train", "surface", "hessian", "sharpness"),
                           jobs=j)
        assert len(result.surfaces) == 2 and len(result.hessian) == 2 and len(result.sharpness) == 2
        found.append(_surfaces_and_curvature(out))
    one, two = found
    assert one.keys() == two.keys() and len(one) == 2 * 3 + 2 + 2
    for name in one:
        if name.endswith(".h5"):
            assert one[name].keys() == two[name].keys()
            for k in one[name]:
                nan = one[name][k].dtype.kind == "f"  # a region without samples is NaN
                assert np.array_equal(one[name][k], two[name][k], equal_nan=nan), (name, k)
        else:
            assert one[name] == two[name], name


def test_auto_jobs_is_one_per_core_on_the_cpu(monkeypatch):
    monkeypatch.setattr(processes, "available_cores", lambda: 6)
    assert processes.auto_jobs("cpu") == 6 and processes.auto_jobs("cpu", cores=1) == 1
    assert processes.auto_jobs("auto") == (1 if torch.cuda.is_available() else 6)


def test_the_cli_resolves_jobs_auto_and_refuses_text(tmp_path, capsys, monkeypatch):
    from analyses.reproduce import farm

    seen = {}

    def fake(cfg, names, *, jobs, quiet):
        seen["jobs"] = jobs
        return {}

    monkeypatch.setattr(processes, "available_cores", lambda: 3)
    monkeypatch.setattr(farm, "train_selected", fake)
    assert main(["reproduce", *FLAGS, "--device", "cpu", "--out", str(tmp_path),
                 "--run", "vanilla-s0"]) == 0
    assert seen["jobs"] == 3  # the default is auto: one per core
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--jobs", "many"])
    assert "invalid --jobs 'many'" in capsys.readouterr().err
