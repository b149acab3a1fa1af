"""The original's building blocks (carpedm20 `ops.py`), as `tf.Module`s.

Every constant here is pinned to the original TF1 graph, never to a Keras
default, and every variable is created under the original's scope and name, so
`variable.name` is the TF1 checkpoint key (`generator/g_h0_lin/Matrix:0`).
"""

import tensorflow as tf

from dcgan_tf import distribute

# Initializer scale of conv2d, deconv2d and linear (ops.py `stddev=0.02`).
WEIGHT_STDDEV = 0.02
# Batch norm: the original asks for 1e-5, but tf.contrib's fused batch norm
# raises any epsilon below cuDNN's minimum to 1.001e-5; the graph holds 1.001e-5.
BATCH_NORM_EPSILON = 1.001e-5
# Moving-average decay of tf.contrib.layers.batch_norm(decay=0.9).
BATCH_NORM_MOMENTUM = 0.9
# lrelu(x) = max(x, 0.2 x).
LRELU_LEAK = 0.2
# conv2d / deconv2d: 5x5 kernels, stride 2, SAME padding.
KERNEL_SIZE = 5
STRIDE = 2


def lrelu(x, leak=LRELU_LEAK):
    """Leaky ReLU as the original writes it: `tf.maximum(x, leak * x)`."""
    return tf.maximum(x, leak * x)


def conv_cond_concat(x, y):
    """Appends the label map `y` [B, 1, 1, Y] to every position of `x` [B, H, W, C].

    Returns [B, H, W, C + Y]; the original multiplies `y` by a ones tensor, a
    broadcast gives the same values.
    """
    shape = tf.TensorShape(x.shape)[:-1].concatenate(tf.TensorShape(y.shape)[-1:])
    if not shape.is_fully_defined():  # a batch of any size: the shape as the graph runs
        shape = tf.concat([tf.shape(x)[:-1], tf.shape(y)[-1:]], axis=0)
    y_map = tf.broadcast_to(y, shape)
    return tf.concat([x, tf.cast(y_map, x.dtype)], axis=3)


class Linear(tf.Module):
    """`linear`: x @ Matrix + bias; Matrix ~ N(0, 0.02), bias zero. With a
    `spectral_norm` (stabilizers.spectral_norm), Matrix / sigma(Matrix)."""

    spectral_norm = None

    def __init__(self, input_size, output_size, name):
        super().__init__(name=name)
        with self.name_scope:
            self.matrix = tf.Variable(
                tf.random.normal([input_size, output_size], stddev=WEIGHT_STDDEV), name="Matrix")
            self.bias = tf.Variable(tf.zeros([output_size]), name="bias")

    def __call__(self, x):
        matrix = self.matrix if self.spectral_norm is None else self.spectral_norm(self.matrix)
        return tf.matmul(x, tf.cast(matrix, x.dtype)) + tf.cast(self.bias, x.dtype)


class Conv2D(tf.Module):
    """`conv2d`: 5x5 stride-2 SAME convolution; w ~ truncated N(0, 0.02). With a
    `spectral_norm` (stabilizers.spectral_norm), w / sigma(w)."""

    spectral_norm = None

    def __init__(self, input_channels, output_channels, name):
        super().__init__(name=name)
        with self.name_scope:
            self.w = tf.Variable(
                tf.random.truncated_normal(
                    [KERNEL_SIZE, KERNEL_SIZE, input_channels, output_channels],
                    stddev=WEIGHT_STDDEV),
                name="w")
            self.biases = tf.Variable(tf.zeros([output_channels]), name="biases")

    def __call__(self, x):
        w = self.w if self.spectral_norm is None else self.spectral_norm(self.w)
        conv = tf.nn.conv2d(x, tf.cast(w, x.dtype), strides=STRIDE, padding="SAME")
        return tf.nn.bias_add(conv, tf.cast(self.biases, x.dtype))


class Deconv2D(tf.Module):
    """`deconv2d`: 5x5 stride-2 transposed convolution; w ~ N(0, 0.02).

    The kernel is [5, 5, output_channels, input_channels], as in the original,
    and the output size is given explicitly, as the original does.
    """

    def __init__(self, input_channels, output_channels, name):
        super().__init__(name=name)
        self.output_channels = output_channels
        with self.name_scope:
            self.w = tf.Variable(
                tf.random.normal(
                    [KERNEL_SIZE, KERNEL_SIZE, output_channels, input_channels],
                    stddev=WEIGHT_STDDEV),
                name="w")
            self.biases = tf.Variable(tf.zeros([output_channels]), name="biases")

    def __call__(self, x, output_height, output_width):
        output_shape = tf.stack([tf.shape(x)[0], output_height, output_width, self.output_channels])
        deconv = tf.nn.conv2d_transpose(
            x, tf.cast(self.w, x.dtype), output_shape, strides=STRIDE, padding="SAME")
        return tf.nn.bias_add(deconv, tf.cast(self.biases, x.dtype))


