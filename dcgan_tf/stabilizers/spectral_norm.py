"""Spectral normalization of D's weights (Miyato et al. 2018): each dense and
conv weight W is used as W / sigma(W), sigma the largest singular value of W
seen as a matrix M [fan-in, out] (a conv kernel [kh, kw, in, out] reshaped),
estimated by power iteration.

As the paper's Algorithm 1, with u in R^out and v in R^fan-in kept between
updates: one power-iteration step per D update (`power_iteration`, before its
forward passes): v <- M u / |M u|, u <- M^T v / |M^T v|; every forward pass
then uses sigma = v^T M u with u and v held fixed (so the gradient flows
through M alone), in training and inference alike. u and v are float32
non-trainable variables of D (checkpointed), one copy for all replicas (the
same W gives every replica the same u and v).
"""

import tensorflow as tf

from dcgan_tf import distribute
from dcgan_tf.networks import tf1_layers
from dcgan_tf.networks import torch_layers

# The layers with a weight to normalize, and that weight's attribute.
WEIGHTS = {tf1_layers.Linear: "matrix", tf1_layers.Conv2D: "w", torch_layers.Linear: "kernel",
           torch_layers.Conv2d: "kernel"}
# Keeps a vector's normalization finite where it is all zeros (TF-GAN's).
EPSILON = 1e-12


def _normalized(vector):
    return vector / (tf.norm(vector) + EPSILON)


def as_matrix(weight):
    """M [fan-in, out] of a dense [in, out] or conv [kh, kw, in, out] weight."""
    return tf.reshape(weight, [-1, weight.shape[-1]])


class SpectralNorm(tf.Module):
    """The normalization of one weight: call it on the weight to use it."""

    # The weight is the layer's, tracked there (not stored twice).
    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"weight"})

    def __init__(self, weight, name="spectral_norm"):
        super().__init__(name=name)
        self.weight = self._no_dependency(weight)
        matrix = as_matrix(tf.cast(weight, tf.float32))
        per_replica = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        with self.name_scope:
            u = _normalized(tf.random.normal([matrix.shape[1]]))
            self.u = tf.Variable(u, name="u", **per_replica)
            self.v = tf.Variable(_normalized(tf.linalg.matvec(matrix, u)), name="v",
                                 **per_replica)

    def sigma(self, weight):
        """v^T M u: the largest singular value of M, as u and v estimate it."""
        matrix = as_matrix(tf.cast(weight, tf.float32))
        return tf.tensordot(self.v, tf.linalg.matvec(matrix, self.u), 1)

    def __call__(self, weight):
        return weight / tf.cast(self.sigma(weight), weight.dtype)

    def power_iteration(self):
        """One step of power iteration on the weight's current values."""
        matrix = as_matrix(tf.cast(self.weight, tf.float32))
        v = _normalized(tf.linalg.matvec(matrix, self.u))
        u = _normalized(tf.linalg.matvec(matrix, v, transpose_a=True))
        distribute.update_each_copy([(self.v, (v,)), (self.u, (u,))],
                                    lambda variable, value: variable.assign(value))


def apply(discriminator):
    """Puts a SpectralNorm on every dense and conv layer of `discriminator`;
    returns them, in build order."""
    normalized = []
    for layer in discriminator.submodules:
        attribute = WEIGHTS.get(type(layer))
        if attribute is None:
            continue
        with layer.name_scope:
            layer.spectral_norm = SpectralNorm(getattr(layer, attribute))
        normalized.append(layer.spectral_norm)
    return normalized


def of(module):
    """The SpectralNorms of a module's layers, in build order."""
    return [layer.spectral_norm for layer in module.submodules
            if type(layer) in WEIGHTS and layer.spectral_norm is not None]
