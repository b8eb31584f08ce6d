"""The shipped digits and photograph load without a download, as documented."""

import numpy as np
import pytest

from pathlib import Path

from cnn_utils.data import load_digits, load_digits_raw, load_photo


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
    raw, _ = load_digits_raw()   # adding the mean back gives the pixels as stored, scaled to [0, 1]
    shown = data["X_test"] + data["mean_image"]
    assert data["mean_image"].shape == (1, 1, 8, 8) and shown.min() >= -1e-6 and shown.max() <= 1 + 1e-6
    assert any(np.allclose(shown[0, 0], image / 16.0, atol=1e-6) for image in raw)
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


def test_photo_is_a_real_rgb_picture_in_the_unit_range():
    photo = load_photo()
    assert photo.shape == (3, 150, 128) and photo.dtype == np.float64
    assert 0 <= photo.min() < 0.1 and 0.9 < photo.max() <= 1
    assert photo.std(axis=(1, 2)).min() > 0.1                     # every channel varies
    assert not np.allclose(photo[0], photo[2])                     # colour, not grey
    gray = load_photo(gray=True)
    assert gray.shape == (150, 128)
    np.testing.assert_allclose(gray, np.tensordot([0.299, 0.587, 0.114], photo, axes=1))


def test_photo_has_its_source_and_licence_beside_it():
    readme = (Path(__file__).resolve().parents[1] / "cnn_utils" / "datasets" / "README.md").read_text()
    section = readme[readme.index("# photo_hopper.npz"):]
    assert "public domain" in section and "17 U.S.C. 105" in section and "grace_hopper.jpg" in section


def test_every_shipped_data_file_is_package_data_of_the_course_and_the_student_bundle():
    import fnmatch
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "deploy"))
    try:
        from make_student_bundle import pyproject_text
    finally:
        sys.path.remove(str(root / "deploy"))
    shipped = [p.name for p in (root / "cnn_utils" / "datasets").iterdir() if p.suffix in (".npz", ".md")]
    assert {"photo_hopper.npz", "digits_8x8.npz", "README.md"} <= set(shipped)
    for name, text in [("pyproject.toml", (root / "pyproject.toml").read_text()),
                       ("student bundle", pyproject_text())]:
        patterns = tomllib.loads(text)["tool"]["setuptools"]["package-data"]["cnn_utils.datasets"]
        missing = [f for f in shipped if not any(fnmatch.fnmatch(f, p) for p in patterns)]
        assert not missing, f"{name} does not ship {missing}"
