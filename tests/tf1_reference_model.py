"""A TF1-style DCGAN written here with tf.compat.v1 (variable scopes,
get_variable, a Saver), with the original's variable names and tiny widths.

It stands in for the original's code where ../shared is absent, so that
loading TF1 checkpoints is tested on any machine. It is our own reference,
written from the original's documented behaviour, not the original's code.
"""

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def _batch_norm(x, name, training):
    channels = x.shape[-1]
    with v1.variable_scope(name, reuse=v1.AUTO_REUSE):
        gamma = v1.get_variable("gamma", [channels], initializer=v1.ones_initializer())
        beta = v1.get_variable("beta", [channels], initializer=v1.zeros_initializer())
        mean = v1.get_variable("moving_mean", [channels], trainable=False,
                               initializer=v1.zeros_initializer())
        variance = v1.get_variable("moving_variance", [channels], trainable=False,
                                   initializer=v1.ones_initializer())
    x4 = tf.reshape(x, [-1, 1, 1, channels]) if x.shape.rank == 2 else x
    if training:
        y, batch_mean, batch_variance = v1.nn.fused_batch_norm(x4, gamma, beta,
                                                                epsilon=1.001e-5)
        updates = [v1.assign_sub(mean, (mean - batch_mean) * 0.1),
                   v1.assign_sub(variance, (variance - batch_variance) * 0.1)]
        with tf.control_dependencies(updates):
            y = tf.identity(y)
    else:
        y, _, _ = v1.nn.fused_batch_norm(x4, gamma, beta, mean, variance, epsilon=1.001e-5,
                                         is_training=False)
    return tf.reshape(y, tf.shape(x)) if x.shape.rank == 2 else y


def _linear(x, units, name):
    with v1.variable_scope(name, reuse=v1.AUTO_REUSE):
        matrix = v1.get_variable("Matrix", [x.shape[1], units],
                                 initializer=v1.random_normal_initializer(stddev=0.02))
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
    return tf.matmul(x, matrix) + bias


def _conv(x, channels, name):
    with v1.variable_scope(name, reuse=v1.AUTO_REUSE):
        w = v1.get_variable("w", [5, 5, x.shape[-1], channels],
                            initializer=v1.truncated_normal_initializer(stddev=0.02))
        biases = v1.get_variable("biases", [channels], initializer=v1.zeros_initializer())
    return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME"), biases)


def _deconv(x, shape, name):
    with v1.variable_scope(name, reuse=v1.AUTO_REUSE):
        w = v1.get_variable("w", [5, 5, shape[-1], x.shape[-1]],
                            initializer=v1.random_normal_initializer(stddev=0.02))
        biases = v1.get_variable("biases", [shape[-1]], initializer=v1.zeros_initializer())
    return tf.nn.bias_add(tf.nn.conv2d_transpose(x, w, shape, [1, 2, 2, 1]), biases)


def _lrelu(x):
    return tf.maximum(x, 0.2 * x)


def _cond_concat(x, yb):
    return tf.concat([x, yb * tf.ones(x.shape[:3].as_list() + [yb.shape[-1]])], 3)


