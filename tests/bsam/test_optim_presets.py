"""The official BSAM preset: values read from the authors' code, weights, schedule, errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from bsam.optim import OFFICIAL_BSAM, BSAMPreset, official_bsam_config
from bsam.weights import BalanceWeights

COUNTS = (
    Path(__file__).resolve().parents[2]
    / "bsam"
    / "data"
    / "resources"
    / "agedb_dir_label_counts.csv"
)


def test_official_values():
    agedb = official_bsam_config("agedb-dir")
    imdb = official_bsam_config("imdb-wiki-dir")
    assert (agedb.rho, imdb.rho) == (0.2, 0.05)
    for preset in (agedb, imdb):
        assert preset.method == "bsam"
        assert (preset.weight_scheme, preset.weight_normalize) == ("sqrt_inv", False)
        assert preset.lds is None and preset.weight_clip is None
        assert preset.loss == "l1" and preset.perturb_weighted and preset.descent_weighted
        assert (preset.optimizer, preset.lr, preset.momentum, preset.weight_decay) == (
            "sgd",
            0.2,
            0.9,
            1e-4,
        )
        assert (preset.batch_size, preset.epochs, preset.bn_mode) == (256, 400, "both")
    assert official_bsam_config("agedb-synth") is OFFICIAL_BSAM["agedb-dir"]
    assert official_bsam_config("imdb-synth") is OFFICIAL_BSAM["imdb-wiki-dir"]


def test_to_dict_is_json_safe_and_round_trips():
    preset = official_bsam_config("agedb-dir")
    data = json.loads(json.dumps(preset.to_dict()))
    data["augment"] = tuple(data["augment"])
    assert BSAMPreset(**data) == preset


def test_preset_weights_are_raw_inverse_sqrt_counts():
    preset = official_bsam_config("agedb-dir")
    with COUNTS.open() as fh:
        rows = [(int(r["age"]), int(r["train"])) for r in csv.DictReader(fh)]
    labels = torch.tensor([age for age, n in rows for _ in range(n)], dtype=torch.float64)
    assert len(labels) == 12208
    fitted = BalanceWeights.fit(
        labels,
        1.0,
        scheme=preset.weight_scheme,
        lds=preset.lds,
        clip=preset.weight_clip,
        normalize=preset.weight_normalize,
        lower=float(rows[0][0]),
        upper=float(rows[-1][0]),
    )
    probe = [(age, n) for age, n in rows if n > 0][::7]
    got = fitted.weights(torch.tensor([float(a) for a, _ in probe], dtype=torch.float64))
    expected = torch.tensor([1.0 / math.sqrt(n) for _, n in probe], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
    assert float(fitted.weights(labels).mean()) != pytest.approx(1.0, abs=0.05)  # not rescaled


def test_unknown_dataset_raises():
    with pytest.raises(ValueError, match="No official BSAM configuration for dataset 'nyud2-dir'"):
        official_bsam_config("nyud2-dir")
