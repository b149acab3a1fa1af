"""Small data sets the tests write themselves: IDX files and image folders."""

import gzip
import os
import struct

import numpy as np
from PIL import Image

from dcgan_tf import data


def write_idx(path, array, gz=False):
    """Writes a uint8 array as an IDX file (images if 3-D, labels if 1-D)."""
    array = np.asarray(array, np.uint8)
    magic = data.IDX_IMAGES_MAGIC if array.ndim == 3 else data.IDX_LABELS_MAGIC
    header = struct.pack(">II", magic, len(array))
    if array.ndim == 3:
        header += struct.pack(">II", *array.shape[1:])
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
    return path


def make_mnist(directory, n_train=96, n_test=32, gz=True, seed=0):
    """An MNIST-format folder whose image i is filled with its own label * 25, so
    tests can tell which label goes with which image."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.repeat(labels[:, None, None] * 25, 28 * 28).reshape(n, 28, 28)
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte{suffix}"), images, gz)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte{suffix}"), labels, gz)
    return directory


def make_pattern_mnist(directory, n_train, n_test, seed=0):
    """An MNIST-format folder whose digit k is a bright 6x6 square at the k-th of ten
    positions, with noise: a task a small CNN learns in a few hundred steps."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28))
        for image, label in zip(images, labels):
            row, col = divmod(int(label), 5)
            image[3 + 12 * row:9 + 12 * row, 2 + 5 * col:8 + 5 * col] = 250
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte"), images)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte"), labels)
    return directory


def write_image(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)
    return path


def make_image_folder(directory, count=8, size=(40, 30), suffix=".png", seed=0):
    """`count` random RGB images (height, width = size)."""
    rng = np.random.default_rng(seed)
    return [write_image(os.path.join(directory, f"img_{i:03d}{suffix}"),
                        rng.integers(0, 256, (*size, 3))) for i in range(count)]