class TF1ReferenceDCGAN:
    """Graph, session and saver of a tiny DCGAN: conditional when y_dim > 0
    (28x28x1), else unconditional 32x32x3."""

    def __init__(self, y_dim, batch_size=8, z_dim=6, gf_dim=4, df_dim=4, fc_dim=16, seed=0):
        self.y_dim, self.batch_size = y_dim, batch_size
        self.graph = tf.Graph()
        with self.graph.as_default():
            v1.set_random_seed(seed)
            self.z = v1.placeholder(tf.float32, [batch_size, z_dim], name="z")
            size, channels = (28, 1) if y_dim else (32, 3)
            self.real = v1.placeholder(tf.float32, [batch_size, size, size, channels],
                                       name="real_images")
            self.y = v1.placeholder(tf.float32, [batch_size, y_dim], name="y") if y_dim else None
            dims = dict(gf=gf_dim, df=df_dim, fc=fc_dim, c=channels, size=size)
            fake = self._generator(dims, training=True)
            self.sampler = self._generator(dims, training=False)
            real_logits = self._discriminator(self.real, dims)
            fake_logits = self._discriminator(fake, dims)
            ce = tf.nn.sigmoid_cross_entropy_with_logits
            d_loss = (tf.reduce_mean(ce(labels=tf.ones_like(real_logits), logits=real_logits))
                      + tf.reduce_mean(ce(labels=tf.zeros_like(fake_logits), logits=fake_logits)))
            g_loss = tf.reduce_mean(ce(labels=tf.ones_like(fake_logits), logits=fake_logits))
            variables = v1.trainable_variables()
            self.d_optim = v1.train.AdamOptimizer(2e-4, beta1=0.5).minimize(
                d_loss, var_list=[v for v in variables if "d_" in v.name])
            self.g_optim = v1.train.AdamOptimizer(2e-4, beta1=0.5).minimize(
                g_loss, var_list=[v for v in variables if "g_" in v.name])
            self.saver = v1.train.Saver()
            self.session = v1.Session()
            self.session.run(v1.global_variables_initializer())

    def _generator(self, d, training):
        with v1.variable_scope("generator", reuse=v1.AUTO_REUSE):
            b = self.batch_size
            if self.y_dim:
                yb = tf.reshape(self.y, [b, 1, 1, self.y_dim])
                h = tf.concat([self.z, self.y], 1)
                h = tf.concat([tf.nn.relu(_batch_norm(_linear(h, d["fc"], "g_h0_lin"), "g_bn0",
                                                      training)), self.y], 1)
                h = tf.nn.relu(_batch_norm(_linear(h, d["gf"] * 2 * 49, "g_h1_lin"), "g_bn1",
                                           training))
                h = _cond_concat(tf.reshape(h, [b, 7, 7, d["gf"] * 2]), yb)
                h = tf.nn.relu(_batch_norm(_deconv(h, [b, 14, 14, d["gf"] * 2], "g_h2"), "g_bn2",
                                           training))
                return tf.nn.sigmoid(_deconv(_cond_concat(h, yb), [b, 28, 28, 1], "g_h3"))
            h = tf.reshape(_linear(self.z, d["gf"] * 8 * 4, "g_h0_lin"), [b, 2, 2, d["gf"] * 8])
            h = tf.nn.relu(_batch_norm(h, "g_bn0", training))
            for i, (size, width) in enumerate([(4, 4), (8, 2), (16, 1)], start=1):
                h = tf.nn.relu(_batch_norm(_deconv(h, [b, size, size, d["gf"] * width],
                                                   f"g_h{i}"), f"g_bn{i}", training))
            return tf.nn.tanh(_deconv(h, [b, 32, 32, 3], "g_h4"))

    def _discriminator(self, images, d):
        with v1.variable_scope("discriminator", reuse=v1.AUTO_REUSE):
            b = self.batch_size
            if self.y_dim:
                yb = tf.reshape(self.y, [b, 1, 1, self.y_dim])
                h = _lrelu(_conv(_cond_concat(images, yb), d["c"] + self.y_dim, "d_h0_conv"))
                h = _lrelu(_batch_norm(_conv(_cond_concat(h, yb), d["df"] + self.y_dim,
                                             "d_h1_conv"), "d_bn1", True))
                h = tf.concat([tf.reshape(h, [b, -1]), self.y], 1)
                h = tf.concat([_lrelu(_batch_norm(_linear(h, d["fc"], "d_h2_lin"), "d_bn2", True)),
                               self.y], 1)
                return _linear(h, 1, "d_h3_lin")
            h = _lrelu(_conv(images, d["df"], "d_h0_conv"))
            for i, width in enumerate([2, 4, 8], start=1):
                h = _lrelu(_batch_norm(_conv(h, d["df"] * width, f"d_h{i}_conv"), f"d_bn{i}",
                                       True))
            return _linear(tf.reshape(h, [b, -1]), 1, "d_h4_lin")

    def feed(self, z, y=None, real=None):
        feed = {self.z: z}
        if self.y_dim:
            feed[self.y] = y
        if real is not None:
            feed[self.real] = real
        return feed

    def train_iterations(self, count, seed=0):
        rng = np.random.default_rng(seed)
        for _ in range(count):
            z = rng.uniform(-1, 1, self.z.shape.as_list()).astype(np.float32)
            y = np.eye(self.y_dim, dtype=np.float32)[rng.integers(0, self.y_dim, self.batch_size)] \
                if self.y_dim else None
            real = rng.uniform(0 if self.y_dim else -1, 1, self.real.shape.as_list())
            self.session.run(self.d_optim, self.feed(z, y, real))
            self.session.run(self.g_optim, self.feed(z, y))
            self.session.run(self.g_optim, self.feed(z, y))

    def sample(self, z, y=None):
        return self.session.run(self.sampler, self.feed(z, y))

    def save(self, prefix, step):
        with self.graph.as_default():
            return self.saver.save(self.session, prefix, global_step=step)

    def values(self):
        with self.graph.as_default():
            variables = v1.global_variables()
        return {v.name[:-2]: value for v, value in zip(variables, self.session.run(variables))}
