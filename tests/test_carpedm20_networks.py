"""Generator and discriminator shapes, ranges and names over the supported sizes."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.networks import carpedm20

TINY = dict(z_dim=10, gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16)


@pytest.mark.parametrize("size,c_dim", [(28, 1), (32, 1), (64, 3)])
def test_conditional_shapes_and_sigmoid_range(size, c_dim):
    config = carpedm20.ModelConfig(size, size, c_dim, y_dim=10, **TINY)
    generator, discriminator = carpedm20.build_models(config)
    z = tf.random.uniform([5, 10], -1, 1)
    y = tf.one_hot([0, 1, 2, 3, 9], 10)
    for training in (True, False):
        images = generator(z, y, training=training).numpy()
        assert images.shape == (5, size, size, c_dim)
        assert images.min() >= 0.0 and images.max() <= 1.0
    assert discriminator(images, y, training=True).shape == (5, 1)
    assert config.output_range == (0.0, 1.0)


@pytest.mark.parametrize("height,width,c_dim",
                         [(28, 28, 1), (32, 32, 3), (48, 48, 3), (64, 64, 3), (96, 96, 3),
                          (108, 108, 3), (128, 128, 3), (64, 48, 1)])
def test_unconditional_shapes_and_tanh_range(height, width, c_dim):
    config = carpedm20.ModelConfig(height, width, c_dim, **TINY)
    generator, discriminator = carpedm20.build_models(config)
    images = generator(tf.random.uniform([3, 10], -1, 1), None, training=True).numpy()
    assert images.shape == (3, height, width, c_dim)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert discriminator(images, None, training=True).shape == (3, 1)
    assert config.output_range == (-1.0, 1.0)


def test_full_size_mnist_variables_have_the_original_names_and_shapes():
    generator, discriminator = carpedm20.build_models(carpedm20.ModelConfig(28, 28, 1, y_dim=10))
    shapes = {name: tuple(v.shape.as_list()) for name, v in
              carpedm20.variables_by_original_name(generator, discriminator).items()}
    assert shapes["generator/g_h0_lin/Matrix"] == (110, 1024)
    assert shapes["generator/g_h1_lin/Matrix"] == (1034, 6272)
    assert shapes["generator/g_h2/w"] == (5, 5, 128, 138)
    assert shapes["generator/g_h3/w"] == (5, 5, 1, 138)
    assert shapes["discriminator/d_h0_conv/w"] == (5, 5, 11, 11)
    assert shapes["discriminator/d_h1_conv/w"] == (5, 5, 21, 74)
    assert shapes["discriminator/d_h2_lin/Matrix"] == (3636, 1024)
    assert shapes["discriminator/d_h3_lin/Matrix"] == (1034, 1)
    assert shapes["generator/g_bn1/moving_variance"] == (6272,)
    assert len(shapes) == 36  # as many as the original graph's model variables


def test_sampler_is_deterministic_and_differs_from_training_mode():
    config = carpedm20.ModelConfig(32, 32, 3, **TINY)
    generator, _ = carpedm20.build_models(config)
    z = tf.random.uniform([4, 10], -1, 1)
    first = generator(z, None, training=False).numpy()
    np.testing.assert_array_equal(first, generator(z, None, training=False).numpy())
    assert not np.allclose(first, generator(z, None, training=True).numpy())


@pytest.mark.parametrize("bad,message", [
    (dict(output_height=30, output_width=30, c_dim=1, y_dim=10), "multiple of 4"),
    (dict(output_height=28, output_width=28, c_dim=0), "c_dim must be at least 1"),
    (dict(output_height=28, output_width=28, c_dim=1, y_dim=-1), "y_dim"),
])
def test_model_config_rejects_shapes_the_original_cannot_build(bad, message):
    with pytest.raises(ValueError, match=message):
        carpedm20.ModelConfig(**bad).validate()
