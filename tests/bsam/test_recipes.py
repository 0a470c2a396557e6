"""The named training recipes (bsam.recipes), their overrides, ``bsam recipes`` and the
``cosine-epoch`` / ``dir-step`` schedules.

Every protocol value is written out here as read from the original code (cited per recipe), so
a changed default fails a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys

import pytest

from bsam.recipes import (
    RECIPES,
    SAM_FAMILY,
    Recipe,
    default_recipe,
    get_recipe,
    load_config_file,
    resolve_recipe,
)

#: Values of every field but name, description, notes, source, the notes on rho and regions.
_PROTOCOL_KEYS = (
    "model", "model_kwargs", "optimizer", "lr", "momentum", "weight_decay", "schedule",
    "lr_min_factor", "epochs", "batch_size", "descent_loss", "weights", "augmentation",
    "eval_transform", "img_size", "channels_last", "rho_by_method", "select", "many", "few",
    "data_kwargs",
)  # fmt: skip

#: The embedded recipe as analyses/reproduce/config.py defined it before bsam.recipes (Recipe +
#: ReproduceConfig defaults), kept as synth-32px, and its --quick settings.
SYNTH_32PX = {
    "model": "resnet8", "model_kwargs": {}, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
    "weight_decay": 5e-4, "schedule": "cosine", "lr_min_factor": 0.0, "epochs": 12,
    "batch_size": 128, "descent_loss": "l1", "weights": "sqrt_inv", "augmentation": "synth",
    "eval_transform": "none", "img_size": None, "channels_last": False,
    "rho_by_method": {"sam": 0.2, "imbsam": 0.2, "bsam": 0.2}, "select": "mae", "many": 100,
    "few": 20, "data_kwargs": {},
}  # fmt: skip
#: The embedded recipe since 2026-12-01 (docs/reproduce.md: 16 px, 24 epochs, channels_last).
SYNTH = {**SYNTH_32PX, "epochs": 24, "img_size": 16, "channels_last": True}
#: Rank-N-Contrast main_l1.py / utils.py and BSAM agedb|imdb-wiki/train.py + READMEs.
RNC = {
    "model": "resnet18", "model_kwargs": {}, "optimizer": "sgd", "lr": 0.2, "momentum": 0.9,
    "weight_decay": 1e-4, "schedule": "cosine-epoch", "lr_min_factor": 1e-3, "epochs": 400,
    "batch_size": 256, "descent_loss": "l1", "weights": "sqrt_inv", "augmentation": "rnc",
    "eval_transform": "resize256-center224", "img_size": 224, "channels_last": False,
    "select": "mae", "many": 100, "few": 20, "data_kwargs": {},
}  # fmt: skip
#: DIR nyud2-dir/train.py, loaddata.py, util.py.
NYUD2 = {
    "model": "nyud2-resnet50", "model_kwargs": {"pretrained": "imagenet"}, "optimizer": "adam",
    "lr": 1e-4, "momentum": None, "weight_decay": 1e-4, "schedule": "dir-step",
    "lr_min_factor": 0.0, "epochs": 10, "batch_size": 32, "descent_loss": "mse",
    "weights": "sqrt_inv", "augmentation": "dir-nyud2", "eval_transform": "scale240-center304x228",
    "img_size": None, "channels_last": False, "rho_by_method": {}, "select": "rmse",
    "many": None, "few": None,
    "data_kwargs": {},
}  # fmt: skip


def _protocol(recipe: Recipe) -> dict:
    return {k: getattr(recipe, k) for k in _PROTOCOL_KEYS}


def test_registry_holds_the_four_recipes():
    assert set(RECIPES) >= {"synth", "synth-32px", "rnc-agedb", "rnc-imdb", "dir-nyud2"}
    assert all(name == r.name and r.description for name, r in RECIPES.items())


def test_synth_is_the_embedded_recipe_and_recipe_defaults():
    assert _protocol(get_recipe("synth")) == SYNTH
    assert get_recipe("synth") == Recipe()  # the values live in Recipe's defaults only
    quick = get_recipe("synth").quick()
    assert _protocol(quick) == {
        **SYNTH, "epochs": 1, "many": 5, "few": 2, "data_kwargs": {"limit": 600}
    }  # fmt: skip


@pytest.mark.parametrize(("name", "rho"), [("rnc-agedb", 0.2), ("rnc-imdb", 0.05)])
def test_rnc_recipes_are_the_official_bsam_protocol(name, rho):
    recipe = get_recipe(name)
    assert _protocol(recipe) == {**RNC, "rho_by_method": dict.fromkeys(SAM_FAMILY, rho)}
    assert recipe.rho == rho and recipe.rho_for("vanilla") == rho
    sources = " ".join(recipe.source)
    for cited in ("kaiwenzha/Rank-N-Contrast main_l1.py", "utils.py",
                  "manmanjun/BSAM_for_Imbalanced_Regression agedb/train.py"):  # fmt: skip
        assert cited in sources
    quick = recipe.quick()
    assert (quick.epochs, quick.img_size, quick.batch_size, quick.many, quick.few) == (
        1, 32, 16, 5, 2,
    )  # fmt: skip
    # the quick variant swaps in resnet8 (ResNet-18 makes the analyses take tens of minutes)
    assert quick.schedule == "cosine-epoch" and quick.model == "resnet8"


def test_rnc_recipes_agree_with_the_official_bsam_presets():
    from bsam.optim.presets import OFFICIAL_BSAM

    for data, name in (("agedb-dir", "rnc-agedb"), ("imdb-wiki-dir", "rnc-imdb")):
        preset, recipe = OFFICIAL_BSAM[data], get_recipe(name)
        assert (preset.lr, preset.momentum, preset.weight_decay, preset.batch_size) == (
            recipe.lr, recipe.momentum, recipe.weight_decay, recipe.batch_size
        )  # fmt: skip
        assert (preset.epochs, preset.lr_min_factor, preset.model, preset.image_size) == (
            recipe.epochs, recipe.lr_min_factor, recipe.model, recipe.img_size
        )  # fmt: skip
        assert preset.rho == recipe.rho_for("bsam")


def test_dir_nyud2_is_the_dir_protocol_and_has_no_rho():
    recipe = get_recipe("dir-nyud2")
    assert _protocol(recipe) == NYUD2
    assert "bucket lists" in recipe.regions_note and "util.py" in " ".join(recipe.source)
    assert recipe.rho is None and recipe.rho_for("sqinv") is None
    with pytest.raises(ValueError, match=r"no rho for method 'bsam'.*0\.05, 0\.1, 0\.2.*--rho"):
        recipe.rho_for("bsam")
    assert recipe.override(rho=0.1).rho_for("imbsam") == 0.1


def test_sam_family_methods_perturb_and_others_take_the_recipes_rho():
    from bsam.train.config import METHODS

    assert set(SAM_FAMILY) <= {m.name for m in METHODS.values() if m.step != "plain"}
    recipe = get_recipe("synth").override(rho_by_method={"sam": 0.05})
    assert (recipe.rho_for("sam"), recipe.rho_for("bsam"), recipe.rho_for("vanilla")) == (
        0.05, 0.2, 0.2,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "name"),
    [("agedb-dir", "rnc-agedb"), ("imdb-wiki-dir", "rnc-imdb"), ("nyud2-dir", "dir-nyud2"),
     ("agedb-synth", "synth"), ("imdb-synth", "synth")],
)  # fmt: skip
def test_default_recipe_of_each_data_set(data, name):
    assert default_recipe(data) == name


def test_unknown_recipe_and_data_set_are_one_line_errors():
    with pytest.raises(ValueError, match=r"Unknown recipe 'rnc'; choose from \['dir-nyud2'"):
        get_recipe("rnc")
    with pytest.raises(ValueError, match="No default recipe for data set 'mnist'.*--recipe"):
        default_recipe("mnist")


def test_synth_32px_is_the_earlier_embedded_recipe():
    assert _protocol(get_recipe("synth-32px")) == SYNTH_32PX


def test_old_recipe_keywords_still_build_a_recipe():
    old = {"epochs": 1, "lr": 0.05, "batch_size": 128, "optimizer": "sgd",
           "weight_decay": 5e-4, "schedule": "cosine", "rho": 0.1}  # fmt: skip
    recipe = Recipe.from_dict(old)
    assert recipe.rho_by_method == dict.fromkeys(SAM_FAMILY, 0.1) and recipe.epochs == 1
    # the rest is what the embedded recipe was when such files were written: 32 px
    assert _protocol(recipe) == {**SYNTH_32PX, "epochs": 1,
                                 "rho_by_method": dict.fromkeys(SAM_FAMILY, 0.1)}
    # a stored recipe from before channels_last trained without it
    stored = {k: v for k, v in get_recipe("synth").to_dict().items() if k != "channels_last"}
    assert Recipe.from_dict(stored).channels_last is False
    assert dataclasses.replace(recipe, rho=0.05).rho == 0.05
    again = Recipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again == recipe
    with pytest.raises(ValueError, match=r"Unknown recipe key\(s\) \['warmup'\]"):
        Recipe.from_dict({**old, "warmup": 5})


_TOML = """
recipe = "rnc-agedb"
lr = 0.1
epochs = 5
rho_by_method = { bsam = 0.1 }
data_kwargs = { check_files = false }
"""
_YAML = """
recipe: rnc-agedb
lr: 1e-1          # YAML 1.1 reads this as a string; it is a number here
epochs: 5
rho_by_method: {bsam: 0.1}
data_kwargs: {check_files: false}
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", _TOML), (".yaml", _YAML)])
def test_config_file_overrides_the_recipe_and_flags_override_the_file(tmp_path, suffix, text):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    path = tmp_path / f"recipe{suffix}"
    path.write_text(text)
    recipe = resolve_recipe(None, None, path)
    assert recipe.name == "rnc-agedb" and (recipe.lr, recipe.epochs) == (0.1, 5)
    assert recipe.rho_by_method == {"sam": 0.2, "imbsam": 0.2, "bsam": 0.1}  # merged
    assert recipe.data_kwargs == {"check_files": False}
    assert recipe.batch_size == 256  # untouched: the recipe's
    flagged = resolve_recipe(None, {"lr": 0.3, "rho": 0.05}, path)
    assert (flagged.lr, flagged.epochs) == (0.3, 5)
    assert flagged.rho_by_method == dict.fromkeys(SAM_FAMILY, 0.05)
    assert resolve_recipe("synth", {}, path).model == "resnet8"  # an explicit name wins


