"""Configuration of the reproduction: the shared training recipe and what each stage computes.

The recipe is a named :class:`bsam.recipes.Recipe` (``bsam recipes``); by default the one of the
data set (:func:`bsam.recipes.default_recipe`): ``synth`` for the embedded benchmark, chosen on
*validation* MAE of ``agedb-synth`` (never on test; ``docs/reproduce.md``), the papers' protocols
for the real data sets. ``Recipe`` is importable from here under its old name.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bsam.recipes import Recipe, default_recipe, get_recipe

__all__ = ["Recipe", "ReproduceConfig", "RunSpec", "plan_runs", "METHOD_LABELS", "ABLATION_RHOS"]

#: Display names of the methods, as in the paper's tables.
METHOD_LABELS: dict[str, str] = {
    "vanilla": "Vanilla",
    "sqinv": "SQINV",
    "lds": "LDS",
    "sam": "SQINV + SAM",
    "imbsam": "SQINV + ImbSAM",
    "imbsam-mean": "SQINV + ImbSAM (batch mean)",
    "bsam": "SQINV + BSAM",
    "bsam-vanilla-descent": "BSAM (vanilla L1 descent)",
    "bsam-inv": "SQINV + BSAM (INV perturbation)",
}

#: The radii of the paper's Figure 2.
ABLATION_RHOS: tuple[float, ...] = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class RunSpec:
    """One training run of the reproduction: a name, a seed and the TrainConfig fields it sets."""

    name: str
    method: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    purpose: str = "main"

    @property
    def label(self) -> str:
        """Display name for tables."""
        return METHOD_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything ``bsam reproduce`` does; :meth:`quick` gives the tiny test configuration.

    Attributes
    ----------
    data, root:
        Dataset name (``agedb-synth`` by default, ``agedb-dir`` with ``root`` for the paper's
        data) and its folder.
    recipe:
        The training recipe of every run (:class:`bsam.recipes.Recipe`); ``None``: the data
        set's default (:func:`bsam.recipes.default_recipe`). A SAM-family run the recipe gives
        no rho for is refused by :func:`~analyses.reproduce.stages.train_config`, which the
        train stage calls for every run (to name its folder) before training any.
    model, data_kwargs, many, few:
        Overrides of the recipe's model, data-set options (merged key by key) and shot-region
        thresholds; ``None`` keeps the recipe's. They are folded into :attr:`recipe` at
        construction and then read back from it, so ``cfg.model == cfg.recipe.model``.
    methods:
        Methods trained for the MAE tables; ``multi_seed`` of them use every seed in ``seeds``,
        the others only the first.
    tables_5_7:
        Also train BSAM with vanilla L1 descent (Table 5) and with INV perturbation weights
        (Table 7), first seed only.
    ablation_rho:
        Train SAM, ImbSAM and BSAM at every radius of :data:`ABLATION_RHOS` (Figure 2).
    surface_methods, surface_points_2d, surface_points_1d, surface_span:
        Methods whose first-seed model gets a 2D (``n x n``) and a 1D surface over
        ``[-span, span]`` in filter-normalized random directions, on the test split.
    hessian_methods, hessian_region_methods, hessian_regions, lanczos_iters, trace_rel_se, trace_max_matvecs:
        Methods whose models (every seed) get lambda_max and the trace (Tr(G) of the
        Gauss-Newton J^T J / M by default) of the few-shot region, on the test split and on the
        few-shot training samples; the first-seed model of each ``hessian_region_methods``
        method (of these) also gets every region of ``hessian_regions`` on the test split; the Lanczos budget, the trace's target relative
        standard error and its budget of matrix-vector products (``max_trace_hvps`` is the old,
        deprecated name, still accepted by the constructor, :meth:`replace` and
        :meth:`from_dict`, and readable as an attribute).
    curvature:
        ``"hessian"`` or ``"ggn"``; ``hessian_loss`` the loss whose curvature is measured.
    density, density_probes, density_steps:
        Also estimate the spectral density (stochastic Lanczos quadrature) of the first seed's
        models on the test split, with this many probes and Lanczos steps.
    gram_max_bytes:
        Memory budget of the exact Gauss-Newton values (Gram matrix ``J J^T / M``): every region
        of the Hessian stage whose Jacobian and Gram matrix fit gets exact lambda_max, lambda_min
        and trace (no stochastic error) instead of Lanczos + Hutch++; 0 turns it off.
    exact_trace:
        With the Gauss-Newton curvature, the regions too large for the Gram matrix get the
        exact trace too (``J`` streamed in blocks, one pass of per-element gradients;
        :func:`analyses.sharpness.gram.gauss_newton_trace`) instead of Hutch++; Lanczos still
        gives their lambda_max. False (or ``gram_max_bytes=0``, which turns every exact value
        off) restores Hutch++ there.
    sharpness_methods, sharpness_measures, sharpness_min_samples:
        The ``sharpness`` stage: per-bin sharpness profiles (:mod:`analyses.sharpness`) on the
        test split of every seed of these methods, with these measures (of
        :data:`analyses.sharpness.METHODS`) and at least this many test samples per bin window;
        the training split gives each window's generalization gap.
    sharpness_radius, sharpness_directions, sharpness_rho, sharpness_steps:
        Average-case sharpness (radius, random directions) and worst-case rho-sharpness (rho,
        projected gradient ascent steps).
    sharpness_primary:
        The measure of the report's figures and of its balanced-flatness reading.
    """

    data: str = "agedb-synth"
    root: str | None = None
    data_kwargs: dict[str, Any] | None = None
    model: str | None = None
    device: str = "auto"
    out: str = "results/reproduce"
    recipe: Recipe | None = None
    methods: tuple[str, ...] = ("vanilla", "sqinv", "sam", "imbsam", "bsam")
    seeds: tuple[int, ...] = (0, 1, 2)
    multi_seed: tuple[str, ...] = ("vanilla", "sqinv", "sam", "imbsam", "bsam")
    tables_5_7: bool = True
    ablation_rho: bool = False
    surface_methods: tuple[str, ...] = ("vanilla", "sqinv", "bsam")
    surface_points_2d: int = 21
    surface_points_1d: int = 41
    surface_span: float = 1.0
    hessian_methods: tuple[str, ...] = ("vanilla", "sqinv", "sam", "imbsam", "bsam")
    hessian_region_methods: tuple[str, ...] = ("sqinv", "bsam")
    hessian_regions: tuple[str, ...] = ("all", "many", "medium", "few")
    hessian_loss: str = "l1"
    curvature: str = "ggn"
    lanczos_iters: int = 40
    trace_rel_se: float = 0.05
    trace_max_matvecs: int = 300
    density: bool = True
    density_probes: int = 1
    density_steps: int = 32
    gram_max_bytes: int = 512 * 2**20
    exact_trace: bool = True
    sharpness_methods: tuple[str, ...] = ("vanilla", "sqinv", "sam", "imbsam", "bsam")
    sharpness_measures: tuple[str, ...] = ("lambda_max", "trace", "average", "worst")
    sharpness_min_samples: int = 10
    sharpness_radius: float = 0.5
    sharpness_directions: int = 4
    sharpness_rho: float = 0.05
    sharpness_steps: int = 5
    sharpness_primary: str = "lambda_max"
    many: int | None = None
    few: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        _fold_recipe(self)
        _check_names("seeds", self.seeds, "e.g. --seeds 0,1,2")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"Invalid seeds {list(self.seeds)}; every seed must be an int >= 0.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Invalid seeds {list(self.seeds)}; a seed is listed twice.")
        _check_names("methods", self.methods, "e.g. --methods vanilla,sqinv,bsam")
        from bsam.train.config import METHODS

        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"Unknown method(s) {unknown}; choose from {sorted(METHODS)}.")
        _check_sharpness(self)
        bad = sorted(set(self.recipe.rho_by_method) - set(METHODS))
        if bad:
            raise ValueError(f"Unknown method(s) {bad} in rho_by_method; use {sorted(METHODS)}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceConfig:
        """Rebuild a configuration from :meth:`to_dict` output (e.g. ``config.json``).

        Unknown keys such as ``version`` are ignored; the old key ``max_trace_hvps`` is accepted.
        """
        names = {f.name for f in dataclasses.fields(cls)} | set(_OLD_KEYS)
        kwargs = {k: v for k, v in data.items() if k in names}
        if isinstance(kwargs.get("recipe"), dict):
            kwargs["recipe"] = Recipe.from_dict(kwargs["recipe"])
        for key in (
            "methods",
            "seeds",
            "multi_seed",
            "surface_methods",
            "hessian_methods",
            "hessian_region_methods",
            "hessian_regions",
            "sharpness_methods",
            "sharpness_measures",
        ):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def quick_config(cls, **overrides: Any) -> ReproduceConfig:
        """Tiny settings exercising every stage in about a minute on 2 CPU cores.

        The recipe is the data set's default recipe's :meth:`~bsam.recipes.Recipe.quick` variant
        (``synth``: 1 epoch on 600 samples per split, thresholds many 5 / few 2 so that every
        region keeps samples) unless ``recipe`` is given; seeds 0 and 1, both for SQINV and
        BSAM only.
        """
        data = overrides.get("data", "agedb-synth")
        base = {
            "recipe": get_recipe(default_recipe(data)).quick(),
            "seeds": (0, 1),
            # two methods on both seeds (the seed loops and the spread), the others on one
            "multi_seed": ("sqinv", "bsam"),
            "surface_points_2d": 5,
            "surface_points_1d": 7,
            "lanczos_iters": 6,
            "trace_rel_se": 0.5,
            "trace_max_matvecs": 20,
            "density_probes": 1,
            "density_steps": 6,
            "sharpness_min_samples": 5,
            "sharpness_directions": 2,
            "sharpness_steps": 2,
            "quick": True,
            "out": "results/reproduce-quick",
        }
        base.update(renamed_keys(overrides))
        return cls(**base)

    def replace(self, **changes: Any) -> ReproduceConfig:
        """A copy with ``changes`` applied.

        A new ``recipe`` brings its own model, data-set options and thresholds unless
        ``changes`` sets them too; ``model=...`` alone changes the current recipe's model.
        """
        changes = renamed_keys(changes)
        if "recipe" in changes:
            for name in _MIRRORED:
                changes.setdefault(name, None)
        return dataclasses.replace(self, **changes)

    @property
    def out_dir(self) -> Path:
        """The output folder."""
        return Path(self.out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description."""
        return dataclasses.asdict(self)


#: Fields of :class:`ReproduceConfig` that override the recipe's and then mirror it.
_MIRRORED: tuple[str, ...] = ("model", "data_kwargs", "many", "few")


def _fold_recipe(cfg: ReproduceConfig) -> None:
    """Set ``cfg.recipe`` (the data set's default when ``None``) with ``cfg``'s overrides
    applied, then ``cfg.model``, ``data_kwargs``, ``many``, ``few`` to the recipe's."""
    recipe = cfg.recipe
    if recipe is None:
        recipe = get_recipe(default_recipe(cfg.data))
    elif isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    elif not isinstance(recipe, Recipe):
        raise ValueError(f"Invalid recipe {recipe!r}; give a bsam.recipes.Recipe (bsam recipes).")
    changes = {name: getattr(cfg, name) for name in _MIRRORED if getattr(cfg, name) is not None}
    if changes:
        recipe = recipe.override(**changes)
    object.__setattr__(cfg, "recipe", recipe)
    for name in _MIRRORED:
        value = getattr(recipe, name)
        object.__setattr__(cfg, name, dict(value) if isinstance(value, dict) else value)


#: Old configuration keys and their current names.
_OLD_KEYS: dict[str, str] = {"max_trace_hvps": "trace_max_matvecs"}


def renamed_keys(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with old keys renamed (a ``DeprecationWarning`` each; the old key wins)."""
    out = dict(kwargs)
    for old, new in _OLD_KEYS.items():
        if old in out:
            warnings.warn(f"{old} is deprecated; use {new}.", DeprecationWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out


def _check_sharpness(cfg: ReproduceConfig) -> None:
    """Refuse unknown sharpness measures, a primary measure not computed, a bad window size."""
    from analyses.sharpness.profile import METHODS as MEASURES

    bad = [m for m in cfg.sharpness_measures if m not in MEASURES]
    if bad or not cfg.sharpness_measures:
        raise ValueError(
            f"Invalid sharpness_measures {list(cfg.sharpness_measures)}; choose one or "
            f"more of {list(MEASURES)}."
        )
    if cfg.sharpness_primary not in (*cfg.sharpness_measures, "gap"):
        raise ValueError(
            f"Invalid sharpness_primary {cfg.sharpness_primary!r}; choose one of "
            f"sharpness_measures {list(cfg.sharpness_measures)} or 'gap'."
        )
    n = cfg.sharpness_min_samples
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Invalid sharpness_min_samples {n!r}; it must be an int >= 1.")
    g = cfg.gram_max_bytes
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise ValueError(f"Invalid gram_max_bytes {g!r}; it must be an int >= 0 (0: no Gram).")


def _check_names(name: str, values: Any, example: str) -> None:
    """Refuse an empty ``seeds``/``methods`` list (it would silently train nothing)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (tuple, list)) or not values:
        raise ValueError(f"Invalid {name} {values!r}; give at least one ({example}).")


_dataclass_init = ReproduceConfig.__init__


@functools.wraps(_dataclass_init)
def _init(self: ReproduceConfig, *args: Any, **kwargs: Any) -> None:
    _dataclass_init(self, *args, **renamed_keys(kwargs))


ReproduceConfig.__init__ = _init  # type: ignore[method-assign]
# The old name still reads: cfg.max_trace_hvps == cfg.trace_max_matvecs.
ReproduceConfig.max_trace_hvps = property(  # type: ignore[attr-defined]
    lambda self: self.trace_max_matvecs, doc="Deprecated name of ``trace_max_matvecs``."
)


def plan_runs(cfg: ReproduceConfig) -> list[RunSpec]:
    """Every training run the configuration needs, in the order they are trained."""
    runs: list[RunSpec] = []
    seen: set[tuple[str, int]] = set()

    def add(spec: RunSpec) -> None:
        if (spec.name, spec.seed) not in seen:
            seen.add((spec.name, spec.seed))
            runs.append(spec)

    for method in cfg.methods:
        seeds = cfg.seeds if method in cfg.multi_seed else cfg.seeds[:1]
        for seed in seeds:
            add(RunSpec(method, method, seed))
    first = cfg.seeds[0]
    if cfg.tables_5_7:
        add(RunSpec("bsam-vanilla-descent", "bsam", first, {"descent_weights": "none"}, "table5"))
        add(RunSpec("bsam-inv", "bsam", first, {"weights": "inv"}, "table7"))
    if cfg.ablation_rho:
        add(RunSpec("sqinv", "sqinv", first, {}, "ablation"))
        for rho in ABLATION_RHOS:
            for method in ("sam", "imbsam", "bsam"):
                if rho == cfg.recipe.rho_by_method.get(method):
                    add(RunSpec(method, method, first, {}, "ablation"))
                else:
                    add(RunSpec(f"{method}-rho{rho:g}", method, first, {"rho": rho}, "ablation"))
    return runs
