# %% [markdown]
# # Sharpness across the label space: per-bin profiles of Vanilla, SQINV, SAM, ImbSAM and BSAM
#
# Sharpness of every test-bin window (docs/sharpness.md) for every trained seed, over the
# training density: one figure per method and one overlaying the methods, and the
# balanced-flatness table (Spearman correlation between a bin's training count and its
# sharpness, few/many ratio; mean ± std over seeds) with its reading: does BSAM balance
# flatness better than SQINV, and is that SAM's doing or the balance weighting's? Run
# `python figures/sharpness_profile.py [--quick] [--out DIR]`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"sharpness_primary": "trace"}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "sharpness_section", stages=("train", "sharpness"), quick=quick, out=out, overrides=overrides
)
print(section.text)
show(section, cfg)
