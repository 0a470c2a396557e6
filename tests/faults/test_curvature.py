"""Fault catalogue, curvature: ``bsam hessian`` and the curvature library on bad inputs.

Each CLI case asserts exit status 2, a one-line message and that the files already there keep
their bytes (an earlier result and a partial file are never lost); each library case asserts the
exception type and its message.
"""

# ruff: noqa: F811 (pytest injects the imported `checkpoint` fixture by argument name)
from __future__ import annotations

import json
import os

import pytest
import torch

from analyses.curvature import CurvatureOperator, hutchpp_trace, lanczos_extremes
from analyses.curvature.results import TraceResult
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)
from tests.analyses.test_curvature_cli import checkpoint  # noqa: F401, F811 (module fixture)
from tests.faults._harness import Snapshot, assert_user_error, run_cli

FAST = ["--regions", "few", "--metrics", "lambda_max", "--device", "cpu", "--max-iter", "4",
        "--batch-size", "4096", "--quiet"]  # fmt: skip

# (id, extra argv with {d} = the output folder, match); --out defaults to {d}/h.json
CLI_CASES = [
    ("out-is-a-folder", ["--out", "{d}"], "it is a folder"),
    ("out-under-a-file", ["--out", "{d}/old.json/h.json"], "is a file, not a folder"),
    ("csv-is-a-folder", ["--csv", "{d}"], r"Invalid --csv .*it is a folder"),
    ("csv-equals-out", ["--csv", "{d}/h.json"], "it equals --out"),
    ("plot-under-a-file", ["--metrics", "density", "--plot", "{d}/old.json/p"], "is a file"),
    ("bad-metric", ["--metrics", "sharpness"], r"Invalid metrics \['sharpness'\]"),
    ("bad-region", ["--regions", "rare"], r"Invalid region names \['rare'\]"),
    ("bad-loss", ["--loss", "hinge"], "invalid choice: 'hinge'"),
    ("bad-curvature", ["--curvature", "fisher"], "invalid choice: 'fisher'"),
    ("negative-tol", ["--tol", "-1"], "Invalid tol value: -1"),
    ("zero-max-iter", ["--max-iter", "0"], "Invalid max_iter value: 0"),
    ("zero-k", ["--k", "0"], "Invalid k value: 0"),
    ("zero-batch-size", ["--batch-size", "0"], "Invalid batch_size 0"),
    ("unknown-params", ["--params", "nosuch"], "Invalid params entry 'nosuch'"),
    ("zero-trace-rel-se", ["--metrics", "trace", "--trace-rel-se", "0"], "Invalid rel_se value"),
    ("trace-budget-below-sketch", ["--metrics", "trace", "--trace-max-matvecs", "5"],
     "Invalid max_matvecs value: 5; the sketch"),
    ("zero-density-probes", ["--metrics", "density", "--density-probes", "0"],
     "Invalid num_probes value: 0"),
]  # fmt: skip


@pytest.fixture()
def folder(tmp_path):
    """An output folder with an earlier result whose bytes must survive."""
    (tmp_path / "old.json").write_text('{"earlier": "result"}\n')
    return tmp_path


def _argv(checkpoint, folder, extra):
    extra = [a.replace("{d}", str(folder)) for a in extra]
    out = [] if "--out" in extra else ["--out", str(folder / "h.json")]
    return ["hessian", str(checkpoint), *FAST, *out, *extra]


