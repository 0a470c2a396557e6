# %% [markdown]
# # Table 1: MAE, GM and bMAE per shot region for every method
#
# The paper's Tables 1 and 4 layout, with our MAE beside the paper's.
# Run `python figures/table1.py [--quick] [--out DIR]`; the Markdown, CSV and LaTeX files go
# under `<out>/tables`.

# %%
from _common import build

cfg, result, section = build("mae_tables", stages=("train",))
