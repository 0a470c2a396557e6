"""Benchmark: training images per second through the real AgeDB-DIR loader, per worker count.

Writes ``--n`` JPEG files of 224x224 pixels (quality 90; a smooth random colour field plus mild
noise, so they compress and decode roughly like face crops) in the AgeDB-DIR layout of the DIR
code (``agedb.csv`` with ``age,path,split`` beside ``AgeDB/<k>_Name_<age>_<g>.jpg``) into a
temporary folder, then reads the training split as a run does: :func:`bsam.train.training_data.
load_split` (``agedb-dir``, ``train=True``: decode + Rank-N-Contrast's v2 train transform at
``--img-size``) and :class:`~bsam.train.training_data.BatchSource` (the run's one ``DataLoader``
with persistent workers) in global batches of ``--batch-size``, for each count in ``--workers``.

For each worker count: ``first_epoch_img_s`` (includes starting the workers) and ``img_s`` (the
median over ``--epochs`` further epochs, workers warm). Also, in the main process with
``--threads`` torch threads, Pillow decode alone and the train transform alone on decoded images:
``decode_img_s``/``transform_img_s`` (wall clock) and ``decode_cpu_ms``/``transform_cpu_ms`` (CPU
time per image), and ``img_s_per_idle_core`` = 1000 / (decode + transform CPU ms), what one
worker on a free core can deliver at most. Prints and writes (``--json OUT``) one JSON object.
On a shared machine the wall-clock figures are lower bounds; the CPU figures hold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bsam._io import write_json

__all__ = ["main", "write_agedb_jpegs"]


def write_agedb_jpegs(root: Path, n: int, *, size: int = 224, seed: int = 0) -> None:
    """``n`` training JPEGs of ``size`` px and their ``agedb.csv`` under ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "AgeDB").mkdir(parents=True, exist_ok=True)
    lines = ["age,path,split"]
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k in range(n):
        a = rng.uniform(0, 1, (3, 3))
        field = a[:, 0, None, None] + a[:, 1, None, None] * yy + a[:, 2, None, None] * xx
        img = 255 * field / field.max() + rng.normal(0, 6, (3, size, size))
        arr = np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        age = int(rng.integers(1, 101))
        rel = f"AgeDB/{k}_Person_{age}_{'mf'[k % 2]}.jpg"
        Image.fromarray(arr).save(root / rel, quality=90)
        lines.append(f"{age},{rel},train")
    lines.append(f"30,AgeDB/0_Person_{lines[1].split(',')[0]}_m.jpg,val")
    (root / "agedb.csv").write_text("\n".join(lines) + "\n")


def _epoch_img_s(source, n: int, batch_size: int, gen: torch.Generator) -> float:
    from bsam.train.training_data import global_batches

    batches = global_batches(torch.randperm(n, generator=gen), batch_size, 1)
    start = time.perf_counter()
    source.start_epoch(batches)
    seen = 0
    for idx in batches:
        x, _, _ = source.get(idx)
        seen += x.shape[0]
    return seen / (time.perf_counter() - start)


def _main_process_costs(split, reps: int) -> dict[str, float]:
    """Pillow decode alone and the train transform alone: images per second (wall clock) and
    CPU milliseconds per image (``time.process_time``, which load on a shared machine barely
    changes)."""
    from bsam.data.transforms import open_rgb

    ds = split.dataset
    paths = ds.paths[:reps]
    wall, cpu = time.perf_counter(), time.process_time()
    images = [open_rgb(p) for p in paths]
    decode_wall, decode_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    for img in images:
        ds.transform(img)
    tf_wall, tf_cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(images)
    return {
        "decode_img_s": round(n / decode_wall, 1),
        "transform_img_s": round(n / tf_wall, 1),
        "decode_cpu_ms": round(decode_cpu / n * 1e3, 2),
        "transform_cpu_ms": round(tf_cpu / n * 1e3, 2),
        "img_s_per_idle_core": round(n / (decode_cpu + tf_cpu), 1),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns (and prints) the JSON object."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", default=None, help="write the result here")
    p.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    p.add_argument("--n", type=int, default=256, help="number of training images")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--img-size", type=int, default=224, help="output side of the transform")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after the first")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    args = p.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.n < 2 * args.batch_size:
        p.error(f"--n {args.n} must be at least twice --batch-size {args.batch_size}")
    torch.set_num_threads(args.threads)

    from bsam.distributed import DistContext
    from bsam.train import TrainConfig
    from bsam.train.training_data import BatchSource, derived_generator, load_split

    result: dict = {
        "config": {
            "n": args.n,
            "batch_size": args.batch_size,
            "img_size": args.img_size,
            "jpeg_side": 224,
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
        },
        "workers": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        root = Path(tmp)
        write_agedb_jpegs(root, args.n)
        kwargs = {"img_size": args.img_size}
        for w in workers:
            cfg = TrainConfig(
                data="agedb-dir", root=str(root), model="mlp", device="cpu", num_workers=w,
                data_kwargs=kwargs,
            )
            split = load_split(cfg, "train", train=True)
            gen = derived_generator(0, 1)
            source = BatchSource(
                cfg, split, DistContext(), aug_gen=derived_generator(0, 2), data_gen=gen
            )
            first = _epoch_img_s(source, args.n, args.batch_size, gen)
            warm = [_epoch_img_s(source, args.n, args.batch_size, gen) for _ in range(args.epochs)]
            result["workers"][str(w)] = {
                "first_epoch_img_s": round(first, 1),
                "img_s": round(statistics.median(warm), 1),
            }
            del source
        result.update(_main_process_costs(split, min(args.n, 128)))
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
