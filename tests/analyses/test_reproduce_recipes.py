"""``bsam reproduce`` with named recipes: run configs built from the recipe, the default runs'
folders unchanged, old configurations still readable, the recipe flags and ``--show-recipe``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyses.reproduce.config import Recipe as OldName
from analyses.reproduce.config import ReproduceConfig, RunSpec, plan_runs
from analyses.reproduce.stages import run_dir, train_config
from bsam.cli import main
from bsam.recipes import Recipe, get_recipe
from bsam.train import TrainConfig


def _pre_recipe_train_config(cfg: ReproduceConfig, spec: RunSpec) -> TrainConfig:
    """``train_config`` as it was before bsam.recipes (commit 66e2de0), with the embedded recipe
    and thresholds written out: the reference the default runs must still resolve to."""
    quick = cfg.quick
    fields = {
        "data": cfg.data, "root": cfg.root, "data_kwargs": {"limit": 600} if quick else {},
        "model": "resnet8", "method": spec.method, "descent_loss": "l1",
        "epochs": 1 if quick else 12, "lr": 0.05, "batch_size": 128, "optimizer": "sgd",
        "weight_decay": 5e-4, "schedule": "cosine", "rho": 0.2, "seed": spec.seed,
        "device": cfg.device, "many": 5 if quick else 100, "few": 2 if quick else 20,
    }  # fmt: skip
    fields.update(spec.overrides)
    return TrainConfig(**fields)


_OLD = get_recipe("synth-32px")


@pytest.mark.parametrize(
    "cfg",
    [ReproduceConfig(recipe=_OLD), ReproduceConfig(recipe=_OLD, ablation_rho=True),
     ReproduceConfig.quick_config(recipe=_OLD.quick())],
    ids=["default", "ablation", "quick"],
)
def test_earlier_default_runs_resolve_and_hash_as_before_recipes(cfg):
    """The recipe of that time (``synth-32px``) still gives the run folders of then."""
    from analyses.reproduce.cache import stage_key

    assert cfg.recipe.name in ("synth-32px", "synth-32px-quick")
    for spec in plan_runs(cfg):
        before = _pre_recipe_train_config(cfg, spec).resolve().to_dict()
        after = train_config(cfg, spec).resolve().to_dict()
        assert after == before, spec
        for runtime in ("device", "eval_batch_size"):
            before.pop(runtime)
        assert run_dir(cfg, spec).name == f"{spec.name}-s{spec.seed}-{stage_key(before)[:8]}"


def test_default_run_folder_names_measured_before_recipes():
    """Folder names written down before the change (methods whose resolution no one else
    changed since: the plain ones)."""
    cfg = ReproduceConfig(recipe=_OLD)
    names = {run_dir(cfg, s).name for s in plan_runs(cfg)}
    assert {"vanilla-s0-06078bbf", "sqinv-s0-60dce928", "sqinv-s1-d7f7bd7c"} <= names


def test_the_default_recipe_trains_at_16_px_in_channels_last():
    """The default runs: the 16 px faces, 24 epochs, channels_last, three seeds of each method."""
    cfg = ReproduceConfig()
    specs = plan_runs(cfg)
    assert {(s.name, s.seed) for s in specs if s.purpose == "main"} == {
        (m, seed) for m in ("vanilla", "sqinv", "sam", "imbsam", "bsam") for seed in (0, 1, 2)}
    assert len(specs) == 17  # and the Table 5 and Table 7 variants, first seed only
    run = train_config(cfg, specs[0])
    assert (run.data_kwargs, run.epochs, run.channels_last) == ({"img_size": 16}, 24, True)


def test_rnc_run_config_comes_from_the_recipe():
    cfg = ReproduceConfig(data="agedb-dir", root="/data/agedb")
    assert cfg.recipe.name == "rnc-agedb" and cfg.model == "resnet18"
    tc = train_config(cfg, RunSpec("bsam", "bsam", 1))
    got = {k: getattr(tc, k) for k in (
        "model", "optimizer", "lr", "momentum", "weight_decay", "schedule", "lr_min_factor",
        "epochs", "batch_size", "descent_loss", "weights", "select", "rho", "many", "few",
        "data_kwargs", "seed",
    )}  # fmt: skip
    assert got == {
        "model": "resnet18", "optimizer": "sgd", "lr": 0.2, "momentum": 0.9,
        "weight_decay": 1e-4, "schedule": "cosine-epoch", "lr_min_factor": 1e-3, "epochs": 400,
        "batch_size": 256, "descent_loss": "l1", "weights": "sqrt_inv", "select": "mae",
        "rho": 0.2, "many": 100, "few": 20, "data_kwargs": {"img_size": 224}, "seed": 1,
    }  # fmt: skip
    assert train_config(cfg.replace(recipe=get_recipe("rnc-imdb")), RunSpec("sam", "sam", 0)).rho == 0.05
    assert tc.resolve().lr_min_factor == 1e-3


def test_dir_nyud2_needs_rho_for_sam_family_methods():
    cfg = ReproduceConfig(data="nyud2-dir", root="/data/nyud2")
    with pytest.raises(ValueError, match="Recipe 'dir-nyud2' gives no rho for method 'sam'.*--rho"):
        train_config(cfg, RunSpec("sam", "sam", 0))  # run_dir of every run, before training
    plain = ReproduceConfig(data="nyud2-dir", methods=("vanilla", "sqinv"), tables_5_7=False)
    tc = train_config(plain, RunSpec("sqinv", "sqinv", 0))
    assert (tc.model, tc.optimizer, tc.lr, tc.descent_loss, tc.select, tc.schedule) == (
        "nyud2-resnet50", "adam", 1e-4, "mse", "rmse", "dir-step",
    )  # fmt: skip
    assert tc.model_kwargs == {"pretrained": "imagenet"} and tc.batch_size == 32
    chosen = ReproduceConfig(data="nyud2-dir", recipe=get_recipe("dir-nyud2").override(rho=0.1))
    assert {train_config(chosen, s).rho for s in plan_runs(chosen) if s.method == "bsam"} == {0.1}


def test_old_recipe_name_and_config_json_still_work():
    assert OldName is Recipe
    cfg = ReproduceConfig(recipe=Recipe(epochs=3, lr=0.05, batch_size=128, rho=0.1))
    assert cfg.recipe.rho == 0.1 and cfg.recipe.epochs == 3 and cfg.model == "resnet8"
    old = {"data": "agedb-synth", "model": "resnet8", "data_kwargs": {}, "many": 100, "few": 20,
           "recipe": {"epochs": 12, "lr": 0.05, "batch_size": 128, "optimizer": "sgd",
                      "weight_decay": 0.0005, "schedule": "cosine", "rho": 0.2},
           "version": "0.1.0"}  # fmt: skip
    assert ReproduceConfig.from_dict(old) == ReproduceConfig(recipe=_OLD)
    again = ReproduceConfig.from_dict(json.loads(json.dumps(ReproduceConfig.quick_config().to_dict())))
    assert again == ReproduceConfig.quick_config()
    stored = json.loads(json.dumps(ReproduceConfig().to_dict()))["recipe"]
    assert stored == json.loads(json.dumps(get_recipe("synth").to_dict()))


def test_reproduce_overrides_fold_into_the_recipe():
    cfg = ReproduceConfig(model="mlp", data_kwargs={"limit": 50}, many=10, few=3)
    r = cfg.recipe
    assert (r.model, r.data_kwargs, r.many, r.few) == ("mlp", {"limit": 50}, 10, 3)
    assert cfg.replace(seeds=(0,)).recipe == r
    moved = cfg.replace(recipe=get_recipe("rnc-agedb"))
    assert (moved.model, moved.many, moved.data_kwargs) == ("resnet18", 100, {})
    with pytest.raises(ValueError, match=r"Unknown method\(s\) \['bsma'\] in rho_by_method"):
        ReproduceConfig(recipe=Recipe().override(rho_by_method={"bsma": 0.1}))


def test_show_recipe_applies_config_then_flags(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text('recipe = "rnc-imdb"\nlr = 0.1\nepochs = 7\n')
    argv = ["reproduce", "--config", str(path), "--epochs", "3", "--show-recipe", "--json"]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == get_recipe("rnc-imdb").override(lr=0.1, epochs=3).to_dict()
    assert main(["reproduce", "--recipe", "rnc-agedb", "--model", "resnet8", "--show-recipe"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("recipe rnc-agedb:") and "model: resnet8" in text
    assert main(["reproduce", "--data", "nyud2-dir", "--methods", "sam", "--show-recipe"]) == 2
    assert "gives no rho for method 'sam'" in capsys.readouterr().err
    assert main(["reproduce", "--show-recipe", "--optimizer", "lbfgs"]) == 2
    assert "Invalid optimizer 'lbfgs'" in capsys.readouterr().err
    assert main(["reproduce", "--recipe", "rnc", "--show-recipe"]) == 2
    assert "Unknown recipe 'rnc'" in capsys.readouterr().err


def _tiny_agedb(root, n=(40, 10, 10)) -> None:
    """An AgeDB-DIR folder (agedb.csv + AgeDB/*.jpg, DIR's layout) of tiny random images."""
    from PIL import Image

    (root / "AgeDB").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines, k = ["age,path,split"], 0
    for split, count in zip(("train", "val", "test"), n):
        for age in np.clip(rng.normal(35, 6, count).round().astype(int), 1, 100):
            rel = f"AgeDB/{k}_P_{age}_m.jpg"
            Image.fromarray(rng.integers(0, 255, (36, 28, 3), dtype=np.uint8)).save(root / rel)
            lines.append(f"{age},{rel},{split}")
            k += 1
    (root / "agedb.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_quick_real_data_run_trains_with_the_recipe(tmp_path):
    """``--quick`` on real data: the rnc recipe's tiny variant, on the real code path."""
    from analyses.reproduce.stages import train_stage

    _tiny_agedb(tmp_path / "agedb")
    cfg = ReproduceConfig.quick_config(
        data="agedb-dir", root=str(tmp_path / "agedb"), methods=("vanilla",), seeds=(0,),
        tables_5_7=False, out=str(tmp_path / "out"),
    )  # fmt: skip
    (run,) = train_stage(cfg, quiet=True).values()
    stored = json.loads((run.out_dir / "config.json").read_text())
    stored = stored.get("config", stored)
    assert (stored["model"], stored["data_kwargs"], stored["schedule"]) == (
        "resnet8", {"img_size": 32}, "cosine-epoch",
    )  # fmt: skip
    lr = float((run.out_dir / "log.csv").read_text().splitlines()[1].split(",")[2])
    assert lr == pytest.approx(0.2 * 1e-3, rel=1e-12)  # RnC: epoch 1 of 1 runs at lr_min
