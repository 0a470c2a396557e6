# %% [markdown]
# # Figure 1: loss landscapes over all and over few-shot test samples
#
# The paper's Figure 1 shows the vanilla model's loss landscape over every test sample (smooth,
# MAE 6.67) next to the one over the few-shot samples (sharp, MAE 10.68). This script draws it for
# the models of the reproduction, plus the same pair for SQINV and BSAM on one colour scale and
# the 1D curves of every region. Run `python figures/figure1.py [--quick] [--out DIR]`.

# %%
from _common import build

cfg, result, section = build("figure1", stages=("train", "surface"))

# %% [markdown]
# Change the surface settings of the config (`surface_points_2d`, `surface_span`,
# `surface_methods`) to make the figure of your own paper; finished surfaces are reused.
