"""The distribution's metadata, the conda environment and the CLI agree with each other."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

from bsam.cli import SUBCOMMANDS, build_parser, main

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
