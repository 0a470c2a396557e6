"""The training configuration: one dataclass, a registry of methods and the official-BSAM preset.

A method is a point in the space (step rule) x (descent-loss weights) x (perturbation weights):

===========  ===========  =======================  =========================================
method       step         descent weights default  perturbation gradient
===========  ===========  =======================  =========================================
vanilla      plain        none                     -
sqinv        plain        ``weights``              -
lds          plain        ``weights`` + LDS        -
sam          SAM          sqrt_inv (SQINV+SAM)     uniform-weighted descent loss
imbsam       ImbSAM       sqrt_inv (SQINV+ImbSAM)  tail (few-shot) part, x2 (official code)
imbsam-mean  ImbSAM       sqrt_inv (SQINV+ImbSAM)  tail part, x1 (head + tail = batch mean)
bsam         BSAM         sqrt_inv (SQINV+BSAM)    ``weights``-weighted descent loss
===========  ===========  =======================  =========================================

``imbsam`` is the official ImbSAM code's computation (github cool-xuan/Imbalanced_SAM,
``utils/trainval.py``: tail loss ``sum / N * 2`` at theta and theta + eps, the model in train mode
for both passes, so ``bn_mode`` defaults to ``both``); ``imbsam-mean`` keeps the earlier variant of
this project (tail factor 1, ``bn_mode`` ``first``), see :mod:`bsam.optim.imbsam`.

``descent_weights="none"`` with ``method="bsam"`` is the paper's Table 5 row (vanilla L1 descent,
balanced perturbation); ``weights="inv"`` vs ``"sqrt_inv"`` with BSAM is its Table 7.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# ``bn_mode`` and ``perturb_sync`` values are defined once, by the steps that read them.
from bsam.optim.batchnorm import BN_MODES
from bsam.optim.step import PERTURB_SYNC

__all__ = [
    "TrainConfig",
    "Method",
    "METHODS",
    "PRESETS",
    "WEIGHT_SCHEMES",
    "DESCENT_LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "SELECT_METRICS",
    "PERTURB_SYNC",
    "DEFAULT_LDS",
    "RUNTIME_FIELDS",
    "BN_MODES",
    "AMP_MODES",
]

#: Balance-weight schemes understood by :class:`bsam.weights.BalanceWeights`.
WEIGHT_SCHEMES: tuple[str, ...] = ("none", "sqrt_inv", "inv")
#: Element-wise regression losses in :data:`bsam.losses.LOSSES` usable as descent loss.
DESCENT_LOSSES: tuple[str, ...] = ("l1", "mse", "huber")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
#: ``cosine-epoch`` is the Rank-N-Contrast schedule (set at the start of each epoch, down to
#: ``lr * lr_min_factor``), ``dir-step`` DIR's NYUD2 schedule (x0.1 every 5 epochs); see
#: :mod:`bsam.train.schedule`.
SCHEDULES: tuple[str, ...] = ("cosine", "step", "none", "cosine-epoch", "dir-step")
#: Validation metrics that pick ``best.pt`` (lower is better for each).
SELECT_METRICS: tuple[str, ...] = ("mae", "bmae", "rmse")
#: Mixed-precision modes of ``TrainConfig.amp`` (``torch.autocast`` dtypes; ``off``: float32).
AMP_MODES: tuple[str, ...] = ("off", "bf16", "fp16")
#: The LDS smoothing of the DIR paper (Yang et al., 2021): Gaussian kernel, size 5, sigma 2.
DEFAULT_LDS: dict[str, Any] = {"kernel": "gaussian", "ks": 5, "sigma": 2.0}
#: Fields that may change between a run and its resumption (they do not change the result on
#: a given device).
RUNTIME_FIELDS: tuple[str, ...] = ("device", "eval_batch_size", "tensorboard", "tensorboard_steps")
#: Fields left out of :meth:`TrainConfig.to_dict` while they hold these values (logging
#: switches off, options added later at their neutral value), so that the stored config (and
#: every hash of it, e.g. the reproduction's run folders) of a run without them is what it was
#: before they existed.
_OMITTED_AT: dict[str, Any] = {
    "tensorboard": False,
    "tensorboard_steps": False,
    "amp": "off",
    "channels_last": False,
    "lr_min_factor": 0.0,
}


@dataclass(frozen=True)
class Method:
    """One training method of the registry.

    Attributes
    ----------
    name : str
        Registry key (the ``--method`` value).
    step : str
        Update rule: ``"plain"`` (one gradient), ``"sam"`` / ``"bsam"`` (two passes with
        :class:`bsam.optim.SAM` / :class:`bsam.optim.BSAM`), ``"imbsam"`` (head gradient at
        theta, tail gradient at theta + eps; tail factor 2 for method ``imbsam``, 1 for
        ``imbsam-mean``, :class:`bsam.train.methods.ImbSAMRule`).
    descent_weights : str
        Default descent-loss weights: a scheme of :data:`WEIGHT_SCHEMES` or ``"weights"`` for
        "the scheme given by ``TrainConfig.weights``".
    perturb_weighted : bool
        Whether the perturbation gradient uses the balance weights ``TrainConfig.weights``
        (BSAM); otherwise uniform weights (SAM).
    lds : bool
        Whether the descent weights are LDS-smoothed by default.
    description : str
        One line for ``--help`` and the docs.
    bn_mode : str, default "first"
        ``TrainConfig.bn_mode`` when the config leaves it ``None`` (:data:`BN_MODES`).

    How a ``step`` trains (its optimizer, weights, tail and one-call step) is the
    :class:`bsam.train.methods.UpdateRule` registered for it in
    :data:`bsam.train.methods.UPDATE_RULES`.
    """

    name: str
    step: str
    descent_weights: str
    perturb_weighted: bool
    lds: bool
    description: str
    bn_mode: str = "first"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("vanilla", "plain", "none", False, False, "plain descent on the unweighted loss"),
        Method("sqinv", "plain", "weights", False, False, "descent on the balance-weighted loss"),
        Method("lds", "plain", "weights", False, True, "balance weights from LDS-smoothed counts"),
        Method("sam", "sam", "sqrt_inv", False, False, "SAM (uniform perturbation) + SQINV"),
        Method(
            "imbsam",
            "imbsam",
            "sqrt_inv",
            False,
            False,
            "ImbSAM (tail = few-shot) + SQINV, as the official code: tail loss x2, BN both passes",
            bn_mode="both",
        ),
        Method(
            "imbsam-mean",
            "imbsam",
            "sqrt_inv",
            False,
            False,
            "ImbSAM + SQINV with head + tail = the batch mean (tail x1; BN first pass): the step "
            "tends to the SQINV step as rho -> 0, a controlled comparison with SQINV + SAM",
        ),
        Method("bsam", "bsam", "sqrt_inv", True, False, "BSAM (weighted perturbation) + SQINV"),
    )
}

#: Named presets. ``bsam-official`` is the configuration of the official BSAM code
#: (:data:`bsam.optim.OFFICIAL_BSAM`): raw (not mean-1) 1/sqrt(n) weights, the same weighted L1 in
#: both passes, BatchNorm statistics updated by both passes, rho 0.2 (AgeDB) or 0.05 (IMDB-WIKI,
#: chosen when the data name starts with ``imdb``). Its optimiser recipe (ResNet-18, 400 epochs,
#: lr 0.2) is not imposed: epochs, lr and model stay the config's.
PRESETS: tuple[str, ...] = ("bsam-official",)
_DEFAULT_RHO = 0.05


def _preset_fields(name: str, data: str) -> tuple[dict[str, Any], float]:
    """Fields fixed by preset ``name`` for dataset ``data``, and the preset's (default) rho.

    A config that gives one of these fields explicitly must give the preset's value
    (:meth:`TrainConfig.resolve`); ``rho`` may differ (the preset's is only the default).
    """
    from bsam.optim.presets import official_bsam_config

    if name not in PRESETS:
        raise ValueError(f"Invalid preset {name!r}: choose one of {list(PRESETS)} or None")
    official = official_bsam_config(
        "imdb-wiki-dir" if data.lower().startswith("imdb") else "agedb-dir"
    )
    fields = {
        "method": official.method,
        "descent_loss": official.loss,
        "weights": official.weight_scheme,
        "descent_weights": official.weight_scheme if official.descent_weighted else "none",
        "normalize_weights": official.weight_normalize,
        "lds": official.lds is not None,
        "bn_mode": official.bn_mode,
        "adaptive": official.adaptive,
    }
    return fields, float(official.rho)


@dataclass
class TrainConfig:
    """Everything that determines a training run (the resolved form is stored beside it).

    ``None`` fields are resolved by :meth:`resolve` from the method and the preset, so the same
    config written by hand or by the CLI gives the same run. The fields a preset fixes
    (``method``, ``descent_loss``, ``weights``, ``descent_weights``, ``lds``,
    ``normalize_weights``, ``bn_mode``, ``adaptive``) are ``None`` until resolved, so that a value
    given explicitly is told from the default: with a preset, an explicit value must be the
    preset's (else ``ValueError``); without one, ``None`` becomes the default named below.

    Attributes
    ----------
    data, root, data_kwargs, data_seed
        Dataset name for :func:`bsam.data.get_dataset`, its root folder (real datasets), extra
        keyword arguments and the seed of a generated dataset (independent of ``seed``, so runs
        with different seeds see the same data).
    model, model_kwargs
        Model name for :func:`bsam.models.build_model` and its keyword arguments.
    method
        A key of :data:`METHODS` (``None``: ``vanilla``).
    descent_loss
        Element-wise loss of the descent pass (``l1``, ``mse``, ``huber``; ``None``: ``l1``).
    weights
        Balance scheme of the perturbation (``bsam``) and of the descent loss of the sqinv-style
        methods (``sqinv``, ``lds``); ``None``: ``sqrt_inv``.
    descent_weights
        Scheme of the descent-loss weights; ``None`` takes the method's default.
    lds
        LDS-smooth the counts of the descent weights (Gaussian kernel, size 5, sigma 2);
        ``None`` takes the method's default (on for ``lds``).
    normalize_weights
        Rescale balance weights to mean 1 over the training set (``False``: raw ``1/n`` or
        ``1/sqrt(n)``, as in the official BSAM code); ``None``: ``True``.
    rho, adaptive
        Radius of the SAM-family perturbation (``None``: 0.05, or the preset's value) and ASAM
        scaling (``None``: ``False``).
    epochs, lr, batch_size, optimizer, momentum, weight_decay, schedule
        Optimisation: the base optimizer (``sgd`` with momentum, or ``adam``), its learning rate
        and weight decay, and the learning-rate schedule (``cosine`` annealing to 0 over all
        steps, ``step`` (x0.1 at 50% and 75% of the epochs) or ``none``). ``batch_size`` is the
        global batch (all ranks together).
    seed
        Seeds model initialisation, data order and augmentation.
    select
        Validation metric (overall ``mae`` or ``bmae``) that picks ``best.pt``.
    preset
        A key of :data:`PRESETS` or ``None``.
    perturb_sync
        Under DDP: ``global`` perturbs with the all-reduced (exact, global-batch) gradient,
        ``local`` with each rank's own gradient (m-sharpness with m = per-rank batch).
    bn_mode
        Which pass of a two-pass step updates BatchNorm running statistics
        (:data:`bsam.optim.BN_MODES`; ``first``: once per step, like a plain step); ``None``
        takes the method's default (``Method.bn_mode``: ``both`` for ``imbsam``, else ``first``).
    many, few
        Shot-region thresholds on training-bin counts; ImbSAM's tail is the few-shot region.
    augment
        Augment training batches (in-memory datasets that provide ``augment_batch``).
    num_workers
        DataLoader workers for datasets that are not held in memory (real datasets on disk).
    lr_min_factor
        Floor of the ``cosine-epoch`` schedule as a fraction of ``lr`` (Rank-N-Contrast: 1e-3);
        must be 0 for the other schedules.
    amp, channels_last
        Mixed precision (:data:`AMP_MODES`: ``torch.autocast`` in bfloat16 or float16 with loss
        scaling; ``off`` by default) and the ``channels_last`` memory format of the model and
        its inputs. Both change the floating-point result, so they are part of the run's
        identity; while off they are left out of :meth:`to_dict`.
    eval_batch_size, device
        Runtime options: they may differ when a run is resumed.
    tensorboard, tensorboard_steps
        Also write TensorBoard events to ``<run folder>/tensorboard/`` (per epoch the row of
        ``log.csv``; with ``tensorboard_steps``, which implies ``tensorboard``, every step's
        losses too; :mod:`bsam.train.tensorboard`). Runtime options: a run may be resumed with
        or without them, and while off they are left out of :meth:`to_dict`.
    """

    data: str = "agedb-synth"
    root: str | None = None
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    data_seed: int = 0
    model: str = "resnet8"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    descent_loss: str | None = None
    weights: str | None = None
    descent_weights: str | None = None
    lds: bool | None = None
    normalize_weights: bool | None = None
    rho: float | None = None
    adaptive: bool | None = None
    epochs: int = 8
    lr: float = 0.05
    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    lr_min_factor: float = 0.0
    seed: int = 0
    select: str = "mae"
    preset: str | None = None
    perturb_sync: str = "global"
    bn_mode: str | None = None
    many: int = 100
    few: int = 20
    augment: bool = True
    eval_batch_size: int = 1024
    num_workers: int = 0
    device: str = "auto"
    amp: str = "off"
    channels_last: bool = False
    tensorboard: bool = False
    tensorboard_steps: bool = False

    def resolve(self) -> TrainConfig:
        """Return a validated copy with the method and preset defaults filled in.

        Raises
        ------
        ValueError
            For an unknown name, a non-positive number, or an explicit value that contradicts the
            preset (the message names the field, the value and the fix).
        """
        cfg = dataclasses.replace(
            self, data_kwargs=dict(self.data_kwargs), model_kwargs=dict(self.model_kwargs)
        )
        if cfg.preset is not None:  # a field set explicitly (not None) must agree with it
            fields, preset_rho = _preset_fields(cfg.preset, cfg.data)
            for key, value in fields.items():
                current = getattr(cfg, key)
                if current is not None and current != value:
                    raise ValueError(
                        f"Invalid {key} {current!r} for preset {cfg.preset!r}: the preset fixes "
                        f"{key}={value!r}; drop the option (or give {value!r}) or drop the preset"
                    )
                setattr(cfg, key, value)
            if cfg.rho is None:
                cfg.rho = preset_rho
        for key, value in _UNSET_DEFAULTS.items():
            if getattr(cfg, key) is None:
                setattr(cfg, key, value)
        _check_choice("method", cfg.method, tuple(METHODS))
        method = METHODS[cfg.method]
        _check_choice("descent_loss", cfg.descent_loss, DESCENT_LOSSES)
        _check_choice("weights", cfg.weights, WEIGHT_SCHEMES)
        if cfg.descent_weights is None:
            dw = method.descent_weights
            cfg.descent_weights = cfg.weights if dw == "weights" else dw
        _check_choice("descent_weights", cfg.descent_weights, WEIGHT_SCHEMES)
        if cfg.lds is None:
            cfg.lds = method.lds
        if cfg.lds and cfg.descent_weights == "none":
            raise ValueError(
                "Invalid lds True with descent_weights 'none': LDS smooths the counts of balance "
                "weights; choose descent_weights 'sqrt_inv' or 'inv'"
            )
        if method.perturb_weighted and cfg.weights == "none":
            raise ValueError(
                f"Invalid weights 'none' for method {cfg.method!r}: its perturbation is weighted; "
                "use 'sqrt_inv' or 'inv', or method 'sam' for uniform weights"
            )
        if cfg.bn_mode is None:
            cfg.bn_mode = method.bn_mode
        if cfg.rho is None:
            cfg.rho = _DEFAULT_RHO
        _check_positive("rho", cfg.rho)
        _check_positive("lr", cfg.lr)
        _check_positive_int("epochs", cfg.epochs)
        _check_positive_int("batch_size", cfg.batch_size)
        _check_positive_int("eval_batch_size", cfg.eval_batch_size)
        if cfg.weight_decay < 0:
            raise ValueError(f"Invalid weight_decay {cfg.weight_decay}: must be >= 0")
        if not 0 <= cfg.momentum < 1:
            raise ValueError(f"Invalid momentum {cfg.momentum}: must be in [0, 1)")
        if not 0 < cfg.few <= cfg.many:
            raise ValueError(
                f"Invalid thresholds few={cfg.few}, many={cfg.many}: need 0 < few <= many"
            )
        if cfg.num_workers < 0:
            raise ValueError(f"Invalid num_workers {cfg.num_workers}: must be >= 0")
        _check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
        _check_choice("schedule", cfg.schedule, SCHEDULES)
        _check_choice("amp", cfg.amp, AMP_MODES)
        if not 0.0 <= cfg.lr_min_factor < 1.0:
            raise ValueError(
                f"Invalid lr_min_factor {cfg.lr_min_factor}: must be in [0, 1) (e.g. 1e-3)"
            )
        if cfg.lr_min_factor and cfg.schedule != "cosine-epoch":
            raise ValueError(
                f"Invalid lr_min_factor {cfg.lr_min_factor} with schedule {cfg.schedule!r}: "
                "only 'cosine-epoch' has a floor; use --schedule cosine-epoch or drop it"
            )
        _check_choice("select", cfg.select, SELECT_METRICS)
        _check_choice("perturb_sync", cfg.perturb_sync, PERTURB_SYNC)
        _check_choice("bn_mode", cfg.bn_mode, BN_MODES)
        cfg.rho = float(cfg.rho)
        cfg.lr = float(cfg.lr)
        cfg.lds = bool(cfg.lds)
        cfg.lr_min_factor = float(cfg.lr_min_factor)
        cfg.channels_last = bool(cfg.channels_last)
        cfg.tensorboard = bool(cfg.tensorboard or cfg.tensorboard_steps)
        cfg.tensorboard_steps = bool(cfg.tensorboard_steps)
        return cfg

    @property
    def method_spec(self) -> Method:
        """The :class:`Method` registry entry of ``self.method`` (resolved when unset)."""
        method = self.method if self.method is not None else self.resolve().method
        _check_choice("method", method, tuple(METHODS))
        return METHODS[method]

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-safe dict (field name -> value).

        The logging switches (``tensorboard``, ``tensorboard_steps``) and the later options
        ``amp``, ``channels_last`` and ``lr_min_factor`` appear only when set, so the dict of a
        run without them equals the one stored before they existed.
        """
        d = dataclasses.asdict(self)
        for name, neutral in _OMITTED_AT.items():
            if d[name] == neutral:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build a config from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"Invalid config keys {unknown}: TrainConfig has no such fields "
                f"(known: {sorted(names)})"
            )
        return cls(**d)

    def diff(self, other: TrainConfig, *, ignore: tuple[str, ...] = RUNTIME_FIELDS) -> dict:
        """Return ``{field: (self_value, other_value)}`` for every field that differs.

        Fields in ``ignore`` (runtime options) are skipped.
        """
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        return {k: (a[k], b.get(k)) for k in a if k not in ignore and a[k] != b.get(k)}


#: The value :meth:`TrainConfig.resolve` gives a preset-governed field that neither the config
#: nor a preset sets (``None`` in the dataclass, so that "given" and "default" differ). The other
#: ``None`` fields (``descent_weights``, ``lds``, ``bn_mode``, ``rho``) follow the method.
_UNSET_DEFAULTS: dict[str, Any] = {
    "method": "vanilla",
    "descent_loss": "l1",
    "weights": "sqrt_inv",
    "normalize_weights": True,
    "adaptive": False,
}


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Invalid {name} {value!r}: choose one of {list(choices)}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and value > 0 and value == value):
        raise ValueError(f"Invalid {name} value: {value}; {name} must be > 0")


def _check_positive_int(name: str, value: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"Invalid {name} value: {value!r}; {name} must be a positive integer")
