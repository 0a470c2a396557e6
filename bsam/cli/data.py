"""``bsam data``: look at a data set (``show``: a contact sheet PNG; ``info``: sizes and regions).

Examples
--------
``bsam data show --data agedb-synth --split train --out sheet.png --n 64``
``bsam data info --data agedb-synth``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bsam.cli.options import SPLITS as _SPLITS
from bsam.cli.options import HelpFormatter, add_command

__all__ = ["register", "run", "contact_sheet", "dataset_info"]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="agedb-synth", help="data set name (bsam.data.DATASETS)")
    p.add_argument("--root", default=None, help="folder of a real data set on disk")
    p.add_argument("--seed", type=int, default=0, help="seed of a generated data set")
    p.add_argument("--cache-dir", default=None, help="cache folder of generated data sets")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` subcommand and its ``show`` / ``info`` actions."""
    parser = add_command(
        subparsers,
        "data",
        help="show or describe a data set",
        description="Look at a data set: `show` writes a contact sheet PNG, `info` prints the "
        "split sizes and the shot regions of the training bins.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="write a contact sheet PNG with the targets",
        description="Write a grid of inputs of one split with each target above its image.",
        formatter_class=HelpFormatter,
    )
    _add_common(show)
    show.add_argument("--split", default="train", choices=_SPLITS, help="split to show")
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--n", type=int, default=64, help="number of images")
    show.add_argument(
        "--sort", action="store_true", help="pick evenly spaced samples sorted by target"
    )
    info = actions.add_parser(
        "info",
        help="print split sizes and training shot regions",
        description="Print the size of every split and the shot regions of the training bins.",
        formatter_class=HelpFormatter,
    )
    _add_common(info)
    info.add_argument("--many", type=int, default=100, help="many-shot threshold (> many)")
    info.add_argument("--few", type=int, default=20, help="few-shot threshold (< few)")
    parser.set_defaults(func=run)


def _load(args: argparse.Namespace, split: str) -> Any:
    from bsam.data import get_dataset

    return get_dataset(
        args.data,
        split,
        root=args.root,
        seed=args.seed,
        cache_dir=args.cache_dir,
        **({"progress": not args.quiet} if args.data.endswith("-synth") else {}),
    )


def contact_sheet(
    dataset: Any, out: str | Path, *, n: int = 64, sort: bool = False, title: str | None = None
) -> Path:
    """Write a grid of ``n`` inputs of ``dataset`` with their target above each (PNG, atomic).

    Data sets with a uint8 ``images`` tensor (the synthetic ones) show the stored pixels; others
    show each input rescaled to [0, 1] by its own min and max. Dense targets show their mean. Samples are the first ``n`` or, with ``sort``, ``n`` evenly
    spaced ranks of the sorted targets.
    """
    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bsam._io import atomic_path

    if n < 1:
        raise ValueError(f"Invalid --n {n}; it must be >= 1.")
    n = min(n, len(dataset))
    targets = dataset.targets
    scalar = targets.reshape(len(dataset), -1).float().mean(1)
    if sort:
        order = torch.argsort(scalar, stable=True)
        index = order[torch.linspace(0, len(order) - 1, n).round().long()].tolist()
    else:
        index = list(range(n))
    cols = min(n, int(math.ceil(math.sqrt(n * 1.5))))
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, index):
        if isinstance(getattr(dataset, "images", None), torch.Tensor):
            x = dataset.images[i].float() / 255.0  # the stored pixels, as generated
        else:
            x, _ = dataset[i]
            x = x.float()
            x = (x - x.min()) / (x.max() - x.min()).clamp(min=1e-8)
        ax.imshow(x.permute(1, 2, 0).squeeze(-1).numpy(), interpolation="nearest")
        ax.set_title(f"{float(scalar[i]):g}", fontsize=8, pad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.35 / (rows * 1.3 + 0.35)) if title else None)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out


def dataset_info(name: str, *, many: int = 100, few: int = 20, **kwargs: Any) -> dict[str, Any]:
    """Split sizes and the shot regions of the training bins of data set ``name``.

    Returns ``{"name", "sizes": {split: n}, "regions": {"many", "medium", "few", "empty"},
    "describe": str}``; ``kwargs`` go to :func:`bsam.data.get_dataset`.
    """
    from bsam.data import fit_regions, get_dataset

    sizes = {s: len(get_dataset(name, s, **kwargs)) for s in _SPLITS}
    regions = fit_regions(get_dataset(name, "train", **kwargs), many=many, few=few)
    return {
        "name": name,
        "sizes": sizes,
        "regions": regions.summary(),
        "describe": regions.describe(),
    }


def run(args: argparse.Namespace) -> int:
    """Run ``bsam data show`` or ``bsam data info``."""
    if args.action == "show":
        if args.n < 1:  # before loading: generating a data set can take a while
            raise ValueError(f"Invalid --n {args.n}; it must be >= 1.")
        ds = _load(args, args.split)
        path = contact_sheet(
            ds, args.out, n=args.n, sort=args.sort, title=f"{args.data} / {args.split}"
        )
        print(f"wrote {path}")
        return 0
    kwargs = {"root": args.root, "seed": args.seed, "cache_dir": args.cache_dir}
    info = dataset_info(args.data, many=args.many, few=args.few, **kwargs)
    sizes = info["sizes"]
    print(f"{args.data}: train {sizes['train']}, val {sizes['val']}, test {sizes['test']}")
    r = info["regions"]
    print(
        f"training bins: {r['many']} many-shot, {r['medium']} medium-shot, {r['few']} few-shot, "
        f"{r['empty']} empty"
    )
    print(info["describe"])
    return 0