@pytest.mark.parametrize(("extra", "match"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_fault(checkpoint, folder, capsys, extra, match):
    snap = Snapshot(folder)
    assert_user_error(run_cli(capsys, *_argv(checkpoint, folder, extra)), match)
    snap.unchanged()


def test_cli_missing_checkpoint(folder, capsys):
    snap = Snapshot(folder)
    res = run_cli(capsys, "hessian", str(folder / "none.pt"), "--out", str(folder / "h.json"))
    assert_user_error(res, "Checkpoint not found")
    snap.unchanged()


def test_cli_read_only_folder_is_refused_before_computing(checkpoint, folder, capsys, monkeypatch):
    # the tests may run as root, for whom chmod does not stop writes: deny through os.access
    ro = folder / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(ro) else real(p, m))
    import analyses.curvature.regions as regions

    monkeypatch.setattr(regions, "_region_entry", lambda *a, **k: pytest.fail("computed"))
    snap = Snapshot(folder)
    res = run_cli(capsys, *_argv(checkpoint, folder, ["--out", f"{ro}/h.json"]))
    assert_user_error(res, "is not writable")
    snap.unchanged()


def _interrupt_after_first_region(monkeypatch):
    import analyses.curvature.regions as regions

    real, calls = regions._region_entry, []

    def entry(op, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job is killed while the second region runs
        return real(op, name, *args, **kwargs)

    monkeypatch.setattr(regions, "_region_entry", entry)
    return calls


def test_killed_job_keeps_finished_regions_and_resumes(checkpoint, folder, capsys, monkeypatch):
    argv = [a if a != "few" else "few,all" for a in _argv(checkpoint, folder, [])]
    ref_out = folder / "ref" / "h.json"
    ref = argv[:-2] + ["--out", str(ref_out)]
    assert run_cli(capsys, *ref).code == 0
    calls = _interrupt_after_first_region(monkeypatch)
    assert run_cli(capsys, *argv).code == 130  # bsam.cli.main: Ctrl-C is exit status 130
    assert calls == ["few", "all"]
    partial = folder / "h.json.partial.json"
    assert list(json.loads(partial.read_text())["regions"]) == ["few"]
    assert not (folder / "h.json").exists()
    monkeypatch.undo()
    calls = _count_regions(monkeypatch)
    assert run_cli(capsys, *argv).code == 0
    assert calls == ["all"]  # "few" came from the partial file
    assert not partial.exists()
    got, want = (json.loads(p.read_text())["regions"] for p in (folder / "h.json", ref_out))
    for name in ("few", "all"):
        assert got[name]["lambda_max"] == want[name]["lambda_max"]


def _count_regions(monkeypatch):
    import analyses.curvature.regions as regions

    real, calls = regions._region_entry, []

    def entry(op, name, *args, **kwargs):
        calls.append(name)
        return real(op, name, *args, **kwargs)

    monkeypatch.setattr(regions, "_region_entry", entry)
    return calls


@pytest.mark.parametrize(
    ("content", "match"),
    [({"request": "0" * 32, "regions": {"few": {}}}, "holds regions of a different request"),
     ("{not json", "cannot be read")],
    ids=["partial-of-another-request", "partial-corrupt"],
)  # fmt: skip
def test_cli_partial_file_is_not_misused(checkpoint, folder, capsys, content, match):
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / "h.json.partial.json").write_text(text)
    snap = Snapshot(folder)
    assert_user_error(run_cli(capsys, *_argv(checkpoint, folder, [])), match)
    snap.unchanged()


# -- library ---------------------------------------------------------------------------------
def _net_data():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1).double()
    return net, (torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64))


def _ggn(loss):
    net, data = _net_data()
    return CurvatureOperator(net, data, loss=loss, curvature="ggn")


LIB_CASES = [
    ("ggn-of-l1-callable", lambda: _ggn(lambda p, t: (p - t).abs()), ValueError,
     "its Gauss-Newton matrix would be 0; pass loss='l1'"),
    ("ggn-of-non-finite-callable", lambda: _ggn(lambda p, t: (p - t) ** 2 * float("nan")),
     ValueError, "second derivative with respect to the prediction is not finite"),
    ("reduced-callable-loss", lambda: CurvatureOperator(*_net_data(), loss=lambda p, t: ((p - t) ** 2).mean()).loss(),
     ValueError, "must return the element-wise loss"),
    ("interval-level-above-1", lambda: TraceResult(1.0, 0.1, 10, True, "hutchinson", 10).interval(1.5),
     ValueError, "Invalid level value: 1.5"),
    ("lanczos-k-above-dimension", lambda: lanczos_extremes(torch.eye(3, dtype=torch.float64), k=4),
     ValueError, "Invalid k value: 4"),
    ("hutchpp-basis-wrong-shape", lambda: hutchpp_trace(torch.eye(4, dtype=torch.float64), basis=torch.ones(3, 1)),
     ValueError, r"Invalid basis of shape \(3, 1\)"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "kind", "match"), [c[1:] for c in LIB_CASES], ids=[c[0] for c in LIB_CASES])
def test_library_fault(call, kind, match):
    with pytest.raises(kind, match=match):
        call()
