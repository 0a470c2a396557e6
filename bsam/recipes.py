"""Named training recipes: every value of a training protocol in one inspectable object.

A :class:`Recipe` holds what a protocol fixes for every method of a comparison: model, optimizer,
learning-rate schedule, epochs, batch, descent loss, augmentation, evaluation transform, the SAM
radius of each SAM-family method, the checkpoint metric, the shot-region thresholds and the
balance weights, with the files its values were read from. :data:`RECIPES` holds

* ``synth``: the embedded benchmark's CPU recipe (the defaults of :class:`Recipe`, chosen on
  validation MAE of ``agedb-synth``; ``docs/reproduce.md``);
* ``rnc-agedb`` / ``rnc-imdb``: the Rank-N-Contrast protocol that the official BSAM code trains
  AgeDB-DIR / IMDB-WIKI-DIR with;
* ``dir-nyud2``: the DIR protocol of NYUD2-DIR.

:func:`resolve_recipe` applies a TOML/YAML config file and explicit overrides (flags) to a named
recipe: the flags win over the file, the file over the recipe. This module imports neither torch
nor numpy, so ``bsam recipes`` starts fast.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Recipe",
    "RECIPES",
    "SAM_FAMILY",
    "get_recipe",
    "resolve_recipe",
    "default_recipe",
    "load_config_file",
    "format_recipe",
]

#: The SAM-family methods of the paper's comparison, whose radii ``rho=x`` sets (methods of
#: ``bsam.train.config`` whose step is not ``plain``, written out so that this module imports no
#: torch; another such method takes :attr:`Recipe.rho`).
SAM_FAMILY: tuple[str, ...] = ("sam", "imbsam", "bsam")
#: Fields holding a dict: an override merges into it key by key instead of replacing it.
_MERGED: tuple[str, ...] = ("model_kwargs", "data_kwargs", "rho_by_method", "quick_overrides")
_UNSET: Any = object()


@dataclass(frozen=True)
class Recipe:
    """One training protocol (its defaults are the ``synth`` recipe, defined nowhere else).

    Attributes
    ----------
    name, description
        Registry key and one line for ``bsam recipes``.
    model, model_kwargs
        :func:`bsam.models.build_model` name and keyword arguments.
    optimizer, lr, momentum, weight_decay
        Base optimizer (``sgd``/``adam``) and its options (``momentum=None``: not used, Adam).
    schedule, lr_min_factor
        :mod:`bsam.train.schedule` name and the floor of ``cosine-epoch`` (``lr * lr_min_factor``).
    epochs, batch_size
        Training length and global batch.
    descent_loss, weights
        Element-wise loss of the descent pass and the balance scheme (SQINV: ``sqrt_inv``).
    augmentation, eval_transform, img_size
        Names of the train-time augmentation and the evaluation transform (applied by the data
        set itself) and the input side passed to the data set as ``img_size`` (``None``: the
        data set's own size; the synthetic sets render at that side).
    channels_last
        Train in the ``channels_last`` memory format (:attr:`bsam.train.TrainConfig.channels_last`:
        the same model, a faster convolution layout on CPU; the numbers differ from the default
        layout only by rounding).
    rho_by_method, rho_note
        SAM radius per SAM-family method, and why one is missing (empty: none is).
    select
        Validation metric of ``best.pt`` (``mae``, ``bmae``, ``rmse``).
    many, few, regions_note
        Shot-region thresholds on training-bin counts (``None``: regions from elsewhere, said in
        ``regions_note``).
    data_kwargs
        Further data-set options.
    quick_overrides
        What :meth:`quick` changes: a tiny variant on the same code path.
    source, notes
        Where the values were read (repository and file) and what the recipe departs from.
    """

    name: str = "synth"
    description: str = "the embedded agedb-synth benchmark on CPU, chosen on its validation MAE"
    model: str = "resnet8"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float | None = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    lr_min_factor: float = 0.0
    epochs: int = 24
    batch_size: int = 128
    descent_loss: str = "l1"
    weights: str = "sqrt_inv"
    augmentation: str = "synth"
    eval_transform: str = "none"
    img_size: int | None = 16
    channels_last: bool = True
    rho_by_method: dict[str, float] = field(
        default_factory=lambda: {"sam": 0.2, "imbsam": 0.2, "bsam": 0.2}
    )
    rho_note: str = ""
    select: str = "mae"
    many: int | None = 100
    few: int | None = 20
    regions_note: str = ""
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    quick_overrides: dict[str, Any] = field(
        default_factory=lambda: {"epochs": 1, "many": 5, "few": 2, "data_kwargs": {"limit": 600}}
    )
    source: tuple[str, ...] = (
        "analyses/reproduce/config.py (the embedded recipe, before bsam.recipes)",
        "docs/reproduce.md, docs/training.md (the search on validation MAE of agedb-synth)",
    )
    notes: str = (
        "augmentation 'synth': random crop with padding and horizontal flip on batches "
        "(bsam.data.augment_batch); the faces are rendered at 16x16 (img_size 16; --img-size 32 "
        "gives the 32 px pictures, 2.3x slower per epoch and further from converged at the same "
        "budget) and need no evaluation transform; rho 0.2 beat 0.05 on mean validation MAE of "
        "SAM, ImbSAM and BSAM (at 32 px). Not converged: on validation the 24-epoch models are "
        "5-15 % above the same recipe run for 72 epochs (bench/bench_convergence.py, seed 0), "
        "and the ranking of the methods changes with the budget; docs/reproduce.md has the "
        "search and the measurements"
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(self.name, f.name, getattr(self, f.name)))
        unknown = sorted(set(self.quick_overrides) - set(_FIELD_NAMES))
        if unknown:
            raise ValueError(f"Invalid quick_overrides keys {unknown} in recipe {self.name!r}.")

    @property
    def rho(self) -> float | None:
        """The radius shared by the SAM-family methods: BSAM's when they differ, ``None`` when
        the recipe gives none (the old ``Recipe.rho``)."""
        values = self.rho_by_method
        if "bsam" in values:
            return values["bsam"]
        return next(iter(values.values()), None)

    def rho_for(self, method: str) -> float | None:
        """The radius of ``method``: its entry of :attr:`rho_by_method`, else :attr:`rho` (a
        plain method's runs record it too).

        Raises
        ------
        ValueError
            For a SAM-family method (a ``bsam.train.config`` method whose step is not plain)
            when the recipe gives no radius at all, with :attr:`rho_note`.
        """
        rho = self.rho_by_method.get(method, self.rho)
        if rho is None and _perturbs(method):
            raise ValueError(
                f"Recipe {self.name!r} gives no rho for method {method!r}: {self.rho_note or 'unknown'}"
                " Pass --rho VALUE (or rho_by_method in --config)."
            )
        return rho

    def override(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` applied; dict fields merge key by key.

        ``rho=x`` sets the radius of every SAM-family method. Unknown keys or values of the wrong
        type raise a one-line ``ValueError``.
        """
        unknown = sorted(set(changes) - set(_FIELD_NAMES) - {"rho"})
        if unknown:
            raise ValueError(
                f"Unknown recipe key(s) {unknown}; known: {sorted([*_FIELD_NAMES, 'rho'])}."
            )
        changes = dict(changes)
        if "rho" in changes:
            rho = _checked(self.name, "rho", changes.pop("rho"))
            changes["rho_by_method"] = {
                **changes.get("rho_by_method", {}),
                **dict.fromkeys(SAM_FAMILY, rho),
            }
        for key in _MERGED:
            if key in changes:
                value = changes[key]
                if not isinstance(value, dict):
                    raise ValueError(_type_error(self.name, key, value, "a table/mapping"))
                changes[key] = {**getattr(self, key), **value}
        return dataclasses.replace(self, **changes)

    def quick(self) -> Recipe:
        """The tiny variant of ``--quick``: :attr:`quick_overrides` applied, same code path."""
        tiny = self.override(**self.quick_overrides)
        return dataclasses.replace(tiny, name=f"{self.name}-quick", quick_overrides={})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (``<out>/recipe.json``, ``config.json``'s ``recipe``)."""
        out = dataclasses.asdict(self)
        out["source"] = list(self.source)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Rebuild from :meth:`to_dict` output, or from the old ``config.json`` recipe (``epochs,
        lr, batch_size, optimizer, weight_decay, schedule, rho``, no ``name``: the rest are
        those of the embedded recipe of that time, ``synth-32px``).

        A stored recipe from before ``channels_last`` (or ``img_size``) existed trained without
        it (at the data set's own size), and rebuilds so, not with today's defaults.
        """
        unknown = sorted(set(data) - set(_FIELD_NAMES) - {"rho"})
        if unknown:
            raise ValueError(f"Unknown recipe key(s) {unknown}; known: {sorted(_FIELD_NAMES)}.")
        if "name" not in data:
            return RECIPES["synth-32px"].override(**data)
        return cls(**{**_BEFORE_FIELDS, **data})


def _perturbs(method: str) -> bool:
    """Whether ``method`` takes a SAM radius (imports ``bsam.train.config``, hence torch)."""
    if method in SAM_FAMILY:
        return True
    from bsam.train.config import METHODS

    return method in METHODS and METHODS[method].step != "plain"


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Recipe))
#: What a stored recipe without these (later) fields trained with.
_BEFORE_FIELDS: dict[str, Any] = {"img_size": None, "channels_last": False}
#: Field -> (accepted Python types, whether None is accepted).
_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "model_kwargs": ((dict,), False),
    "data_kwargs": ((dict,), False),
    "rho_by_method": ((dict,), False),
    "quick_overrides": ((dict,), False),
    "source": ((tuple, list), False),
    "lr": ((float,), False),
    "momentum": ((float,), True),
    "weight_decay": ((float,), False),
    "lr_min_factor": ((float,), False),
    "rho": ((float,), False),
    "epochs": ((int,), False),
    "batch_size": ((int,), False),
    "img_size": ((int,), True),
    "channels_last": ((bool,), False),
    "many": ((int,), True),
    "few": ((int,), True),
}
_POSITIVE: tuple[str, ...] = ("lr", "rho", "epochs", "batch_size", "img_size", "many", "few")


def _type_error(recipe: str, key: str, value: Any, expected: str) -> str:
    return f"Invalid recipe value {key}={value!r} (recipe {recipe!r}): expected {expected}."


def _checked(recipe: str, key: str, value: Any) -> Any:
    """``value`` of field ``key`` checked and normalized (float fields accept ints and numeric
    strings such as YAML 1.1's ``1e-3``), or a one-line ``ValueError``."""
    types, nullable = _TYPES.get(key, ((str,), False))
    if value is None and nullable:
        return None
    if types == (float,):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(_type_error(recipe, key, value, "a number")) from None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(_type_error(recipe, key, value, "a number"))
        value = float(value)
    elif types == (int,):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(_type_error(recipe, key, value, "a whole number"))
    elif types == (bool,):
        if not isinstance(value, bool):
            raise ValueError(_type_error(recipe, key, value, "true or false"))
    elif not isinstance(value, types) or isinstance(value, bool):
        expected = {dict: "a table/mapping", str: "a string"}.get(types[0], "a list")
        raise ValueError(_type_error(recipe, key, value, expected))
    if key in _POSITIVE and value <= 0 or key in ("weight_decay", "lr_min_factor") and value < 0:
        raise ValueError(_type_error(recipe, key, value, "a value > 0" if key in _POSITIVE else ">= 0"))
    if key == "source":
        return tuple(str(v) for v in value)
    if key == "rho_by_method":
        return {str(k): _checked(recipe, "rho", v) for k, v in value.items()}
    if isinstance(value, dict):
        return dict(value)
    return value


_RNC = "kaiwenzha/Rank-N-Contrast"
_BSAM = "manmanjun/BSAM_for_Imbalanced_Regression"
_DIR = "YyzHarry/imbalanced-regression"


def _rnc(name: str, data: str, rho: float, readme: str) -> Recipe:
    """The Rank-N-Contrast protocol of the official BSAM code on ``data``."""
    return Recipe(
        name=name,
        description=f"{data} as the official BSAM code trains it (Rank-N-Contrast protocol, GPU)",
        model="resnet18",
        optimizer="sgd",
        lr=0.2,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine-epoch",
        lr_min_factor=1e-3,
        epochs=400,
        batch_size=256,
        descent_loss="l1",
        weights="sqrt_inv",
        augmentation="rnc",
        eval_transform="resize256-center224",
        img_size=224,
        channels_last=False,
        rho_by_method=dict.fromkeys(SAM_FAMILY, rho),
        rho_note=(
            f"{readme} runs train.py --rho {rho:g} for BSAM; the code states no radius for SAM "
            "and ImbSAM, which take the same one (the paper's Figure 2 compares the three at "
            "equal rho)"
        ),
        select="mae",
        many=100,
        few=20,
        # --quick trains resnet8 at 32 px: ResNet-18's 11 M parameters make the curvature and
        # sharpness stages take tens of minutes even on 150 images; the data set, its
        # transforms and every stage still run as in the full recipe.
        quick_overrides={
            "epochs": 1, "batch_size": 16, "img_size": 32, "many": 5, "few": 2, "model": "resnet8",
        },
        source=(
            f"{_RNC} main_l1.py (batch 256, 400 epochs, lr 0.2, lr_decay_rate 0.1, wd 1e-4, "
            "momentum 0.9, ResNet-18 SupResNet, L1 loss, best by validation L1)",
            f"{_RNC} utils.py (get_transforms: RandomResizedCrop(224, scale=(0.2, 1)), "
            "RandomHorizontalFlip, RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8), "
            "RandomGrayscale(p=0.2), Normalize(0.5, 0.5); eval Resize(256) + CenterCrop(224); "
            "adjust_learning_rate: eta_min = lr * 0.1**3, cosine over epochs 1..E)",
            f"{_BSAM} agedb/train.py, imdb-wiki/train.py (the same options, SGD, "
            "adjust_learning_rate at the start of every epoch, best by validation L1)",
            f"{_BSAM} {readme} (--rho {rho:g})",
            "bsam/optim/presets.py (OFFICIAL_BSAM)",
        ),
        notes=(
            "ResNet-18 from scratch: the RnC/BSAM code builds its own ResNet-18 (SupResNet: "
            "7x7 stem + max-pool, 512-d feature, linear head), here torchvision's resnet18 with "
            "a 1-output head; shot thresholds many > 100, few < 20 training samples per 1-year "
            "bin (DIR). The official code's BSAM uses raw 1/sqrt(n) weights in both passes "
            "and updates BatchNorm twice: that is the preset 'bsam-official', not this recipe, "
            "whose weights are rescaled to mean 1. augmentation 'rnc' and eval_transform are "
            "applied by the agedb-dir/imdb-wiki-dir data sets (bsam.data.transforms)."
        ),
    )


_DIR_NYUD2 = Recipe(
    name="dir-nyud2",
    description="NYUD2-DIR depth as the DIR code trains it (ResNet-50 encoder-decoder, GPU)",
    model="nyud2-resnet50",
    model_kwargs={"pretrained": "imagenet"},
    optimizer="adam",
    lr=1e-4,
    momentum=None,
    weight_decay=1e-4,
    schedule="dir-step",
    lr_min_factor=0.0,
    epochs=10,
    batch_size=32,
    descent_loss="mse",
    weights="sqrt_inv",
    augmentation="dir-nyud2",
    eval_transform="scale240-center304x228",
    img_size=None,
    channels_last=False,
    rho_by_method={},
    rho_note=(
        "the official BSAM code gives no rho for NYUD2-DIR; choose it on validation over the "
        "paper's {0.05, 0.1, 0.2} (Figure 2)."
    ),
    select="rmse",
    many=None,
    few=None,
    regions_note=(
        "shot regions from DIR's hard-coded bucket lists (nyud2-dir/util.py Evaluator.shot_idx, "
        "100 bins of 0.1 m), not count thresholds; test metrics on test_balanced_mask.npy"
    ),
    quick_overrides={
        "epochs": 1,
        "batch_size": 4,
        "model_kwargs": {"pretrained": None, "backbone": "resnet18"},
    },
    source=(
        f"{_DIR} nyud2-dir/train.py (Adam, lr 1e-4, weight_decay 1e-4, batch 32, 10 epochs, "
        "adjust_learning_rate: lr * 0.1**(epoch // 5), loss mean((output - depth)**2 * weight), "
        "--reweight sqrt_inv, best checkpoint by RMSE)",
        f"{_DIR} nyud2-dir/loaddata.py (SQINV bucket weights scaled to mean 1 over the training "
        "pixels, buckets below 7 take bucket 7's count; train Scale(240), flip, rotate 5, "
        "CenterCrop(304x228 image, 152x114 depth), PCA lighting 0.1, ColorJitter(0.4, 0.4, 0.4), "
        "ImageNet normalization; test Scale(240) + CenterCrop(304x228))",
        f"{_DIR} nyud2-dir/util.py (Evaluator.shot_idx: the many/medium/few bucket lists)",
        f"{_DIR} nyud2-dir/models/net.py, modules.py (ResNet-50 encoder-decoder of Hu et al.)",
    ),
    notes=(
        "The DIR code starts the encoder from ImageNet weights (resnet50(pretrained=True)): "
        "model_kwargs pretrained='imagenet' reads torchvision's file from the torch hub cache "
        "(never downloaded; set it to a .pth path or null otherwise). It picks the best epoch on the test set (it has no validation split; the nyud2-dir data "
        "set here uses test as validation too). momentum: Adam's betas are torch's defaults "
        "(0.9, 0.999). rho: unknown, give --rho for sam/imbsam/bsam."
    ),
)

#: The embedded recipe before it moved to 16 px (until 2026-12-01): 32 px, 12 epochs, the default
#: memory format. Its runs resolve to the very run folders of that time (tested), so results
#: made then stay comparable; an old ``config.json`` recipe without a name is this one.
_SYNTH_32PX = Recipe(
    name="synth-32px",
    description="the embedded benchmark's earlier recipe: 32 px faces, 12 epochs (not converged)",
    epochs=12,
    img_size=None,
    channels_last=False,
    notes=(
        "the synth recipe as it was until 2026-12-01: the rendered 32x32 faces, 12 epochs; on "
        "validation 17-26 % above the same recipe run for 36 epochs (bench_convergence, "
        "docs/reproduce.md); kept so that earlier results can be rerun and compared"
    ),
)

#: The registry of named recipes.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(),
        _SYNTH_32PX,
        _rnc("rnc-agedb", "AgeDB-DIR", 0.2, "agedb/README.md"),
        _rnc("rnc-imdb", "IMDB-WIKI-DIR", 0.05, "imdb-wiki/README.md"),
        _DIR_NYUD2,
    )
}

#: The default recipe of each data set (a name ending in ``-synth`` takes ``synth``).
_DEFAULTS: dict[str, str] = {
    "agedb-dir": "rnc-agedb",
    "imdb-wiki-dir": "rnc-imdb",
    "nyud2-dir": "dir-nyud2",
}


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name`` (a one-line ``ValueError`` naming the choices)."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; choose from {sorted(RECIPES)} (bsam recipes).")
    return RECIPES[name]


def default_recipe(data: str) -> str:
    """The name of the default recipe of data set ``data``."""
    if data in _DEFAULTS:
        return _DEFAULTS[data]
    if data.endswith("-synth"):
        return "synth"
    raise ValueError(
        f"No default recipe for data set {data!r}; pass --recipe NAME (one of {sorted(RECIPES)})."
    )


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping of a ``.toml`` (stdlib ``tomllib``) or ``.yaml``/``.yml`` (PyYAML) file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ValueError(f"Invalid config file {path}: use a .toml, .yaml or .yml file.")
    text = path.read_text(encoding="utf-8")  # FileNotFoundError is a user error too
    if suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"Invalid TOML in {path}: {err}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ValueError(
                f"Reading {path} needs PyYAML: pip install pyyaml (or use a .toml file)."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"Invalid YAML in {path}: {' '.join(str(err).split())}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"Invalid config file {path}: expected a mapping of recipe keys.")
    return data


def resolve_recipe(
    name: str | None = None,
    overrides: dict[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    *,
    data: str | None = None,
    quick: bool = False,
) -> Recipe:
    """The recipe ``name`` (its :meth:`~Recipe.quick` variant with ``quick``) with the config
    file's keys, then ``overrides``, applied: the flags win over the file, the file over the
    recipe and ``quick``.

    Parameters
    ----------
    name : str, optional
        A key of :data:`RECIPES`. ``None``: the file's ``recipe`` key, else
        :func:`default_recipe` of ``data``, else ``synth``.
    overrides : dict, optional
        Recipe fields (and ``rho``: every SAM-family method's radius) set explicitly, e.g. by
        command-line flags; they win over the file.
    config_file : path, optional
        TOML or YAML mapping of recipe fields (plus an optional ``recipe`` key naming the base).
    data : str, optional
        Data set whose default recipe is the base when neither ``name`` nor the file names one.
    quick : bool
        Start from the tiny ``--quick`` variant of the recipe.
    """
    from_file = load_config_file(config_file) if config_file is not None else {}
    base = from_file.pop("recipe", None)
    if name is None:
        name = base if base is not None else default_recipe(data) if data else "synth"
    recipe = get_recipe(name)
    if quick:
        recipe = recipe.quick()
    if from_file:
        try:
            recipe = recipe.override(**from_file)
        except ValueError as err:
            raise ValueError(f"{config_file}: {err}") from None
    return recipe.override(**(overrides or {}))


def format_recipe(recipe: Recipe) -> str:
    """Human-readable, one field a line (``bsam recipes NAME``, ``--show-recipe``)."""
    lines = [f"recipe {recipe.name}: {recipe.description}"]
    for key, value in recipe.to_dict().items():
        if key in ("name", "description"):
            continue
        if key == "source":
            lines.append("  source:")
            lines.extend(f"    - {s}" for s in value)
        elif value not in ("", None, {}) or key in ("rho_by_method", "momentum"):
            shown = json.dumps(value) if isinstance(value, dict) else value
            lines.append(f"  {key}: {shown}")
    return "\n".join(lines)


def _wrap_init() -> None:
    """Let ``Recipe(rho=0.2)`` (the old ``analyses.reproduce.config.Recipe``) set every
    SAM-family radius."""
    init = Recipe.__init__

    @functools.wraps(init)
    def __init__(self: Recipe, *args: Any, rho: Any = _UNSET, **kwargs: Any) -> None:
        if rho is not _UNSET:
            name = kwargs.get("name", "synth")
            rho = _checked(name, "rho", rho)
            kwargs["rho_by_method"] = dict.fromkeys(SAM_FAMILY, rho)
        init(self, *args, **kwargs)

    Recipe.__init__ = __init__  # type: ignore[method-assign]


_wrap_init()
