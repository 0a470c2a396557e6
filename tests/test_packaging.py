"""The distribution's metadata, the conda environment and the CLI agree with each other."""

import re
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
import tomllib
import yaml

import bsam.cli
from bsam.cli import ENTRY_POINT_GROUP, SUBCOMMANDS, build_parser, command_entry_points, main

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(d) for d in dep["pip"] if not d.startswith("-")}
        else:
            conda.add(_name(dep))
    for requirement in project["dependencies"]:
        assert _name(requirement) in conda | pip, f"{requirement} missing from environment.yml"
    # the same lower bounds
    pinned = {_name(d): d.replace(" ", "") for d in env["dependencies"] if isinstance(d, str)}
    for requirement in project["dependencies"]:
        name = _name(requirement)
        if name in pinned and ">=" in requirement:
            assert requirement.split(">=")[1] in pinned[name], f"{name}: bounds differ"
    assert "torch>=2.3" in [d.replace(" ", "") for d in project["dependencies"]]


def test_packages_and_console_script_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["bsam"] == "bsam.cli:main"
    assert set(project["tool"]["setuptools"]["packages"]["find"]["include"]) == {"bsam*", "landscape*", "analyses*"}


def test_cli_help_lists_the_installed_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    parser = build_parser()
    installed = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(installed) <= set(SUBCOMMANDS)
    for name in installed:
        assert name in out


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "bsam", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("bsam ")


def test_entry_point_group_lists_exactly_the_nine_subcommands():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert set(declared[ENTRY_POINT_GROUP]) == set(SUBCOMMANDS) and len(SUBCOMMANDS) == 9
    installed = entry_points(group=ENTRY_POINT_GROUP)
    assert sorted(ep.name for ep in installed) == sorted(SUBCOMMANDS)
    for ep in installed:  # the installed metadata is the declared one (not a stale install)
        assert ep.value == declared[ENTRY_POINT_GROUP][ep.name]
    # each package registers its own subcommands
    owner = {ep.name: ep.value.split(".")[0] for ep in installed}
    assert owner == {
        "train": "bsam",
        "evaluate": "bsam",
        "data": "bsam",
        "recipes": "bsam",
        "surface": "landscape",
        "hessian": "analyses",
        "sharpness": "analyses",
        "plot": "analyses",
        "reproduce": "analyses",
    }


def test_help_lists_subcommands_in_the_documented_order(capsys):
    assert [ep.name for ep in command_entry_points()] == list(SUBCOMMANDS)
    assert main([]) == 0
    out = capsys.readouterr().out
    positions = [re.search(rf"^\s+{name}\b", out, re.M).start() for name in SUBCOMMANDS]
    assert positions == sorted(positions)


def _fake_entry_points(*eps: EntryPoint):
    return lambda group: [ep for ep in eps if ep.group == group]


def test_broken_plugin_is_listed_as_unavailable_and_errors_when_run(monkeypatch, capsys):
    good = EntryPoint("data", "bsam.cli.data:register", ENTRY_POINT_GROUP)
    broken = EntryPoint("broken", "no_such_plugin_module:register", ENTRY_POINT_GROUP)
    monkeypatch.setattr(bsam.cli, "entry_points", _fake_entry_points(good, broken))
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "data" in out and "broken" in out
    assert "unavailable: cannot load 'no_such_plugin_module:register'" in out
    assert "ModuleNotFoundError" in out
    assert main(["broken", "--flag"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bsam broken: error: this subcommand is unavailable") and "pip install" in err


def test_plugin_whose_register_raises_is_unavailable(monkeypatch, capsys):
    bad = EntryPoint("bad", "json:loads", ENTRY_POINT_GROUP)  # register(sub) -> TypeError
    monkeypatch.setattr(bsam.cli, "entry_points", _fake_entry_points(bad))
    parser = build_parser()
    assert "bad" in parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert main(["bad"]) == 2
    assert "TypeError" in capsys.readouterr().err


def test_no_installed_subcommand_says_how_to_fix(monkeypatch, capsys):
    monkeypatch.setattr(bsam.cli, "entry_points", _fake_entry_points())
    assert main([]) == 0
    assert "entry-point group 'bsam.commands' is empty" in capsys.readouterr().out


def test_console_script_lists_every_subcommand():
    exe = Path(sys.executable).parent / "bsam"
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for name in SUBCOMMANDS:
        assert name in res.stdout


def test_entry_point_may_name_the_module_that_defines_register(monkeypatch, capsys):
    as_module = EntryPoint("data", "bsam.cli.data", ENTRY_POINT_GROUP)
    monkeypatch.setattr(bsam.cli, "entry_points", _fake_entry_points(as_module))
    with pytest.raises(SystemExit) as exc:
        main(["data", "info", "--help"])
    assert exc.value.code == 0 and "--many MANY" in capsys.readouterr().out
