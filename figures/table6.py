# %% [markdown]
# # Table 6: SQINV combined with SAM, ImbSAM and BSAM
#
# The SAM family on top of square-root-inverse reweighting.
# Run `python figures/table6.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"methods": ("sqinv", "sam", "bsam")}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "table6", stages=("train",), quick=quick, out=out, overrides=overrides
)
show(section, cfg)
