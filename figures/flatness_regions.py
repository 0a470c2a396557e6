# %% [markdown]
# # Flatness across shot regions and methods
#
# Two views of the same question, "where is the trained network sharp?": the 1D loss curves of
# every region overlaid per method, and lambda_max / Tr(H) per region as bars. Run
# `python figures/flatness_regions.py [--quick] [--out DIR]`.

# %%
from _common import config, run

from analyses.plotting import save_figure
from analyses.reproduce import figures
from analyses.reproduce.hessian_tables import flatness_rows

cfg = config()
result = run(cfg, ("train", "surface", "hessian"))

# %%
fig = figures.flatness_by_region(flatness_rows(cfg, result.hessian), region_names=cfg.hessian_regions)
print(save_figure(fig, cfg.out_dir / "figures" / "flatness_regions")[0])
curves = figures.curves_by_method({m: p["1d"] for m, p in result.surfaces.items()})
print(save_figure(curves, cfg.out_dir / "figures" / "surfaces_1d")[0])
