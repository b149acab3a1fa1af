"""Differentiable Augmentation (Zhao et al. 2020, "DiffAugment"): every image D
sees, real and fake, in D's update and in G's, goes through the same random
transforms, each differentiable, so G learns through them and D cannot tell
real from fake by what the augmentation does. A policy names the transforms:
any of "color", "translation", "cutout", comma-separated, applied in that
written order (the authors' `DiffAugment(x, policy)`).

- color: brightness (+ U[-0.5, 0.5)), saturation (x U[0, 2) around each
  pixel's channel mean), contrast (x U[0.5, 1.5) around the image's mean);
- translation: a shift by a whole number of pixels up to 1/8 of each side
  (rounded), the uncovered border zero;
- cutout: a zero square of half each side (rounded) at a random centre.

Images are in [-1, 1], the range the authors' transforms are written for
(zero is mid-grey); `augment` maps a model's own range there and back. Every
transform takes its random numbers as arguments (`draws`, drawn from the run's
generator, in the authors' order and shapes), so a test can feed the numbers
the authors' code drew and compare outputs (tests/test_stabilizers.py).
"""

import tensorflow as tf

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
# Fewer training images than this and D can learn them by heart: the authors'
# small data sets were 10-20% of CIFAR-10 (5,000-10,000) and 100-1,000 images.
SMALL_DATA_SET = 10_000


def parse(policy):
    """The transforms of a policy string, in order; ValueError naming the fix."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in POLICIES]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"--diffaugment takes transforms from {', '.join(POLICIES)},"
                         f" comma-separated, each once (e.g. color,translation,cutout); got"
                         f" {policy!r}.")
    return tuple(names)


def small_data_advice(images, policy):
    """The line training logs when D sees fewer than SMALL_DATA_SET images and no
    augmentation (None otherwise): when to add it, as measured (it cures a D
    that memorises; added before, it only blinds D)."""
    if policy or images >= SMALL_DATA_SET:
        return None
    return (f" [*] {images:,} training images (fewer than {SMALL_DATA_SET:,}): D may learn so"
            " few by heart. Add --diffaugment translation once D's loss falls toward 0"
            " while G's climbs (D memorising): then it helped carpedm20's DCGAN on 1,000"
            " Fashion-MNIST images; before that it only slowed G"
            " (docs/stabilizers.md#small-data-sets).")


def _shift(size, ratio):
    """round(size * ratio) as the authors compute it: int(size * ratio + 0.5)."""
    return tf.cast(tf.cast(size, tf.float32) * ratio + 0.5, tf.int32)


def draws(rng, policy, images):
    """The random numbers `augment` uses for a batch of `images` [B, H, W, C], from
    `rng` (a tf.random.Generator), in the order and shapes the authors' code
    draws them: a list of tensors."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    drawn = []
    for name in policy:
        if name == "color":  # brightness, saturation, contrast: U[0, 1) [B, 1, 1, 1] each
            drawn += [rng.uniform(tf.stack([batch, 1, 1, 1])) for _ in range(3)]
        elif name == "translation":
            for size in (height, width):
                shift = _shift(size, TRANSLATION_RATIO)
                drawn.append(rng.uniform(tf.stack([batch, 1]), -shift, shift + 1, tf.int32))
        else:  # cutout: the square's centre, row then column, [B, 1, 1]
            for size in (height, width):
                cut = _shift(size, CUTOUT_RATIO)
                drawn.append(rng.uniform(tf.stack([batch, 1, 1]), 0, size + (1 - cut % 2),
                                         tf.int32))
    return drawn


def _color(x, brightness, saturation, contrast):
    x = x + (brightness - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (saturation * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (contrast + 0.5) + mean


def _shift_rows(x, offsets):
    """Each image's rows moved by its offset [B, 1] (row i shows row i + offset),
    zeros where that falls outside: a gather from the image padded by one zero
    row on each side."""
    size = tf.shape(x)[1]
    rows = tf.clip_by_value(tf.range(size)[None, :] + offsets + 1, 0, size + 1)   # [B, H]
    padded = tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]])
    return tf.gather(padded, rows, axis=1, batch_dims=1)


def _translation(x, rows, columns):
    x = _shift_rows(x, rows)
    return tf.transpose(_shift_rows(tf.transpose(x, [0, 2, 1, 3]), columns), [0, 2, 1, 3])


def _cutout(x, row_centres, column_centres):
    """Zero, in each image, the square of half its sides centred at (row, column)
    (clipped at the border)."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    cut_h, cut_w = _shift(height, CUTOUT_RATIO), _shift(width, CUTOUT_RATIO)
    top = row_centres[:, :, 0] - cut_h // 2                       # [B, 1]
    left = column_centres[:, :, 0] - cut_w // 2
    inside_rows = (tf.range(height)[None, :] >= top) & (tf.range(height)[None, :] < top + cut_h)
    inside_columns = ((tf.range(width)[None, :] >= left)
                      & (tf.range(width)[None, :] < left + cut_w))
    inside = inside_rows[:, :, None] & inside_columns[:, None, :]  # [B, H, W]
    return x * tf.cast(~inside, x.dtype)[..., None]


def transform(x, policy, drawn):
    """The policy's transforms of images x [B, H, W, C] in [-1, 1], with the
    random numbers `drawn` (`draws`'s, or the authors')."""
    drawn = list(drawn)
    for name in policy:
        if name == "color":
            x = _color(x, *[tf.cast(d, x.dtype) for d in drawn[:3]])
            drawn = drawn[3:]
        elif name == "translation":
            x = _translation(x, *drawn[:2])
            drawn = drawn[2:]
        else:
            x = _cutout(x, *drawn[:2])
            drawn = drawn[2:]
    return x


def augment(images, policy, rng, value_range):
    """`images` in `value_range` (lo, hi) augmented as `policy` says, with fresh
    draws from `rng`: mapped to [-1, 1], transformed, mapped back."""
    lo, hi = value_range
    unit = (images - lo) * (2.0 / (hi - lo)) - 1.0
    return (transform(unit, policy, draws(rng, policy, images)) + 1.0) * ((hi - lo) / 2.0) + lo
