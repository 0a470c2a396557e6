"""The layer order (analyses -> landscape -> bsam) and the lazy package namespaces.

Each check that depends on what a fresh interpreter has imported runs in a subprocess, since this
test process has long imported everything.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from bsam.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bsam", "landscape", "analyses")
HEAVY = ("torch", "numpy", "h5py", "matplotlib")


def _fresh(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the lines it printed."""
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` are in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint(*[m for m in {modules!r} if m in sys.modules])"
    return _fresh(probe)


def test_probe_sees_an_import():
    # the subprocess probe itself: it does report a heavy module that the code imports
    assert _loaded_after("import json", ("json", "torch")) == ["json"]


def test_building_the_parser_imports_no_heavy_library():
    assert _loaded_after("import bsam.cli; bsam.cli.build_parser()", HEAVY) == []


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help_imports_no_heavy_library(command):
    code = (
        "import contextlib, io\nfrom bsam.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    try:\n        main([{command!r}, '--help'])\n    except SystemExit:\n        pass\n"
        f"assert 'usage: bsam {command}' in out.getvalue(), out.getvalue()"
    )
    assert _loaded_after(code, HEAVY) == []


@pytest.mark.parametrize(
    "code",
    [
        "import bsam",
        "import bsam, bsam.optim, bsam.train, bsam.data, bsam.models, bsam.checkpoint",
        "import bsam.cli, bsam.cli.train, bsam.cli.evaluate, bsam.cli.data, bsam.cli.options",
    ],
)
def test_bsam_imports_nothing_from_the_layers_above(code):
    # (building the full parser does load the plugins above, through the entry points)
    assert _loaded_after(code, ("landscape", "analyses")) == []


def test_landscape_imports_nothing_from_analyses():
    code = "import landscape, landscape.surface, landscape.store, landscape.directions"
    assert _loaded_after(code, ("analyses",)) == []


def test_importing_the_packages_is_lazy():
    assert _loaded_after("import bsam, landscape, analyses", HEAVY) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_to_its_defining_object(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        value = getattr(module, name)
        source = module._EXPORTS.get(name) if name != "__version__" else None
        if source == f"{package}.{name}":
            assert value is importlib.import_module(source)
        elif source is not None:
            assert value is getattr(importlib.import_module(source), name)
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_name_raises_attribute_error(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018
    assert not hasattr(module, "__no_such_dunder__")


def test_from_import_of_a_public_name_in_a_fresh_interpreter():
    code = (
        "import sys\nfrom bsam import BSAM\nimport bsam.optim, landscape, landscape.surface\n"
        "print(BSAM is bsam.optim.BSAM, landscape.compute_surface is "
        "landscape.surface.compute_surface, landscape.surface.__name__)"
    )
    assert _fresh(code) == ["True", "True", "landscape.surface"]


def test_submodules_stay_reachable_as_attributes():
    # as before the names were lazy: `import landscape; landscape.store` gives the submodule
    code = "import landscape, bsam\nprint(landscape.store.__name__, bsam.weights.__name__)"
    assert _fresh(code) == ["landscape.store", "bsam.weights"]


def test_import_linter_contract_orders_the_three_layers():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted(PACKAGES)
    (contract,) = config["contracts"]
    assert contract["type"] == "layers" and contract["layers"] == ["analyses", "landscape", "bsam"]


def test_import_linter_keeps_the_contract():
    # the same check as `make lint`; a failure lists each upward import with its line
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.is_file():
        pytest.skip('import-linter is not installed (pip install -e ".[test]")')
    res = subprocess.run([str(exe), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout
