# %% [markdown]
# # Flatness across shot regions and methods
#
# Two views of the same question, "where is the trained network sharp?": the 1D loss curves of
# every region overlaid per method, and lambda_max / trace (Tr(G) of the Gauss-Newton J^T J / M) per region as bars. Run
# `python figures/flatness_regions.py [--quick] [--out DIR]`, or open it as a notebook and set
# `quick`, `out` (relative to the repository root) and `overrides` in the parameters cell.

# %% tags=["parameters"]
quick = None  # True: quick settings; None: `--quick` or BSAM_QUICK=1
out = None  # output folder (relative: to the repository root); None: `--out`, BSAM_OUT, default
overrides = {}  # ReproduceConfig fields, e.g. {"hessian_methods": ("vanilla", "sqinv", "bsam")}

# %%
from analyses.notebooks import config, run
from analyses.plotting import save_figure
from analyses.reproduce import figures
from analyses.reproduce.hessian_tables import flatness_rows

cfg = config(quick, out, overrides)
result = run(cfg, ("train", "surface", "hessian"))

# %%
curves = figures.curves_by_method({m: p["1d"] for m, p in result.surfaces.items()}, quick=cfg.quick)
print(save_figure(curves, cfg.out_dir / "figures" / "surfaces_1d")[0])
curves  # the cell's value: shown inline in a notebook

# %%
fig = figures.flatness_by_region(
    flatness_rows(cfg, result.hessian), region_names=cfg.hessian_regions, quick=cfg.quick,
    curvature=cfg.curvature,
)
print(save_figure(fig, cfg.out_dir / "figures" / "flatness_regions")[0])
fig  # the cell's value: shown inline in a notebook
