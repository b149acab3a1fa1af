"""Generate on demand: N images (and balanced labels) from a generator, to an
.npz and optionally PNG files, independent of the batch size."""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from dcgan_tf import images
from dcgan_tf import visualize


def generate(sample, model_config, count, z_dist, batch_size=64, seed=0):
    """(images float32 [count, H, W, C] in the model's range, labels int [count] or
    None). Conditional labels are balanced: each class count // y_dim times or
    once more, in a seeded random order."""
    rng = np.random.default_rng(seed)
    z_rng = tf.random.Generator.from_seed(seed)
    labels = None
    if model_config.conditional:
        labels = rng.permutation(np.arange(count) % model_config.y_dim)
    batches = []
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        z = visualize.sample_prior(z_rng, z_dist, stop - start, model_config.z_dim)
        y = None if labels is None else np.eye(model_config.y_dim, dtype=np.float32)[
            labels[start:stop]]
        batches.append(np.asarray(sample(z, y), np.float32))
    return np.concatenate(batches), labels


def save_npz(path, generated, labels, value_range):
    """`images` [N, H, W, C], `labels` [N] (conditional only) and `value_range`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    arrays = {"images": generated, "value_range": np.asarray(value_range, np.float32)}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    partial = path + ".part.npz"
    np.savez_compressed(partial, **arrays)
    os.replace(partial, path)
    return path


def save_pngs(directory, generated, labels, value_range):
    """One PNG per image: 000123.png, or 000123_label7.png for conditional models."""
    os.makedirs(directory, exist_ok=True)
    for i, image in enumerate(images.to_uint8(generated, value_range)):
        suffix = "" if labels is None else f"_label{labels[i]}"
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            os.path.join(directory, f"{i:06d}{suffix}.png"))
    return directory
