"""The official BSAM training configuration as plain data (one preset per dataset).

Read from the authors' code, github.com/manmanjun/BSAM_for_Imbalanced_Regression (commit
826ac63, ``agedb/train.py``, ``agedb/utils.py``, ``imdb-wiki/train.py`` and the two READMEs),
for Liu, Wang, Duan, Li, "Balanced Sharpness-Aware Minimization for Imbalanced Regression",
ICCV 2025. What that code does, per step of a batch of ``N`` images:

* weights ``w_i = 1 / sqrt(n_{b(y_i)})`` from the training count ``n_b`` of the label's 1-year
  bin: square-root inverse, RAW (not rescaled to mean 1, no LDS, no clipping);
  ``BalanceWeights.fit(train_labels, scheme="sqrt_inv", normalize=False)``;
* the SAME weighted L1 loss ``(1/N) sum_i w_i |f(x_i) - y_i|`` in both passes (perturbation and
  descent);
* SAM perturbation ``eps = rho g / ||g||_2`` with one global norm (they add 1e-16 to the norm and
  restore by subtracting ``eps``; here the weights are copied back, which differs only by
  rounding), rho 0.2 for AgeDB-DIR (README: ``train.py --rho 0.2``) and 0.05 for IMDB-WIKI-DIR
  (README: ``train.py --rho 0.05``);
* base optimizer SGD, lr 0.2, momentum 0.9, weight decay 1e-4, batch 256, 400 epochs, a cosine
  schedule set at the start of every epoch ``e = 1..E``:
  ``lr_e = lr_min + (lr - lr_min) (1 + cos(pi e / E)) / 2`` with ``lr_min = lr * 0.1**3``
  (the Rank-N-Contrast recipe their code is adapted from; not the Adam lr 1e-3, 90 epochs recipe
  of the DIR baselines);
* no BatchNorm handling: both forward passes run in train mode, so the running statistics are
  updated twice per step (``bn_mode="both"``);
* ResNet-18 encoder with a linear regression head (``SupResNet`` of Rank-N-Contrast), 224x224
  inputs, augmentation RandomResizedCrop(224, scale=(0.2, 1)), horizontal flip, colour jitter
  (0.4, 0.4, 0.4, 0.1) with p=0.8, random grayscale p=0.2, normalisation mean = std = 0.5; the
  model with the best validation L1 is tested.

Not verifiable from the code alone: the per-bin count file ``agedb_sqrt_weight.pt`` (binary, made
with the DIR code's ``_prepare_weights(reweight="sqrt_inv")``, which takes ``sqrt`` of the raw
counts without clipping); the presets assume it holds ``sqrt(n_b)`` of the training split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BSAMPreset", "OFFICIAL_BSAM", "official_bsam_config"]

_SOURCE = (
    "https://github.com/manmanjun/BSAM_for_Imbalanced_Regression "
    "(commit 826ac63, agedb/train.py, imdb-wiki/train.py)"
)


@dataclass(frozen=True)
class BSAMPreset:
    """A complete BSAM training configuration, as plain data the training loop turns into flags.

    Attributes
    ----------
    name : str
        Name of the preset.
    dataset : str
        Dataset the configuration was published for (``agedb-dir``, ``imdb-wiki-dir``).
    method : str
        ``"bsam"``.
    rho : float
        SAM radius.
    adaptive : bool
        ASAM scaling (False in the official code).
    weight_scheme : str
        ``BalanceWeights`` scheme (``"sqrt_inv"``).
    weight_normalize : bool
        False: raw ``1/sqrt(n)`` weights, not rescaled to mean 1.
    lds : dict or None
        LDS smoothing of the counts (None: none).
    weight_clip : tuple or None
        Weight clipping (None: none).
    loss : str
        Element-wise loss of both passes (``"l1"``).
    perturb_weighted, descent_weighted : bool
        Whether the perturbation / descent loss uses the balance weights (both True: the same
        weighted L1 in both passes).
    bn_mode : str
        ``sam_step`` BatchNorm mode reproducing the code (``"both"``).
    optimizer : str
        Base optimizer name (``"sgd"``); ``lr``, ``momentum``, ``weight_decay`` its options.
    batch_size, epochs : int
        Batch size and number of epochs.
    lr_schedule : str
        ``"cosine"``: ``lr_e = lr_min + (lr - lr_min)(1 + cos(pi e / epochs)) / 2`` at the start
        of epoch ``e = 1..epochs``, ``lr_min = lr * lr_min_factor``.
    lr_min_factor : float
        ``lr_min / lr`` (``0.1**3``).
    model : str
        Backbone (``"resnet18"`` with a linear head).
    image_size : int
        Training crop size.
    augment : tuple of str
        Training augmentations.
    source : str
        Where the values were read.
    """

    name: str
    dataset: str
    rho: float
    method: str = "bsam"
    adaptive: bool = False
    weight_scheme: str = "sqrt_inv"
    weight_normalize: bool = False
    lds: dict[str, Any] | None = None
    weight_clip: tuple[float, float] | None = None
    loss: str = "l1"
    perturb_weighted: bool = True
    descent_weighted: bool = True
    bn_mode: str = "both"
    optimizer: str = "sgd"
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 256
    epochs: int = 400
    lr_schedule: str = "cosine"
    lr_min_factor: float = 1e-3
    model: str = "resnet18"
    image_size: int = 224
    augment: tuple[str, ...] = field(default=("crop", "flip", "color", "grayscale"))
    source: str = _SOURCE

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (for configs and provenance)."""
        out = asdict(self)
        out["augment"] = list(self.augment)
        if self.weight_clip is not None:
            out["weight_clip"] = list(self.weight_clip)
        return out


#: The official BSAM configurations, by dataset name.
OFFICIAL_BSAM: dict[str, BSAMPreset] = {
    "agedb-dir": BSAMPreset(name="official-bsam-agedb-dir", dataset="agedb-dir", rho=0.2),
    "imdb-wiki-dir": BSAMPreset(
        name="official-bsam-imdb-wiki-dir", dataset="imdb-wiki-dir", rho=0.05
    ),
}

# The embedded benchmarks follow the label counts of the real datasets.
_ALIASES = {"agedb-synth": "agedb-dir", "imdb-synth": "imdb-wiki-dir"}


def official_bsam_config(dataset: str = "agedb-dir") -> BSAMPreset:
    """The official BSAM configuration for ``dataset``.

    Parameters
    ----------
    dataset : str, default "agedb-dir"
        ``"agedb-dir"`` (rho 0.2) or ``"imdb-wiki-dir"`` (rho 0.05); the embedded benchmarks
        ``"agedb-synth"`` / ``"imdb-synth"`` get the configuration of the dataset whose label
        counts they copy.

    Returns
    -------
    BSAMPreset
        Frozen dataclass; ``.to_dict()`` gives the JSON-safe form.
    """
    key = _ALIASES.get(dataset, dataset)
    if key not in OFFICIAL_BSAM:
        choices = sorted([*OFFICIAL_BSAM, *_ALIASES])
        raise ValueError(
            f"No official BSAM configuration for dataset {dataset!r}; choose from {choices}"
        )
    return OFFICIAL_BSAM[key]
