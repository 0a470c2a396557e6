# %% [markdown]
# # Table 7: INV vs SQINV perturbation weights
#
# BSAM with inverse against square-root-inverse perturbation weights.
# Run `python figures/table7.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.

# %%
from _common import build

cfg, result, section = build("table7", stages=("train",))
