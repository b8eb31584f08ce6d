"""The shipped digits dataset loads without a download and splits as documented."""

import numpy as np
import pytest

from cnn_utils.data import load_digits, load_digits_raw


def test_raw_digits_are_the_uci_test_set():
    images, labels = load_digits_raw()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert images.max() == 16 and images.min() == 0
    assert np.array_equal(np.unique(labels), np.arange(10))
    assert np.bincount(labels).min() >= 170  # roughly balanced classes


def test_split_sizes_layout_and_centering():
    data = load_digits(num_validation=100, num_test=200, dtype=np.float32)
    assert data["X_train"].shape == (1497, 1, 8, 8) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape == (100, 1, 8, 8) and data["X_test"].shape == (200, 1, 8, 8)
    assert data["y_train"].dtype == np.int64
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0.0, atol=1e-6)
    # the splits are disjoint: each image appears once overall
    raw, _ = load_digits_raw()
    assert sum(len(data[k]) for k in ("y_train", "y_val", "y_test")) == len(raw)


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    np.testing.assert_array_equal(a["y_test"], b["y_test"])
    assert not np.array_equal(a["y_test"], c["y_test"])


def test_bad_split_sizes():
    with pytest.raises(ValueError, match=r"num_validation \+ num_test must be between 0 and 1796, got 1000 \+ 900"):
        load_digits(num_validation=1000, num_test=900)
