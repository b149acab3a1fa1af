"""The original's ops: constants, initializers and batch-norm arithmetic."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.networks import tf1_layers


def test_constants_are_the_original_graphs():
    assert tf1_layers.BATCH_NORM_EPSILON == 1.001e-5  # the FusedBatchNorm attr in both .meta files
    assert tf1_layers.BATCH_NORM_MOMENTUM == 0.9
    assert tf1_layers.LRELU_LEAK == 0.2
    assert tf1_layers.WEIGHT_STDDEV == 0.02
    assert (tf1_layers.KERNEL_SIZE, tf1_layers.STRIDE) == (5, 2)


def test_lrelu_and_conv_cond_concat():
    np.testing.assert_allclose(tf1_layers.lrelu(tf.constant([-2.0, 0.0, 3.0])), [-0.4, 0.0, 3.0])
    x = tf.zeros([2, 3, 3, 4])
    y = tf.constant([[1.0, 0.0], [0.0, 1.0]])[:, None, None, :]
    joined = tf1_layers.conv_cond_concat(x, y).numpy()
    assert joined.shape == (2, 3, 3, 6)
    np.testing.assert_array_equal(joined[0, :, :, 4], np.ones((3, 3)))
    np.testing.assert_array_equal(joined[1, :, :, 4], np.zeros((3, 3)))


def test_initializers_match_the_original():
    tf.random.set_seed(0)
    conv = tf1_layers.Conv2D(64, 128, "c")
    deconv = tf1_layers.Deconv2D(128, 64, "d")
    linear = tf1_layers.Linear(512, 512, "l")
    # truncated normal(0.02) is cut at 2 sigma; its std is 0.02 * 0.8796
    assert np.abs(conv.w.numpy()).max() <= 0.04
    assert conv.w.numpy().std() == pytest.approx(0.02 * 0.8796, rel=0.02)
    assert deconv.w.shape.as_list() == [5, 5, 64, 128]  # [k, k, out, in], as the original
    assert deconv.w.numpy().std() == pytest.approx(0.02, rel=0.02)
    assert np.abs(deconv.w.numpy()).max() > 0.04  # not truncated
    assert linear.matrix.numpy().std() == pytest.approx(0.02, rel=0.02)
    for bias in (conv.biases, deconv.biases, linear.bias):
        assert not np.any(bias.numpy())


def test_conv_and_deconv_shapes():
    conv = tf1_layers.Conv2D(3, 8, "c")
    assert conv(tf.zeros([2, 27, 27, 3])).shape == (2, 14, 14, 8)  # SAME: ceil(27 / 2)
    deconv = tf1_layers.Deconv2D(8, 3, "d")
    assert deconv(tf.zeros([2, 7, 7, 8]), 14, 14).shape == (2, 14, 14, 3)


@pytest.mark.parametrize("shape", [(16, 4, 4, 3), (16, 5)])
def test_batch_norm_training_normalizes_with_biased_and_tracks_unbiased_variance(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, shape).astype(np.float32)
    norm = tf1_layers.BatchNorm(shape[-1], "bn")
    norm.gamma.assign(rng.uniform(0.5, 1.5, shape[-1]).astype(np.float32))
    norm.beta.assign(rng.normal(size=shape[-1]).astype(np.float32))
    axes = tuple(range(len(shape) - 1))
    mean, biased = x.mean(axes), x.var(axes)
    expected = (x - mean) / np.sqrt(biased + 1.001e-5) * norm.gamma.numpy() + norm.beta.numpy()
    np.testing.assert_allclose(norm(tf.constant(x), training=True), expected, atol=1e-4)
    unbiased = x.var(axes, ddof=1)
    np.testing.assert_allclose(norm.moving_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance, 0.9 + 0.1 * unbiased, rtol=1e-5)


def test_batch_norm_inference_uses_moving_averages_and_moves_nothing():
    norm = tf1_layers.BatchNorm(2, "bn")
    norm.moving_mean.assign([1.0, -1.0])
    norm.moving_variance.assign([4.0, 0.25])
    out = norm(tf.constant([[3.0, 0.0]]), training=False).numpy()
    np.testing.assert_allclose(out, [[2.0 / np.sqrt(4.0 + 1.001e-5), 1.0 / np.sqrt(0.25 + 1.001e-5)]],
                               rtol=1e-6)
    np.testing.assert_array_equal(norm.moving_mean, [1.0, -1.0])
