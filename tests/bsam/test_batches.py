"""The one evaluation-data adaptor: every input kind gives the same samples in the same order."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from bsam.batches import Batches, DataKindError, split_tensors

X = torch.arange(22.0).reshape(11, 2)
Y = torch.arange(11.0) * 10


class Items(Dataset):
    """A per-item data set with a ``targets`` tensor; counts the items it reads."""

    def __init__(self) -> None:
        self.reads = 0
        self.targets = Y.clone()

    def __len__(self) -> int:
        return len(Y)

    def __getitem__(self, i: int):
        self.reads += 1
        return X[i], Y[i]


class WithTensors:
    def tensors(self):
        return X, Y


KINDS = {
    "pair": lambda: (X, Y),
    "TensorDataset": lambda: TensorDataset(X, Y),
    "tensors()": WithTensors,
    "Dataset": Items,
    "list of pairs": lambda: [(x, y) for x, y in zip(X, Y)],
    "DataLoader": lambda: DataLoader(TensorDataset(X, Y), batch_size=4),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_gives_all_samples_in_order(kind):
    batches = Batches(KINDS[kind](), batch_size=3, cache=kind == "list of pairs")
    assert batches.num_samples == 11 and torch.equal(batches.targets, Y)
    seen = list(batches)
    assert [s for s, _, _, _ in seen] == sorted(s for s, _, _, _ in seen)
    assert torch.equal(torch.cat([x for _, _, x, _ in seen]), X)
    assert torch.equal(torch.cat([y for _, _, _, y in seen]), Y)
    assert all(torch.equal(y, Y[a:b]) for a, b, _, y in seen)
    idx = torch.tensor([1, 5, 6, 10])
    parts = list(batches.subset(idx))
    assert torch.equal(torch.cat([i for _, _, i in parts]), idx)
    assert torch.equal(torch.cat([x for x, _, _ in parts]), X[idx])
    assert not batches.shuffles


def test_dataset_targets_and_subsets_read_no_more_than_needed():
    ds = Items()
    batches = Batches(ds, batch_size=4)
    assert torch.equal(batches.targets, Y) and ds.reads == 0  # the data set's own targets
    list(batches.subset(torch.tensor([2, 3])))
    assert ds.reads == 2


def test_in_memory_split_rule():
    assert split_tensors((X, Y))[1] is Y
    assert split_tensors(Items()) is None
    assert split_tensors([(X[0], Y[0]), (X[1], Y[1])]) is None  # two samples, not (X, y)
    with pytest.raises(ValueError, match="TensorDataset must hold"):
        split_tensors(TensorDataset(X))


def test_errors_name_the_value():
    with pytest.raises(ValueError, match="Invalid batch_size 0"):
        Batches((X, Y), batch_size=0)
    with pytest.raises(ValueError, match="X has 11 samples but y has 3"):
        Batches((X, Y[:3]), batch_size=2)
    with pytest.raises(DataKindError, match="Invalid data of type int") as err:
        Batches(3, batch_size=2)
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)
    shuffled = Batches(DataLoader(TensorDataset(X, Y), shuffle=True), batch_size=2)
    assert shuffled.shuffles
    with pytest.raises(ValueError, match="RandomSampler.*shuffle=False"):
        shuffled.check_ordered()
    with pytest.raises(ValueError, match=r"expected \(input, target\) pairs, got Tensor"):
        list(Batches(DataLoader(X, batch_size=2), batch_size=2))