def test_quick_comes_before_the_file_and_the_flags(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("batch_size = 8\n")
    recipe = resolve_recipe("rnc-agedb", {"epochs": 2}, path, quick=True)
    assert (recipe.epochs, recipe.batch_size, recipe.img_size) == (2, 8, 32)
    assert resolve_recipe(data="nyud2-dir").name == "dir-nyud2"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("learning_rate = 0.1\n", r"r\.toml: Unknown recipe key\(s\) \['learning_rate'\]"),
        ('epochs = "many"\n', r"epochs='many'.*expected a whole number"),
        ("epochs = 2.5\n", "expected a whole number"),
        ('lr = "fast"\n', "lr='fast'.*expected a number"),
        ("batch_size = 0\n", "batch_size=0.*> 0"),
        ("data_kwargs = 3\n", "data_kwargs=3.*table"),
        ("rho_by_method = { bsam = -1 }\n", "rho=-1.*> 0"),
        ('recipe = "nope"\n', "Unknown recipe 'nope'"),
        ("lr = \n", "Invalid TOML"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, text, match):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        resolve_recipe(None, None, path)
    assert "\n" not in str(err.value)


def test_config_file_kinds(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"use a \.toml, \.yaml or \.yml file"):
        load_config_file(tmp_path / "r.json")
    with pytest.raises(FileNotFoundError):
        load_config_file(tmp_path / "missing.toml")
    (tmp_path / "list.yml").write_text("- 1\n")
    pytest.importorskip("yaml")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_config_file(tmp_path / "list.yml")
    monkeypatch.setitem(sys.modules, "yaml", None)  # PyYAML missing
    with pytest.raises(ValueError, match="needs PyYAML: pip install pyyaml"):
        load_config_file(tmp_path / "list.yml")


# -- bsam recipes ---------------------------------------------------------------------------------
def _recipes_cli(argv: list[str]) -> argparse.Namespace:
    from bsam.cli.recipes import register

    parser = argparse.ArgumentParser(prog="bsam")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["recipes", *argv])


