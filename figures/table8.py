# %% [markdown]
# # Table 8: largest eigenvalue and trace of the curvature per shot region, SQINV vs BSAM
#
# Few-shot training and test samples for every seed (mean ± std), the other test regions for the
# first seed. See docs/curvature.md for the curvature used. Run
# `python figures/table8.py [--quick] [--out DIR]`.

# %%
from _common import build

cfg, result, section = build("table8_section", stages=("train", "hessian"))
