"""The training loader of data sets on disk: one persistent DataLoader, per-sample seeded
augmentation that does not depend on workers or ranks, the per-epoch global batches."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from bsam.batches import loader_options
from bsam.distributed import DistContext
from bsam.train import TrainConfig
from bsam.train.training_data import (
    BatchSource,
    EpochBatches,
    SeededItems,
    Split,
    derived_generator,
    global_batches,
    load_split,
)
from tests.bsam.test_data_dir import _write_agedb


class _Noisy(Dataset):
    """Item ``i``: ``i`` plus noise from torch's global RNG (a stand-in for a random transform)."""

    def __init__(self, n: int) -> None:
        self.targets = torch.arange(n, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return self.targets[i] + torch.rand(3), self.targets[i]


def _epochs(dataset, *, workers: int, ctx: DistContext, epochs: int = 2, seed: int = 0):
    """Every batch ``(x, y, local)`` that BatchSource delivers over ``epochs`` epochs."""
    cfg = TrainConfig(data="x", model="mlp", num_workers=workers, seed=seed, device="cpu")
    split = Split(dataset, None, dataset.targets)
    data_gen, aug_gen = derived_generator(seed, 1), derived_generator(seed, 2)
    source = BatchSource(cfg, split, ctx, aug_gen=aug_gen, data_gen=data_gen)
    out = []
    for _ in range(epochs):
        order = torch.randperm(len(dataset), generator=data_gen)
        batches = global_batches(order, 4, ctx.world_size)
        source.start_epoch(batches)
        out.append([source.get(idx) for idx in batches])
    return out


def test_workers_give_the_same_batches_as_the_main_process():
    ds = _Noisy(22)
    ctx = DistContext()
    plain = _epochs(ds, workers=0, ctx=ctx)
    pooled = _epochs(ds, workers=2, ctx=ctx)
    for ep_a, ep_b in zip(plain, pooled):
        for (xa, ya, la), (xb, yb, lb) in zip(ep_a, ep_b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(la, lb)
    # each batch holds the targets of its global batch, and the noise differs between epochs
    _, ya, la = plain[0][0]
    assert torch.equal(ya, la.float())
    first = {int(y): x for ep in plain[:1] for x_b, y_b, _ in ep for x, y in zip(x_b, y_b)}
    second = {int(y): x for ep in plain[1:] for x_b, y_b, _ in ep for x, y in zip(x_b, y_b)}
    assert all(not torch.equal(first[k], second[k]) for k in first.keys() & second.keys())
    # the global RNG of the main process is not consumed by the reads
    torch.manual_seed(3)
    state = torch.get_rng_state()
    _epochs(ds, workers=0, ctx=ctx, epochs=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_sample_is_augmented_the_same_on_every_rank_count():
    ds = _Noisy(16)
    single = _epochs(ds, workers=0, ctx=DistContext(), epochs=1)[0]
    ranks = [_epochs(ds, workers=0, ctx=DistContext(rank=r, world_size=2), epochs=1)[0] for r in (0, 1)]
    for b, (x, y, _) in enumerate(single):
        assert torch.equal(x, torch.cat([ranks[0][b][0], ranks[1][b][0]]))
        assert torch.equal(y, torch.cat([ranks[0][b][1], ranks[1][b][1]]))


def test_one_loader_serves_the_run_and_its_sampler_follows_the_epochs():
    ds = _Noisy(12)
    cfg = TrainConfig(data="x", model="mlp", num_workers=1, device="cpu")
    split = Split(ds, None, ds.targets)
    source = BatchSource(
        cfg, split, DistContext(), aug_gen=derived_generator(0, 2), data_gen=derived_generator(0, 1)
    )
    source.start_epoch([torch.arange(4), torch.arange(4, 8)])
    loader = source._dataloader
    assert loader.persistent_workers and loader.prefetch_factor == 4 and not loader.pin_memory
    assert [source.get(i)[1].tolist() for i in (torch.arange(4), torch.arange(4, 8))] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]
    source.start_epoch([torch.tensor([11, 10])])
    assert source._dataloader is loader and len(source._sampler) == 1
    assert source.get(torch.tensor([11, 10]))[1].tolist() == [11.0, 10.0]


def test_seeded_items_and_epoch_batches():
    items = SeededItems(_Noisy(5))
    assert torch.equal(items[(2, 7)][0], items[(2, 7)][0])
    assert not torch.equal(items[(2, 7)][0], items[(2, 8)][0])
    sampler = EpochBatches()
    sampler.set_epoch([[1, 2], [3]])
    assert list(sampler) == [[1, 2], [3]] and len(sampler) == 2


def test_loader_options():
    assert loader_options(0, "cpu") == {"num_workers": 0, "pin_memory": False}
    opts = loader_options(2, torch.device("cuda"))
    assert opts["pin_memory"] and opts["persistent_workers"] and opts["prefetch_factor"] == 4


def test_dir_images_same_batches_with_workers_and_imdb_bins_clipped(tmp_path):
    rows = [(130, "train"), (31, "train"), (44, "train"), (9, "train"), (20, "val")]
    _write_agedb(tmp_path, rows, csv_name="imdb_wiki.csv")
    cfg = TrainConfig(
        data="imdb-wiki-dir", root=str(tmp_path), model="mlp", device="cpu",
        data_kwargs={"img_size": 16},
    )
    split = load_split(cfg, "train", train=True)
    assert split.x is None and split.y.tolist() == [120.0, 31.0, 44.0, 9.0]  # binning labels
    ctx = DistContext()
    a = _epochs(split.dataset, workers=0, ctx=ctx, epochs=1)[0]
    b = _epochs(split.dataset, workers=2, ctx=ctx, epochs=1)[0]
    assert a[0][0].shape == (4, 3, 16, 16)
    assert torch.equal(a[0][0], b[0][0])
    assert sorted(a[0][1].tolist()) == [9.0, 31.0, 44.0, 130.0]  # the loss keeps the age


def test_evaluation_batches_with_persistent_workers_match_the_main_process():
    from bsam.batches import Batches

    class _Fixed(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.full((2,), float(i)), torch.tensor(float(i))

    plain = [(a, b, x, y) for a, b, x, y in Batches(_Fixed(), batch_size=3)]
    pooled = Batches(_Fixed(), batch_size=3, num_workers=2)
    for _ in range(2):  # a second pass reuses the workers
        got = list(pooled)
        assert [(a, b) for a, b, _, _ in got] == [(a, b) for a, b, _, _ in plain]
        assert all(torch.equal(x, xp) and torch.equal(y, yp) for (*_, x, y), (*_, xp, yp) in zip(got, plain))
    assert pooled._loader.persistent_workers
    sub = list(pooled.subset(torch.tensor([1, 7, 8])))
    assert torch.cat([idx for _, _, idx in sub]).tolist() == [1, 7, 8]
    assert torch.cat([y for _, y, _ in sub]).tolist() == [1.0, 7.0, 8.0]
