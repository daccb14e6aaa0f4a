import pytest
import torch

from mmgc.errors import InputError
from mmgc.methods.budget import allocate_labels, synthetic_size


def test_counts_add_up_and_cover_every_class():
    labels = torch.tensor([0] * 90 + [1] * 7 + [2] * 2 + [3] * 1)
    for n in range(4, 40):
        counts = allocate_labels(labels, n, 4)
        assert int(counts.sum()) == n
        assert bool((counts >= 1).all())


def test_counts_are_proportional():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    assert allocate_labels(labels, 10, 3).tolist() == [6, 3, 1]


def test_ratio_is_relative_to_visible_nodes():
    assert synthetic_size(0.026, 2708, 7) == 70
    assert synthetic_size(0.052, 2708, 7) == 140
    assert synthetic_size(0.29, 100, 2) == 29


def test_too_small_ratio_names_the_smallest_valid_ratio():
    with pytest.raises(InputError, match="smallest valid ratio is 0.07"):
        synthetic_size(0.01, 100, 7)


@pytest.mark.parametrize("ratio", [0, -0.1, 1.5, float("nan")])
def test_impossible_ratio(ratio):
    with pytest.raises(InputError, match="ratio"):
        synthetic_size(ratio, 100, 2)
