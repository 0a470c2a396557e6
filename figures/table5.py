# %% [markdown]
# # Table 5: BSAM with vanilla L1 descent
#
# BSAM's balance-weighted perturbation with an unweighted L1 descent loss, against SQINV+BSAM.
# Run `python figures/table5.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.

# %%
from _common import build

cfg, result, section = build("table5", stages=("train",))
