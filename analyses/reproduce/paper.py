"""The numbers that Liu et al. (ICCV 2025) report for AgeDB-DIR with a ResNet-18.

Only the values this project's design records are listed; anything else is reported as missing
rather than guessed.
"""

from __future__ import annotations

__all__ = ["PAPER", "PAPER_SOURCE", "paper_mae"]

PAPER_SOURCE = "Liu et al., ICCV 2025 (AgeDB-DIR, ResNet-18)"

#: Table 1 (MAE all/many/medium/few), Table 6 (MAE all), Table 8 (few-shot Hessian, mean of 3
#: runs), Figure 1 (vanilla model's MAE on all and on few-shot test samples).
PAPER: dict = {
    "mae": {
        "vanilla": {"all": 6.690, "many": 5.959, "medium": 7.740, "few": 10.688},
        "sqinv": {"all": 6.391, "many": 5.955, "medium": 7.155, "few": 8.390},
        "bsam": {"all": 6.067, "many": 5.801, "medium": 6.304, "few": 7.928},
        "sam": {"all": 6.230},
        "imbsam": {"all": 6.184},
    },
    "table8": {
        "sqinv": {"lambda_max": 141.21, "trace": 653.53},
        "bsam": {"lambda_max": 86.51, "trace": 90.88},
    },
    "figure1": {"all": 6.67, "few": 10.68},
}


def paper_mae(method: str, region: str) -> float | None:
    """The paper's MAE for ``method`` on ``region``, or ``None`` where it is not recorded."""
    return PAPER["mae"].get(method, {}).get(region)