def test_recipes_cli_lists_and_prints_resolved_recipes(capsys, tmp_path):
    args = _recipes_cli([])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(RECIPES)
    args = _recipes_cli(["rnc-imdb", "--json", "--lr", "0.1", "--rho", "0.2"])
    assert args.func(args) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {**get_recipe("rnc-imdb").override(lr=0.1, rho=0.2).to_dict()}
    args = _recipes_cli(["dir-nyud2"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "recipe dir-nyud2" in text and "schedule: dir-step" in text and "rho_note:" in text
    args = _recipes_cli(["synth", "--epochs", "0"])
    with pytest.raises(ValueError, match="Invalid --epochs 0; it must be > 0"):
        args.func(args)


def test_recipes_help_imports_no_torch():
    code = (
        "import sys, argparse\n"
        "from bsam.cli.recipes import register\n"
        "p = argparse.ArgumentParser(); register(p.add_subparsers())\n"
        "p.format_help(); import bsam.recipes\n"
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- schedules ------------------------------------------------------------------------------------
def _rnc_lr(lr: float, epoch: int, epochs: int, decay: float = 0.1) -> float:
    """Rank-N-Contrast utils.py adjust_learning_rate, written out by hand."""
    eta_min = lr * decay**3
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def test_cosine_epoch_matches_rank_n_contrast_per_epoch():
    from bsam.train.schedule import LRFactor

    f = LRFactor("cosine-epoch", steps_per_epoch=3, epochs=4, lr_min_factor=1e-3)
    rates = [0.2 * f(t) for t in range(12)]
    expected = [_rnc_lr(0.2, e, 4) for e in (1, 2, 3, 4) for _ in range(3)]
    assert rates == pytest.approx(expected, rel=1e-13)
    assert rates[-1] == pytest.approx(0.2e-3, rel=1e-13) and f(100) == f(11)  # clamped
    # by hand: epoch 2 of 4 is half way, 1e-3 + (1 - 1e-3) / 2
    assert f(3) == pytest.approx(0.5005, rel=1e-14)


def test_dir_step_divides_by_ten_every_five_epochs():
    from bsam.train.schedule import LRFactor

    f = LRFactor("dir-step", steps_per_epoch=2, epochs=12)
    by_epoch = [f(2 * e) for e in range(12)]
    assert by_epoch == pytest.approx([1] * 5 + [0.1] * 5 + [0.01] * 2, rel=1e-15)
    with pytest.raises(ValueError, match="Invalid schedule 'linear'"):
        LRFactor("linear", steps_per_epoch=2, epochs=3)
    with pytest.raises(ValueError, match="Invalid lr_min_factor 1.0"):
        LRFactor("cosine-epoch", steps_per_epoch=2, epochs=3, lr_min_factor=1.0)


def test_cosine_epoch_scheduler_stepped_per_step_holds_each_epochs_rate():
    """``build_scheduler`` (the loop's ``LambdaLR``, stepped after every step) gives every step
    of epoch ``e`` RnC's rate of epoch ``e``."""
    import torch

    from bsam.train.schedule import build_scheduler

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.2)
    sched = build_scheduler(opt, "cosine-epoch", steps_per_epoch=4, epochs=5, lr_min_factor=1e-3)
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [_rnc_lr(0.2, e, 5) for e in range(1, 6) for _ in range(4)]
    assert seen == pytest.approx(expected, rel=1e-13)
