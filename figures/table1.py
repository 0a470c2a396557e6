# %% [markdown]
# # Table 1: MAE, GM and bMAE per shot region for every method
#
# The paper's Tables 1 and 4 layout, with our MAE beside the paper's.
# Run `python figures/table1.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"seeds": (0,)}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "mae_tables", stages=("train",), quick=quick, out=out, overrides=overrides
)
show(section, cfg)
