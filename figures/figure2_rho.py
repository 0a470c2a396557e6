# %% [markdown]
# # Figure 2: test MAE against the perturbation radius rho
#
# SAM, ImbSAM and BSAM (each with SQINV descent weights) at rho in {0.05, 0.1, 0.2}, with plain
# SQINV as the baseline. Run `python figures/figure2_rho.py [--quick] [--out DIR]`.

# %%
from _common import build

cfg, result, section = build("figure2", stages=("train",), ablation_rho=True)
