"""Sample grids as PNG files: numpy and Pillow only, so tests can check pixels.

Fixes two bugs of the original's `save_images`: it mapped every generator
output with (x + 1) / 2, which turns the MNIST model's [0, 1] sigmoid output
into washed-out grey [0.5, 1]; and its grid asserted a square batch size.
"""

import math

import numpy as np
from PIL import Image

from dcgan_tf import files

def grid_shape(num_images):
    """(rows, cols) for `num_images`: the original's floor/ceil of sqrt when that
    fits exactly (64 -> 8x8), otherwise enough rows to hold them all."""
    rows = max(1, int(math.floor(math.sqrt(num_images))))
    cols = int(math.ceil(num_images / rows))
    return rows, cols


def to_uint8(images, value_range):
    """Maps floats in `value_range` (lo, hi) to uint8 [0, 255], clipping outliers."""
    lo, hi = value_range
    scaled = (np.asarray(images, np.float64) - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def merge(images, rows, cols):
    """Tiles [N, H, W, C] images row-major into one [rows*H, cols*W, C] image;
    cells past N stay black, as image i goes to row i // cols, column i % cols."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if n > rows * cols:
        raise ValueError(f"{n} images don't fit a {rows}x{cols} grid.")
    grid = np.zeros((rows * h, cols * w, c), images.dtype)
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        grid[row * h:(row + 1) * h, col * w:(col + 1) * w] = image
    return grid


def save_grid(images, path, value_range, shape=None):
    """Writes [N, H, W, C] images in `value_range` as one PNG grid; returns the path."""
    rows, cols = shape or grid_shape(len(images))
    grid = merge(to_uint8(images, value_range), rows, cols)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    with files.written_whole(path) as partial:  # a killed run never leaves half a PNG
        Image.fromarray(grid).save(partial, format="PNG")
    return path
