"""The numbers that Liu et al. (ICCV 2025) report: every table of the paper, read from its data file.

All of the paper's tables (Tables 1-8, Figure 1's MAEs and the protocol) are in the package data
file ``analyses/reproduce/data/paper_tables.json`` (a copy of the project's
``shared/data/paper_tables.json``; its ``source`` key says where the numbers come from).
:func:`paper_tables` returns it as stored; :data:`PAPER` and :func:`paper_mae` are the per-method
views the report's claims read. A value the paper does not print is ``None``, never guessed.

Rows of Tables 1-3 and 6 are lists over the regions :data:`PAPER_REGIONS` (all, many, medium,
few), as the data file stores them.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = [
    "PAPER",
    "PAPER_SOURCE",
    "PAPER_REGIONS",
    "PAPER_DATA_FILE",
    "paper_tables",
    "paper_mae",
    "region_values",
]

#: The data file inside the package ``analyses.reproduce``.
PAPER_DATA_FILE = "data/paper_tables.json"
#: The order of the regions in every per-region list of the data file.
PAPER_REGIONS: tuple[str, ...] = ("all", "many", "medium", "few")


@functools.cache
def _load() -> str:
    return resources.files("analyses.reproduce").joinpath(PAPER_DATA_FILE).read_text("utf-8")


def paper_tables() -> dict[str, Any]:
    """Every table of the paper as stored in :data:`PAPER_DATA_FILE` (a fresh copy per call).

    Keys: ``source``, ``table1_agedb_dir``, ``table2_imdb_wiki_dir``, ``table3_nyud2_dir``,
    ``table4_bmae``, ``table5_vanilla_descent_agedb_mae``, ``table6_sam_variants_agedb_mae``,
    ``table7_perturbation_weights_agedb_mae``, ``table8_few_shot_hessian_agedb_mean_of_3``,
    ``figure1_agedb_vanilla_mae``, ``figure2``, ``protocol``.
    """
    return json.loads(_load())


def region_values(values: list[float | None] | None) -> dict[str, float | None]:
    """``{region: value}`` of one per-region list of the data file (``None`` where missing)."""
    values = list(values or [])
    if len(values) > len(PAPER_REGIONS):
        raise ValueError(
            f"Invalid per-region list {values}: at most {len(PAPER_REGIONS)} values "
            f"({', '.join(PAPER_REGIONS)}); check {PAPER_DATA_FILE}"
        )
    values += [None] * (len(PAPER_REGIONS) - len(values))
    return dict(zip(PAPER_REGIONS, values))


def _citation(source: str) -> str:
    """The bibliographic part of the data file's ``source`` (before "Numbers as printed")."""
    head = source.split(" Numbers as printed")[0].strip()
    return head.rstrip(".")


def _paper_view() -> dict[str, Any]:
    """:data:`PAPER`: AgeDB-DIR (ResNet-18) MAE and GM per method, Table 8, Figure 1."""
    t = paper_tables()
    t1 = t["table1_agedb_dir"]["rows"]
    t5, t6 = t["table5_vanilla_descent_agedb_mae"], t["table6_sam_variants_agedb_mae"]
    t7 = t["table7_perturbation_weights_agedb_mae"]
    mae_rows = {  # our method name -> the paper's row
        "vanilla": t1["Vanilla (reproduced)"]["mae"],
        "sqinv": t1["SQINV (reproduced)"]["mae"],
        "lds": t1["LDS (reproduced)"]["mae"],
        "bsam": t1["BSAM (ours)"]["mae"],
        "sam": t6["SQINV + SAM"],
        "imbsam": t6["SQINV + ImbSAM"],
        "bsam-vanilla-descent": t5["Vanilla + BSAM"],
        "bsam-inv": t7["INV-BSAM"],
    }
    gm_rows = {
        "vanilla": t1["Vanilla (reproduced)"]["gm"],
        "sqinv": t1["SQINV (reproduced)"]["gm"],
        "lds": t1["LDS (reproduced)"]["gm"],
        "bsam": t1["BSAM (ours)"]["gm"],
    }
    t8 = t["table8_few_shot_hessian_agedb_mean_of_3"]
    return {
        "mae": {m: region_values(v) for m, v in mae_rows.items()},
        "gm": {m: region_values(v) for m, v in gm_rows.items()},
        "table8": {"sqinv": dict(t8["SQINV"]), "bsam": dict(t8["BSAM"])},
        "figure1": dict(t["figure1_agedb_vanilla_mae"]),
    }


#: Short citation of the paper, from the data file's ``source``.
PAPER_SOURCE: str = _citation(paper_tables()["source"]) + " (AgeDB-DIR: ResNet-18)"

#: The AgeDB-DIR numbers per method of this project (ResNet-18): ``mae``/``gm`` ->
#: method -> region -> value (Table 1's reproduced rows and BSAM, Tables 5-7 for SAM, ImbSAM,
#: BSAM with vanilla descent and with INV weights), ``table8`` (few-shot, mean of 3 runs) and
#: ``figure1`` (the vanilla model's MAE on all and on few-shot test samples).
PAPER: dict[str, Any] = _paper_view()


def paper_mae(method: str, region: str) -> float | None:
    """The paper's AgeDB-DIR MAE for ``method`` on ``region``, or ``None`` where it has none."""
    return PAPER["mae"].get(method, {}).get(region)
