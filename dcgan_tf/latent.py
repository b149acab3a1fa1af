"""The latent prior, `--z_dist` (the original's `gen_random`)."""

import tensorflow as tf

from dcgan_tf import choices

Z_DISTRIBUTIONS = choices.Z_DISTRIBUTIONS


def sample_latent(rng, z_dist, batch_size, z_dim):
    """Draws z [batch_size, z_dim] from `rng` (a tf.random.Generator)."""
    return _drawn(rng.uniform, rng.normal, z_dist, tf.stack([batch_size, z_dim]))


def stateless_latent(seed, z_dist, batch_size, z_dim):
    """Draws z [batch_size, z_dim] as a function of the int64 `seed` alone: for
    graphs that hold no random state (an exported sampler)."""
    seeds = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return _drawn(
        lambda shape, low, high: tf.random.stateless_uniform(shape, seeds, low, high),
        lambda shape, mean, stddev: tf.random.stateless_normal(shape, seeds, mean, stddev),
        z_dist, tf.stack([batch_size, z_dim]))


def _drawn(uniform, normal, z_dist, shape):
    if z_dist == "uniform_signed":
        return uniform(shape, -1.0, 1.0)
    if z_dist == "uniform_unsigned":
        return uniform(shape, 0.0, 1.0)
    if z_dist == "normal01":
        return normal(shape, 0.0, 1.0)
    raise ValueError(f"Unknown z_dist {z_dist!r}; use one of {', '.join(Z_DISTRIBUTIONS)}.")
