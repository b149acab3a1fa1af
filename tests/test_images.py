"""Sample grids, checked pixel by pixel."""

import numpy as np
import pytest
from PIL import Image

from dcgan_tf import images


@pytest.mark.parametrize("n,shape", [(64, (8, 8)), (100, (10, 10)), (10, (3, 4)), (1, (1, 1)),
                                     (12, (3, 4))])
def test_grid_shape_fits_any_batch_size(n, shape):
    assert images.grid_shape(n) == shape


def test_sigmoid_output_keeps_full_contrast():
    """The original's (x + 1) / 2 turned MNIST's black 0.0 into grey 128."""
    np.testing.assert_array_equal(images.to_uint8([0.0, 0.5, 1.0, 1.2], (0.0, 1.0)),
                                  [0, 128, 255, 255])
    np.testing.assert_array_equal(images.to_uint8([-1.0, 0.0, 1.0], (-1.0, 1.0)), [0, 128, 255])


def test_save_grid_places_images_row_major(tmp_path):
    batch = np.zeros((5, 2, 3, 1), np.float32)
    for i in range(5):
        batch[i] = i / 4.0
    path = images.save_grid(batch, str(tmp_path / "sub" / "grid.png"), (0.0, 1.0))
    grid = np.asarray(Image.open(path))
    assert grid.shape == (4, 9)  # 2 rows x 3 cols of 2x3 images, grayscale
    assert grid[0, 0] == 0 and grid[0, 3] == 64 and grid[0, 6] == 128
    assert grid[2, 0] == 191 and grid[2, 3] == 255
    assert grid[2, 6] == 0  # the empty sixth cell stays black


def test_save_grid_rgb(tmp_path):
    batch = np.full((4, 2, 2, 3), -1.0, np.float32)
    batch[3, ..., 0] = 1.0
    grid = np.asarray(Image.open(images.save_grid(batch, str(tmp_path / "g.png"), (-1.0, 1.0))))
    assert grid.shape == (4, 4, 3)
    np.testing.assert_array_equal(grid[2, 2], [255, 0, 0])
    np.testing.assert_array_equal(grid[0, 0], [0, 0, 0])
