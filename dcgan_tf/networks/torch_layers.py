"""PyTorch's layers as the PyTorch-GAN scripts use them, as `tf.Module`s.

Each layer keeps TensorFlow's layouts for its variables (a Linear's kernel is
[in, out], a Conv2d's [kh, kw, in, out], images are NHWC) and knows its
PyTorch `state_dict` entries, so a PyTorch checkpoint maps onto it and back
(`torch_state` / `load_torch_state`). Every constant is PyTorch's, written out
where it is used: the scripts rely on them (BatchNorm1d(n, 0.8) is eps 0.8).

Layers compute in their input's dtype (--mixed_precision: bfloat16 / float16)
with float32 variables, normalizations in float32; in float32 every cast is
a no-op.
"""

import math

import numpy as np
import tensorflow as tf

from dcgan_tf import distribute

# nn.BatchNorm*d(n, momentum=0.1): running = (1 - 0.1) * running + 0.1 * batch.
BATCH_NORM_MOMENTUM = 0.1
# nn.BatchNorm*d(n)'s default eps; the scripts pass 0.8 as the second argument.
BATCH_NORM_EPSILON = 1e-5
# nn.GroupNorm's and nn.LayerNorm's default eps.
LAYER_NORM_EPSILON = 1e-5
# nn.LeakyReLU(0.2), as every script writes it.
LEAKY_RELU_SLOPE = 0.2


def leaky_relu(x):
    return tf.nn.leaky_relu(x, LEAKY_RELU_SLOPE)


def _uniform(shape, bound):
    return tf.random.uniform(shape, -bound, bound)


class Linear(tf.Module):
    """nn.Linear(in, out): x @ kernel + bias. PyTorch's default init:
    kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(in)), and a bias U(+-1/sqrt(in)).
    With a `spectral_norm` (stabilizers.spectral_norm), kernel / sigma(kernel)."""

    spectral_norm = None

    def __init__(self, in_features, out_features, name, torch_name):
        super().__init__(name=name)
        self.torch_name = torch_name
        bound = 1.0 / math.sqrt(in_features)
        with self.name_scope:
            self.kernel = tf.Variable(_uniform([in_features, out_features], bound), name="kernel")
            self.bias = tf.Variable(_uniform([out_features], bound), name="bias")

    def __call__(self, x):
        kernel = self.kernel if self.spectral_norm is None else self.spectral_norm(self.kernel)
        return tf.matmul(x, tf.cast(kernel, x.dtype)) + tf.cast(self.bias, x.dtype)

    def torch_state(self):
        """{state_dict key: (variable, TF -> torch layout, torch -> TF layout)}."""
        transpose = lambda a: np.transpose(a)  # noqa: E731  [in, out] <-> [out, in]
        return {f"{self.torch_name}.weight": (self.kernel, transpose, transpose),
                f"{self.torch_name}.bias": (self.bias, None, None)}


