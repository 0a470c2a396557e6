# %% [markdown]
# # Table 6: SQINV combined with SAM, ImbSAM and BSAM
#
# The SAM family on top of square-root-inverse reweighting.
# Run `python figures/table6.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.

# %%
from _common import build

cfg, result, section = build("table6", stages=("train",))
