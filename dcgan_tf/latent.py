"""The latent prior, `--z_dist` (the original's `gen_random`)."""

import tensorflow as tf

Z_DISTRIBUTIONS = ("uniform_signed", "uniform_unsigned", "normal01")


def sample_latent(rng, z_dist, batch_size, z_dim):
    """Draws z [batch_size, z_dim] from `rng` (a tf.random.Generator)."""
    shape = tf.stack([batch_size, z_dim])
    if z_dist == "uniform_signed":
        return rng.uniform(shape, -1.0, 1.0)
    if z_dist == "uniform_unsigned":
        return rng.uniform(shape, 0.0, 1.0)
    if z_dist == "normal01":
        return rng.normal(shape, 0.0, 1.0)
    raise ValueError(f"Unknown z_dist {z_dist!r}; use one of {', '.join(Z_DISTRIBUTIONS)}.")