class BatchNorm(tf.Module):
    """tf.contrib.layers.batch_norm(decay=0.9, epsilon=1e-5, scale=True,
    updates_collections=None, fused) as the original uses it.

    Training mode normalizes with the batch statistics and, as a side effect of
    every training-mode call, moves the moving averages towards the batch mean
    and the Bessel-corrected (n - 1) batch variance: that is what the fused
    kernel returns and what the original feeds its moving variance (Keras'
    BatchNormalization feeds the biased one). Inference mode uses the moving
    averages. Dense inputs [B, C] run as [B, 1, 1, C], as the original's do.

    Under a tf.distribute strategy each replica normalizes with its own batch's
    statistics and keeps its own moving averages (read back as their mean), as
    ordinary data-parallel DCGAN training does; with `synchronized` set
    (--sync_bn) the statistics are those of the global batch, all-reduced over
    the replicas, so N replicas compute what one device computes.
    """

    def __init__(self, num_features, name):
        super().__init__(name=name)
        self.synchronized = False
        self._last_statistics = {}  # of the last training-mode call, per replica
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([num_features]), name="gamma")
            self.beta = tf.Variable(tf.zeros([num_features]), name="beta")
            # ON_READ: written by each replica locally, no communication per step.
            per_replica = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                               aggregation=tf.VariableAggregation.MEAN)
            self.moving_mean = tf.Variable(
                tf.zeros([num_features]), name="moving_mean", **per_replica)
            self.moving_variance = tf.Variable(
                tf.ones([num_features]), name="moving_variance", **per_replica)

    def __call__(self, x, training):
        is_dense = x.shape.rank == 2
        x4 = tf.reshape(x, [-1, 1, 1, x.shape[-1]]) if is_dense else x  # [B, H, W, C]
        replica = tf.distribute.get_replica_context()
        if training and self.synchronized and replica and replica.num_replicas_in_sync > 1:
            y = self._normalize_with_global_batch(x4, replica)
        elif training:
            y, batch_mean, batch_variance = tf.compat.v1.nn.fused_batch_norm(
                x4, self.gamma, self.beta, epsilon=BATCH_NORM_EPSILON, is_training=True)
            self._update_moving_averages(batch_mean, batch_variance)
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x4, self.gamma, self.beta, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=BATCH_NORM_EPSILON, is_training=False)
        return tf.reshape(y, tf.shape(x)) if is_dense else y

    def _normalize_with_global_batch(self, x4, replica):
        """Training-mode batch norm over all replicas' rows (distribute.global_batch_moments)."""
        x32 = tf.cast(x4, tf.float32)  # statistics in float32, also under mixed precision
        mean, variance, count = distribute.global_batch_moments(x32, [0, 1, 2], replica)
        y = tf.nn.batch_normalization(x32, mean, variance, self.beta, self.gamma,
                                      BATCH_NORM_EPSILON)
        # The moving variance takes the Bessel-corrected variance, as the fused kernel's.
        self._update_moving_averages(tf.stop_gradient(mean),
                                     tf.stop_gradient(variance * count / (count - 1.0)))
        return tf.cast(y, x4.dtype)

    def repeat_last_update(self):
        """Moves the moving averages again with the last training-mode call's batch
        statistics: what a second identical forward pass would do, without it."""
        self._update_moving_averages(*self._last_statistics[distribute.replica_index()])

    def _update_moving_averages(self, batch_mean, batch_variance):
        # moving -= (moving - batch) * (1 - decay): TF1's assign_moving_average
        # without zero debiasing, the same ops in the same order.
        self._last_statistics[distribute.replica_index()] = (batch_mean, batch_variance)
        decay_complement = 1.0 - BATCH_NORM_MOMENTUM
        self.moving_mean.assign_sub((self.moving_mean - batch_mean) * decay_complement)
        self.moving_variance.assign_sub(
            (self.moving_variance - batch_variance) * decay_complement)


def no_norm(x, training=None):
    """A critic without normalization (--spectral_norm): its input, unchanged."""
    del training
    return x


# Layer norm's epsilon for the WGAN-GP critic (ours: there is no original to pin).
LAYER_NORM_EPSILON = 1e-5


class LayerNorm(tf.Module):
    """Layer normalization (Ba et al. 2016) over each example's features (all axes
    but the batch), with a learned per-channel scale and offset: the critic's
    normalization under --loss wgan_gp, whose gradient penalty is per example
    and so ill-posed through batch norm (Gulrajani et al. 2017, section 4).
    Keeps batch norm's variable names (gamma, beta) and call signature."""

    def __init__(self, num_features, name):
        super().__init__(name=name)
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([num_features]), name="gamma")
            self.beta = tf.Variable(tf.zeros([num_features]), name="beta")

    def __call__(self, x, training=None):
        axes = list(range(1, x.shape.rank))
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes, keepdims=True)
        y = tf.nn.batch_normalization(x32, mean, variance, self.beta, self.gamma,
                                      LAYER_NORM_EPSILON)
        return tf.cast(y, x.dtype)