class Conv2d(tf.Module):
    """nn.Conv2d(in, out, k, stride, padding): `padding` pixels of zeros on every
    side, then a VALID convolution (TensorFlow's SAME pads stride-2 inputs on the
    bottom/right only). Default init U(+-1/sqrt(in * k * k)), bias likewise.

    The zeros are padded by tf.pad (or by SAME, where it pads exactly as
    PyTorch does: stride 1, k = 2 * padding + 1), not by the convolution's
    explicit padding: TensorFlow runs explicitly padded convolutions' gradients
    on Eigen's kernels, not oneDNN's, 1.7x slower in float32 on the scripts'
    3x3 convolutions and far slower in bfloat16 (bench/RESULTS.md). With a
    `spectral_norm` (stabilizers.spectral_norm), kernel / sigma(kernel)."""

    spectral_norm = None

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, name,
                 torch_name):
        super().__init__(name=name)
        self.torch_name = torch_name
        self.stride = stride
        same = stride == 1 and kernel_size == 2 * padding + 1
        self.padding = "SAME" if same else "VALID"
        self.zeros = (None if same or padding == 0
                      else [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        with self.name_scope:
            self.kernel = tf.Variable(
                _uniform([kernel_size, kernel_size, in_channels, out_channels], bound),
                name="kernel")
            self.bias = tf.Variable(_uniform([out_channels], bound), name="bias")

    def __call__(self, x):
        if self.zeros is not None:
            x = tf.pad(x, self.zeros)
        kernel = self.kernel if self.spectral_norm is None else self.spectral_norm(self.kernel)
        y = tf.nn.conv2d(x, tf.cast(kernel, x.dtype), strides=self.stride, padding=self.padding)
        return tf.nn.bias_add(y, tf.cast(self.bias, x.dtype))

    def torch_state(self):
        to_torch = lambda a: np.transpose(a, (3, 2, 0, 1))  # noqa: E731  HWIO -> OIHW
        to_tf = lambda a: np.transpose(a, (2, 3, 1, 0))  # noqa: E731
        return {f"{self.torch_name}.weight": (self.kernel, to_torch, to_tf),
                f"{self.torch_name}.bias": (self.bias, None, None)}


class BatchNorm(tf.Module):
    """nn.BatchNorm1d / nn.BatchNorm2d(num_features, eps) in PyTorch's semantics:
    training mode normalizes with the batch mean and *biased* variance over every
    axis but the channels, and moves the running averages by momentum 0.1 towards
    the batch mean and the *unbiased* variance; every training-mode call counts
    in `num_batches_tracked`. Inference mode uses the running averages.

    Under a tf.distribute strategy each replica normalizes with its own rows and
    keeps its own running averages (read back as their mean), as DataParallel
    does; with `synchronized` (--sync_bn) the statistics are the global batch's,
    all-reduced over the replicas (nn.SyncBatchNorm's: the running variance
    takes the unbiased variance of the global batch)."""

    def __init__(self, num_features, eps, name, torch_name):
        super().__init__(name=name)
        self.torch_name = torch_name
        self.eps = float(eps)
        self.synchronized = False
        self._last_statistics = {}  # of the last training-mode call, per replica
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([num_features]), name="gamma")
            self.beta = tf.Variable(tf.zeros([num_features]), name="beta")
            # Under tf.distribute each replica keeps its own running averages
            # (ON_READ: no communication per step), read as their mean.
            per_replica = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ)
            self.moving_mean = tf.Variable(tf.zeros([num_features]), name="moving_mean",
                                           aggregation=tf.VariableAggregation.MEAN, **per_replica)
            self.moving_variance = tf.Variable(tf.ones([num_features]), name="moving_variance",
                                               aggregation=tf.VariableAggregation.MEAN,
                                               **per_replica)
            self.num_batches_tracked = tf.Variable(
                0, dtype=tf.int64, name="num_batches_tracked",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA, **per_replica)

    def __call__(self, x, training):
        x32 = tf.cast(x, tf.float32)  # statistics in float32, also under mixed precision
        if not training:
            return tf.cast(tf.nn.batch_normalization(x32, self.moving_mean, self.moving_variance,
                                                     self.beta, self.gamma, self.eps), x.dtype)
        axes = list(range(x.shape.rank - 1))
        replica = tf.distribute.get_replica_context()
        if self.synchronized and replica and replica.num_replicas_in_sync > 1:
            mean, variance, count = distribute.global_batch_moments(x32, axes, replica)
        else:
            mean, variance = tf.nn.moments(x32, axes)
            count = tf.cast(tf.reduce_prod(tf.shape(x32)[:-1]), x32.dtype)
        self._update_running_averages(tf.stop_gradient(mean),
                                      tf.stop_gradient(variance * count / (count - 1.0)))
        return tf.cast(tf.nn.batch_normalization(x32, mean, variance, self.beta, self.gamma,
                                                 self.eps), x.dtype)

    def repeat_last_update(self):
        """Moves the running averages again with the last training-mode call's batch
        statistics, and counts it: what a second identical forward pass would do,
        without it."""
        self._update_running_averages(*self._last_statistics[distribute.replica_index()])

    def _update_running_averages(self, batch_mean, batch_unbiased_variance):
        self._last_statistics[distribute.replica_index()] = (batch_mean, batch_unbiased_variance)
        self.moving_mean.assign((1.0 - BATCH_NORM_MOMENTUM) * self.moving_mean
                                + BATCH_NORM_MOMENTUM * batch_mean)
        self.moving_variance.assign((1.0 - BATCH_NORM_MOMENTUM) * self.moving_variance
                                    + BATCH_NORM_MOMENTUM * batch_unbiased_variance)
        self.num_batches_tracked.assign_add(1)

    def torch_state(self):
        name = self.torch_name
        return {f"{name}.weight": (self.gamma, None, None), f"{name}.bias": (self.beta, None, None),
                f"{name}.running_mean": (self.moving_mean, None, None),
                f"{name}.running_var": (self.moving_variance, None, None),
                f"{name}.num_batches_tracked": (self.num_batches_tracked, None, None)}


