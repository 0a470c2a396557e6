"""`bsam surface` and `bsam plot` end to end on a tiny checkpoint (MLP, in-memory data set)."""

import numpy as np
import pytest
import torch

from bsam.checkpoint import save_checkpoint
from bsam.cli import main
from bsam.data import fit_regions, get_dataset
from bsam.models import build_model
from landscape import parse_grid, read_surface
from tests.bsam._tiny_data import FEW, MANY, NAME


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("mlp", in_features=6, hidden=(8,))
    regions = fit_regions(get_dataset(NAME, "train"), many=MANY, few=FEW)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        path,
        {
            "model": {"name": "mlp", "kwargs": {"in_features": 6, "hidden": [8]}},
            "model_state": model.state_dict(),
            "epoch": 1,
            "data": {"name": NAME, "root": None, "kwargs": {}},
            "regions": regions.to_dict(),
        },
    )
    return path, model, regions


def test_surface_then_plot(checkpoint, tmp_path, capsys):
    path, model, regions = checkpoint
    out = tmp_path / "s.h5"
    argv = ["surface", str(path), "--dims", "2", "--grid", "-1:1:3,-0.5:0.5:3", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2D surface, grid 3x3, 9 points done" in text and "few" in text
    res = read_surface(out)
    assert res.attrs["dataset"] == NAME and res.attrs["split"] == "test"
    assert len(res.attrs["checkpoint_hash"]) == 16 and (tmp_path / "s.dirs.h5").is_file()
    X, Y = get_dataset(NAME, "test").tensors()
    with torch.no_grad():
        err = (model(X).reshape(-1) - Y).abs().double()
    for name, m in regions.masks(Y).items():
        assert res.at_origin(name) == pytest.approx(float(err[m].mean()), rel=1e-6)
    # Same command again: resumes a complete file, nothing recomputed, same numbers.
    assert main(argv + ["--quiet"]) == 0
    np.testing.assert_array_equal(read_surface(out).loss["few"], res.loss["few"])
    # Another request on the same file is refused with the fix.
    assert main(argv[:-2] + ["--loss", "mse", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err

    figs = tmp_path / "figs"
    assert main(["plot", str(out), "--out", str(figs), "--kind", "panels", "--kind", "vtp"]) == 0
    names = sorted(p.name for p in figs.iterdir())
    assert "s_panels.png" in names and "s_panels.pdf" in names and "s_few.vtp" in names


def test_cli_errors(checkpoint, tmp_path, capsys):
    path, *_ = checkpoint
    assert main(["surface", str(tmp_path / "no.pt"), "--out", str(tmp_path / "s.h5")]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
    assert main(["surface", str(path), "--grid", "1:-1:3", "--out", str(tmp_path / "s.h5")]) == 2
    assert "Invalid grid axis '1:-1:3'" in capsys.readouterr().err
    junk = tmp_path / "x.txt"
    junk.write_text("hello")
    assert main(["plot", str(junk), "--out", str(tmp_path)]) == 2
    assert "expected a surface HDF5 file" in capsys.readouterr().err


def test_parse_grid():
    x, y = parse_grid("-1:1:5", 2)
    np.testing.assert_allclose(x, np.linspace(-1, 1, 5)) and np.testing.assert_allclose(y, x)
    x, y = parse_grid("-1:1:3,0:2:5", 2)
    assert len(x) == 3 and len(y) == 5 and y[-1] == 2
    assert parse_grid("0:1:2", 1)[1] is None
    with pytest.raises(ValueError, match="Invalid grid axis 'a:b'"):
        parse_grid("a:b", 1)
    with pytest.raises(ValueError, match="2 axes for a 1D surface"):
        parse_grid("0:1:2,0:1:2", 1)


def test_cli_choices_equal_the_library():
    # landscape.cli keeps literal copies (so `bsam surface --help` imports no torch)
    import landscape
    from bsam.cli.options import LOSS_NAMES, SPLITS
    from bsam.data.counts import SPLITS as DATA_SPLITS
    from bsam.losses import LOSSES
    from landscape import cli

    assert cli.NORMS == landscape.NORMS
    assert LOSS_NAMES == tuple(LOSSES) and SPLITS == DATA_SPLITS


def test_surface_help_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["surface", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "{filter,layer,model,none}" in out and "{l1,mse,huber}" in out
