# %% [markdown]
# # Table 8: largest eigenvalue and trace of the curvature per shot region, SQINV vs BSAM
#
# Few-shot training and test samples for every seed (mean ± std), the other test regions for the
# first seed. See docs/curvature.md for the curvature used. Run
# `python figures/table8.py [--quick] [--out DIR]`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"hessian_regions": ("few",)}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "table8_section", stages=("train", "hessian"), quick=quick, out=out, overrides=overrides
)
show(section, cfg)
