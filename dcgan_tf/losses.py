"""The original's losses: mean sigmoid cross-entropy on D's logits.

d_loss = d_loss_real + d_loss_fake; g_loss is the non-saturating
-log D(G(z)) ("log(D(G(z)))" in the original), not log(1 - D(G(z))).
"""

import tensorflow as tf


def sigmoid_cross_entropy(logits, label):
    """Mean of sigmoid cross-entropy between `logits` and a constant `label`."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def discriminator_losses(real_logits, fake_logits):
    """Returns (d_loss_real, d_loss_fake): real labelled 1, fake labelled 0."""
    return sigmoid_cross_entropy(real_logits, 1.0), sigmoid_cross_entropy(fake_logits, 0.0)


def generator_loss(fake_logits):
    """g_loss: G(z) labelled 1."""
    return sigmoid_cross_entropy(fake_logits, 1.0)
