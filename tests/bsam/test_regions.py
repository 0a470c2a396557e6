import numpy as np
import pytest
import torch

from bsam.regions import ALL_REGIONS, FEW, MANY, MEDIUM, ShotRegions


def test_agedb_dir_regions_match_the_label_counts(agedb_counts, agedb_train_labels):
    regions = ShotRegions.fit(agedb_train_labels, bin_width=1.0, lower=0, upper=101)
    assert regions.num_bins == 102
    np.testing.assert_array_equal(regions.counts, agedb_counts["train"])
    summary = regions.summary()
    assert (summary["many"], summary["medium"], summary["few"], summary["empty"]) == (51, 16, 33, 2)
    # Hand-checked ages: 30 (many), 17 (21 samples: medium), 16 (18 samples: few), 2 (empty: few).
    codes = regions.of(torch.tensor([30.0, 17.0, 16.0, 2.0, 101.0]))
    assert codes.tolist() == [MANY, MEDIUM, FEW, FEW, FEW]


def test_thresholds_are_strict_and_configurable():
    labels = torch.tensor([0.0] * 101 + [1.0] * 100 + [2.0] * 20 + [3.0] * 19)
    default = ShotRegions.fit(labels)
    assert default.of(torch.tensor([0.0, 1.0, 2.0, 3.0])).tolist() == [MANY, MEDIUM, MEDIUM, FEW]
    custom = ShotRegions.fit(labels, many=19, few=20)
    assert custom.of(torch.tensor([2.0, 3.0])).tolist() == [MANY, FEW]


def test_fractional_bins_place_edge_values_in_their_own_bin():
    depth = torch.tensor([0.7, 0.8, 0.9, 1.0, 1.3])
    regions = ShotRegions.fit(depth, bin_width=0.1, many=0, few=0)
    assert regions.bin_index(depth).tolist() == [0, 1, 2, 3, 6]


def test_masks_and_dense_labels_keep_shape():
    train = torch.tensor([1.0] * 150 + [2.0] * 50 + [3.0] * 5)
    regions = ShotRegions.fit(train)
    dense = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    masks = regions.masks(dense)
    assert set(masks) == {"all", "many", "medium", "few"}
    assert masks["many"].tolist() == [[True, False], [False, True]]
    assert masks["all"].all()
    assert regions.of(dense).shape == dense.shape


def test_round_trip_through_dict(agedb_train_labels):
    regions = ShotRegions.fit(agedb_train_labels, lower=0, upper=101)
    again = ShotRegions.from_dict(regions.to_dict())
    assert again == regions
    np.testing.assert_array_equal(again.bin_codes, regions.bin_codes)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([1.0, float("nan")]), "non-finite"),
        (torch.tensor([1.0, float("inf")]), "non-finite"),
        (torch.tensor([]), "empty"),
    ],
)
def test_bad_training_labels_are_refused(labels, match):
    with pytest.raises(ValueError, match=match):
        ShotRegions.fit(labels)


def test_labels_outside_the_fitted_range_are_refused():
    regions = ShotRegions.fit(torch.tensor([10.0, 20.0]))
    with pytest.raises(ValueError, match=r"outside the fitted range \[10, 21\)"):
        regions.of(torch.tensor([5.0]))
    with pytest.raises(ValueError, match="outside the fitted range"):
        ShotRegions.fit(torch.tensor([10.0, 200.0]), lower=0, upper=101)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Invalid bin_width"):
        ShotRegions.fit(torch.tensor([1.0]), bin_width=0)
    with pytest.raises(ValueError, match="Invalid thresholds"):
        ShotRegions.fit(torch.tensor([1.0]), many=10, few=50)
    regions = ShotRegions.fit(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="Unknown region"):
        regions.masks(torch.tensor([1.0]), region_names=("rare",))
    with pytest.raises(ValueError, match="key 'counts' missing"):
        ShotRegions.from_dict({"bin_width": 1, "lower": 0, "num_bins": 1, "many": 1, "few": 1})


def test_region_arguments_resolve_the_old_spellings_with_a_warning():
    from bsam.regions import region_arguments

    regions = ShotRegions.fit(torch.arange(30.0) % 3, many=8, few=5)
    assert region_arguments(regions, None) == (regions, ALL_REGIONS)
    assert region_arguments(regions, ["few"]) == (regions, ("few",))
    assert region_arguments(None, None, default=None) == (None, None)
    with pytest.warns(DeprecationWarning, match=r"f\(regions=\['all', 'few'\]\) is deprecated"):
        assert region_arguments(["all", "few"], None, where="f") == (None, ("all", "few"))
    with pytest.warns(DeprecationWarning, match=r"f\(names=...\) is deprecated"):
        assert region_arguments(regions, None, names=("many",), where="f") == (regions, ("many",))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="given twice"):
        region_arguments(["few"], ["all"], where="f")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="given twice"):
        region_arguments(regions, ["all"], names=["few"], where="f")


def test_masks_partition_the_labels_by_bin_code():
    labels = torch.tensor([0.2, 0.7, 1.5, 2.5, 2.6, 2.9])
    regions = ShotRegions.fit(labels, many=2, few=2)  # bins of 1: counts 2, 1, 3
    masks = regions.masks(labels)
    assert masks["many"].tolist() == [False, False, False, True, True, True]
    assert masks["medium"].tolist() == [True, True, False, False, False, False]
    assert masks["few"].tolist() == [False, False, True, False, False, False]
    assert masks["all"].all()
    with pytest.warns(DeprecationWarning):
        assert regions.masks(labels, names=("few",)).keys() == {"few"}
