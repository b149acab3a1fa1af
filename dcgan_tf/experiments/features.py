"""D as a feature extractor, as the DCGAN paper uses it for classification:
"we use all layers' features, max-pooling each layer representation to produce
a 4 x 4 spatial grid; these features are then flattened and concatenated".

Every network's discriminator gives its hidden layers' outputs through
`layer_outputs(images, y, training)` (networks/__init__.py); convolutional
layers [B, H, W, C] are max-pooled to min(4, H) x min(4, W) cells (a layer
already smaller than the grid is kept whole), dense layers [B, F] are taken as
they are. The cells split a side of n pixels as PyTorch's adaptive pooling
does: cell i covers floor(i n / 4) to ceil((i + 1) n / 4), so cells overlap
where 4 does not divide n.
"""

import math

import numpy as np
import tensorflow as tf

GRID = 4


def cells(size, grid=GRID):
    """[(start, end)] of the min(grid, size) cells along a side of `size` pixels."""
    count = min(grid, size)
    return [(i * size // count, math.ceil((i + 1) * size / count)) for i in range(count)]


def max_pool_to_grid(layer, grid=GRID):
    """One layer's output as features: [B, H, W, C] -> [B, min(grid, H) * min(grid,
    W) * C] (cell-major, channels innermost); [B, F] passes through."""
    if layer.shape.rank == 2:
        return layer
    pooled = [[tf.reduce_max(layer[:, top:bottom, left:right, :], axis=[1, 2])  # [B, C]
               for left, right in cells(layer.shape[2], grid)]
              for top, bottom in cells(layer.shape[1], grid)]
    return tf.reshape(tf.stack([tf.stack(row, axis=1) for row in pooled], axis=1),
                      [tf.shape(layer)[0], -1])


def feature_count(layer_shapes, grid=GRID):
    """The length of the concatenated features of layers of these shapes
    ((H, W, C) or (F,), batch left out)."""
    total = 0
    for shape in layer_shapes:
        if len(shape) == 1:
            total += shape[0]
        else:
            height, width, channels = shape
            total += min(grid, height) * min(grid, width) * channels
    return total


def discriminator_features(discriminator, images, y=None, batch_size=256):
    """D's features of images [N, H, W, C] (in the model's range; y one-hot [N,
    classes] for a D that reads labels), inference mode: float32 [N, F]."""
    batches = []
    for start in range(0, len(images), batch_size):
        labels = None if y is None else tf.constant(y[start:start + batch_size], tf.float32)
        layers = discriminator.layer_outputs(
            tf.constant(images[start:start + batch_size], tf.float32), labels, training=False)
        batches.append(tf.concat([max_pool_to_grid(tf.cast(layer, tf.float32))
                                  for layer in layers], axis=1).numpy())
    return np.concatenate(batches)
