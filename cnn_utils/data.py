"""Small real data shipped with the package (no download): 8x8 handwritten digits and one photograph.

See cnn_utils/datasets/README.md for its source and licence.
"""

from importlib import resources

import numpy as np


def load_digits_raw():
    """The 1797 digits as stored.

    Returns:
    - images: uint8 array of shape (1797, 8, 8), values 0..16
    - labels: uint8 array of shape (1797,), values 0..9
    """
    with resources.files("cnn_utils.datasets").joinpath("digits_8x8.npz").open("rb") as handle:
        stored = np.load(handle)
        return stored["images"], stored["labels"]


def load_digits(num_validation=200, num_test=300, seed=0, dtype=np.float64):
    """Digits split into train / validation / test, NCHW, ready for a CNN.

    Pixels are scaled to [0, 1] and the training set's mean image is subtracted
    from every split. The split is a fixed random permutation (``seed``).

    Inputs:
    - num_validation, num_test: sizes of those splits; the rest is training data
    - seed: seed of the permutation
    - dtype: float32 or float64

    Returns a dict with:
    - X_train (N_train, 1, 8, 8), y_train (N_train,) int64; likewise X_val, y_val, X_test, y_test
    - mean_image (1, 1, 8, 8): the training mean that was subtracted (add it back to display)
    """
    images, labels = load_digits_raw()
    total = len(labels)
    if num_validation < 0 or num_test < 0 or num_validation + num_test >= total:
        raise ValueError(
            f"num_validation + num_test must be between 0 and {total - 1}, "
            f"got {num_validation} + {num_test}"
        )
    order = np.random.default_rng(seed).permutation(total)
    x = (images[order, None, :, :] / 16.0).astype(dtype)
    y = labels[order].astype(np.int64)
    num_train = total - num_validation - num_test
    mean_image = x[:num_train].mean(axis=0, keepdims=True)
    x -= mean_image
    val_end = num_train + num_validation
    return {
        "X_train": x[:num_train], "y_train": y[:num_train],
        "X_val": x[num_train:val_end], "y_val": y[num_train:val_end],
        "X_test": x[val_end:], "y_test": y[val_end:], "mean_image": mean_image,
    }


def load_photo(gray=False):
    """A real photograph (public domain; see cnn_utils/datasets/README.md), scaled to [0, 1].

    Inputs:
    - gray: False for colour, True for luminance (0.299 R + 0.587 G + 0.114 B, ITU-R BT.601)

    Returns:
    - photo: float64 array of shape (3, 150, 128) (channels first, RGB), or (150, 128) if gray
    """
    with resources.files("cnn_utils.datasets").joinpath("photo_hopper.npz").open("rb") as handle:
        rgb = np.load(handle)["image"].astype(np.float64) / 255.0
    if gray:
        return rgb @ np.array([0.299, 0.587, 0.114])
    return rgb.transpose(2, 0, 1)
