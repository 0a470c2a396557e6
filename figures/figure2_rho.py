# %% [markdown]
# # Figure 2: test MAE against the perturbation radius rho
#
# SAM, ImbSAM and BSAM (each with SQINV descent weights) at rho in {0.05, 0.1, 0.2}, with plain
# SQINV as the baseline. Run `python figures/figure2_rho.py [--quick] [--out DIR]`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"seeds": (0,)}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "figure2", stages=("train",), quick=quick, out=out, overrides=overrides, ablation_rho=True
)
show(section, cfg)