class LayerNorm(tf.Module):
    """nn.GroupNorm(1, num_features): layer normalization of each example over all
    its features (C, H, W), biased variance, eps 1e-5, then a per-channel weight
    and bias. What a conv critic uses in place of batch norm under --loss wgan_gp:
    the gradient penalty is per example, and batch norm ties the examples together
    (Gulrajani et al. 2017, section 4). No running averages: it acts the same in
    training and inference."""

    def __init__(self, num_features, name, torch_name):
        super().__init__(name=name)
        self.torch_name = torch_name
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([num_features]), name="gamma")
            self.beta = tf.Variable(tf.zeros([num_features]), name="beta")

    def __call__(self, x, training=None):
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, list(range(1, x.shape.rank)), keepdims=True)
        return tf.cast(tf.nn.batch_normalization(x32, mean, variance, self.beta, self.gamma,
                                                 LAYER_NORM_EPSILON), x.dtype)

    def torch_state(self):
        return {f"{self.torch_name}.weight": (self.gamma, None, None),
                f"{self.torch_name}.bias": (self.beta, None, None)}


class Embedding(tf.Module):
    """nn.Embedding(num, dim), looked up with one-hot labels: y @ table picks a row
    exactly (one product by 1.0, the rest by 0.0). Init N(0, 1), as PyTorch's."""

    def __init__(self, num_embeddings, embedding_dim, name, torch_name):
        super().__init__(name=name)
        self.torch_name = torch_name
        with self.name_scope:
            self.table = tf.Variable(tf.random.normal([num_embeddings, embedding_dim]),
                                     name="table")

    def __call__(self, one_hot):
        return tf.matmul(one_hot, tf.cast(self.table, one_hot.dtype))

    def torch_state(self):
        return {f"{self.torch_name}.weight": (self.table, None, None)}


def upsample_nearest_2x(x):
    """nn.Upsample(scale_factor=2) (nearest): every pixel repeated 2x2.  [B, H, W, C] -> [B, 2H, 2W, C]"""
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


class Dropout(tf.Module):
    """nn.Dropout(rate) (`channelwise=False`) or nn.Dropout2d(rate) (`channelwise`:
    one draw per example and channel, for all its pixels). Training mode zeroes
    with probability `rate` and scales the rest by 1 / (1 - rate); inference mode,
    and `enabled=False` (the golden runs turned dropout off), pass x through.
    Draws come from the generator it is given, so runs stay seeded."""

    # The random generator belongs to the trainer (and its checkpoint), not here.
    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"rng"})

    def __init__(self, rate, channelwise, rng, name):
        super().__init__(name=name)
        self.rate = float(rate)
        self.channelwise = channelwise
        self.rng = rng
        self.enabled = True

    def __call__(self, x, training):
        if not (training and self.enabled and self.rate > 0):
            return x
        shape = tf.shape(x)
        if self.channelwise:  # [B, 1, 1, C]
            shape = tf.stack([shape[0], 1, 1, shape[-1]])
        keep = tf.cast(self.rng.uniform(shape) >= self.rate, x.dtype)
        return x * keep / (1.0 - self.rate)


def to_channels_first(images):
    """[B, H, W, C] -> [B, C, H, W]: PyTorch's `view(b, -1)` flattens channel-major."""
    return tf.transpose(images, [0, 3, 1, 2])


def to_channels_last(images):
    return tf.transpose(images, [0, 2, 3, 1])


def torch_state(*modules):
    """{state_dict key: (variable, to_torch, to_tf)} of every layer in `modules`."""
    state = {}
    for module in modules:
        for layer in module.submodules:
            if hasattr(layer, "torch_state"):
                state.update(layer.torch_state())
    return state


def load_torch_state(module, state_dict):
    """Assigns a PyTorch `state_dict` (numpy arrays) to `module`'s variables;
    every entry must find its variable, and every variable its entry."""
    mine = torch_state(module)
    if set(mine) != set(state_dict):
        raise ValueError(f"State dict does not fit: missing {sorted(set(mine) - set(state_dict))},"
                         f" unexpected {sorted(set(state_dict) - set(mine))}.")
    for key, (variable, _, to_tf) in mine.items():
        value = np.asarray(state_dict[key])
        variable.assign(to_tf(value) if to_tf else value.astype(variable.dtype.as_numpy_dtype))


def to_torch_state(module):
    """The module's variables as a PyTorch `state_dict` of numpy arrays."""
    return {key: (to_torch(variable.numpy()) if to_torch else variable.numpy())
            for key, (variable, to_torch, _) in torch_state(module).items()}
