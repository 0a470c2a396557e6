# %% [markdown]
# # Figure 1: loss landscapes over all and over few-shot test samples
#
# The paper's Figure 1 shows the vanilla model's loss landscape over every test sample (smooth,
# MAE 6.67) next to the one over the few-shot samples (sharp, MAE 10.68). This script draws it for
# the models of the reproduction, plus the same pair for SQINV and BSAM on one colour scale and
# the 1D curves of every region. Run `python figures/figure1.py [--quick] [--out DIR]`.
# Opened as a notebook, set the parameters below (or `BSAM_QUICK=1`); outputs go under the
# repository root whatever the notebook's folder.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"surface_points_2d": 31, "surface_span": 0.5}

# %%
from analyses.notebooks import build, show

cfg, result, section = build(
    "figure1", stages=("train", "surface"), quick=quick, out=out, overrides=overrides
)
show(section, cfg)

# %% [markdown]
# Same colour for the same loss makes the few-shot panel brighter everywhere, which shows its
# loss *level*. Its *sharpness* is the rise above the centre, L_R(θ + αd₁ + βd₂) − L_R(θ): zero
# at the centre of every region, on one shared colour scale, with the slices β = 0 of every
# region overlaid in one axes.

# %%
from analyses.plotting import save_figure
from analyses.reproduce import METHOD_LABELS, figures

first = next(iter(result.surfaces))
rise = figures.figure1_rise(
    result.surfaces[first]["2d"], label=METHOD_LABELS.get(first, first), quick=cfg.quick
)
print(save_figure(rise, cfg.out_dir / "figures" / "figure1_rise")[0])
rise  # the cell's value: shown inline in a notebook

# %% [markdown]
# Change the surface settings of the config (`surface_points_2d`, `surface_span`,
# `surface_methods`) to make the figure of your own paper; finished surfaces are reused.
