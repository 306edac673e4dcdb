"""same_size_runs: consecutive items of one size grouped, order kept."""

import pytest

from deeplab_tf.postprocess import same_size_runs


def test_runs_keep_order_and_split_at_size_changes_and_the_batch_size():
    items = ["aa", "bb", "cc", "d", "ee", "ff", "gg", "hh", "ii"]
    runs = list(same_size_runs(iter(items), 3, len))
    assert runs == [["aa", "bb", "cc"], ["d"], ["ee", "ff", "gg"], ["hh", "ii"]]
    assert list(same_size_runs(items, 1, len)) == [[item] for item in items]
    assert list(same_size_runs([], 4, len)) == []
    with pytest.raises(ValueError, match="batch_size"):
        list(same_size_runs(items, 0, len))
