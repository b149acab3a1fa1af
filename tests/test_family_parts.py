"""The family's parts on their own: dropout, PyTorch's initializers, the
objectives on numbers computed by hand, WGAN's clipping and the gradient
penalty on a critic whose input gradient is known."""

import math

import numpy as np
import pytest
import tensorflow as tf

import make
from dcgan_tf import gan as gan_lib
from dcgan_tf import networks
from dcgan_tf import objectives
from dcgan_tf import systems
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import torch_layers


def test_dropout_zeroes_at_its_rate_and_rescales_the_rest():
    layer = torch_layers.Dropout(0.4, False, tf.random.Generator.from_seed(1), "dropout")
    out = layer(tf.ones([2000, 50]), training=True).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.6)}
    assert abs(np.mean(out == 0) - 0.4) < 0.01  # 100,000 draws: std 0.0015
    np.testing.assert_array_equal(layer(tf.ones([3, 5]), training=False), np.ones([3, 5]))
    layer.enabled = False
    np.testing.assert_array_equal(layer(tf.ones([3, 5]), training=True), np.ones([3, 5]))


def test_dropout2d_drops_whole_channels():
    layer = torch_layers.Dropout(0.25, True, tf.random.Generator.from_seed(2), "dropout2d")
    out = layer(tf.ones([64, 8, 8, 32]), training=True).numpy()
    per_channel = out.reshape(64, 64, 32)  # [B, H * W, C]
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))  # one draw per channel
    assert abs(np.mean(per_channel[:, 0, :] == 0) - 0.25) < 0.04  # 2048 draws: std 0.0096
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}


def test_family_dropout_is_off_when_sampling():
    config = pytorch_gan.FamilyModelConfig("cgan", 8, 1, 4, 3)
    discriminator = make.gan(config, "cgan", batch_size=4, n_classes=3).discriminator
    images, labels = tf.random.normal([4, 8, 8, 1]), tf.one_hot([0, 1, 2, 0], 3)
    first = discriminator(images, labels, training=False)
    np.testing.assert_array_equal(first, discriminator(images, labels, training=False))
    assert not np.array_equal(discriminator(images, labels, training=True),
                              discriminator(images, labels, training=True))


def uniform_fits(values, bound):
    """min/max inside +-bound, and ten equal bins each holding 10% (to four
    standard deviations of a bin's share)."""
    values = np.asarray(values).ravel()
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.95 * bound and values.min() < -0.95 * bound
    counts, _ = np.histogram(values, bins=10, range=(-bound, bound))
    np.testing.assert_allclose(counts / values.size, 0.1, atol=4 * math.sqrt(0.09 / values.size))


def test_initializers_follow_pytorchs_distributions():
    tf.random.set_seed(0)
    linear = torch_layers.Linear(784, 512, "linear", "linear")
    uniform_fits(linear.kernel, 1 / math.sqrt(784))  # kaiming_uniform_(a=sqrt(5))
    uniform_fits(linear.bias, 1 / math.sqrt(784))
    conv = torch_layers.Conv2d(64, 128, 3, 2, 1, "conv", "conv")
    uniform_fits(conv.kernel, 1 / math.sqrt(64 * 9))
    embedding = torch_layers.Embedding(10, 1000, "embedding", "embedding")
    assert abs(np.std(embedding.table) - 1.0) < 0.02 and abs(np.mean(embedding.table)) < 0.02
    # acgan / lsgan: weights_init_normal on top of the defaults
    generator, discriminator = networks.build(
        "conv", pytorch_gan.FamilyModelConfig("lsgan", 32, 1, 100), 0, normal_init=True)
    kernel = generator.conv1.kernel.numpy()
    assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
    gamma = discriminator.blocks[1][2].gamma.numpy()
    assert abs(gamma.mean() - 1.0) < 0.01 and 0.01 < gamma.std() < 0.03
    np.testing.assert_array_equal(discriminator.blocks[1][2].beta, 0.0)
    uniform_fits(generator.l1.kernel, 1 / math.sqrt(100))  # Linear keeps its default


def test_objectives_against_numbers_by_hand():
    p = tf.constant([[0.9], [0.2]])
    assert float(objectives.binary_cross_entropy(p, 1.0)) == pytest.approx(
        -(math.log(0.9) + math.log(0.2)) / 2, rel=1e-6)
    assert float(objectives.binary_cross_entropy(tf.constant([[0.0]]), 1.0)) == 100.0  # clamp
    assert float(objectives.mean_squared_error(tf.constant([[0.5], [2.0]]), 1.0)) == \
        pytest.approx((0.25 + 1.0) / 2)
    scores, labels = tf.constant([[2.0, 0.0], [0.0, 1.0]]), tf.constant([[1.0, 0.0], [0.0, 1.0]])
    expected = -(2 - math.log(math.exp(2) + 1) + 1 - math.log(1 + math.e)) / 2
    assert float(objectives.cross_entropy(scores, labels)) == pytest.approx(expected, rel=1e-6)
    wasserstein = objectives.wasserstein()
    d = wasserstein.discriminator(tf.constant([[1.0], [3.0]]), tf.constant([[0.5]]))
    assert float(d["d_loss"]) == pytest.approx(-2.0 + 0.5)
    assert float(wasserstein.generator(tf.constant([[0.5], [1.5]]))) == -1.0
    halves = objectives.squared_error_to_one_and_zero().discriminator(tf.constant([[1.0]]),
                                                                      tf.constant([[1.0]]))
    assert (float(halves["d_loss_real"]), float(halves["d_loss_fake"]),
            float(halves["d_loss"])) == (0.0, 1.0, 0.5)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm():
    """D(x) = <w, x> + b has gradient w everywhere: the penalty is (|w| - 1)^2,
    whatever the interpolation."""
    w = tf.constant(np.array([2.0, -2.0, 1.0, 0.0], np.float32).reshape(4, 1))  # |w| = 3
    critic = lambda x, y, training: tf.matmul(tf.reshape(x, [-1, 4]), w) + 0.7  # noqa: E731
    real, fake = tf.random.normal([5, 2, 2, 1]), tf.random.normal([5, 2, 2, 1])
    alpha = tf.random.uniform([5, 1, 1, 1])
    assert float(objectives.gradient_penalty(critic, real, fake, alpha)) == pytest.approx(4.0)


def test_wgan_clips_the_critic_after_its_update():
    """One critic update on a tiny wgan, checked against the update done by hand:
    RMSprop's first step, p - lr g / (sqrt(0.01 g^2) + 1e-8), then clipping."""
    config = pytorch_gan.FamilyModelConfig("wgan", 4, 1, 3)
    gan = make.gan(config, "wgan", batch_size=6)
    assert (gan.schedule.n_critic, gan.schedule.clip_value) == (5, 0.01)  # the script's
    rng = np.random.default_rng(0)
    for variable in gan.discriminator.trainable_variables:  # near the clip edges
        variable.assign(rng.uniform(-0.0102, 0.0102, variable.shape).astype(np.float32))
    real = rng.uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32)
    z = rng.normal(size=(6, 3)).astype(np.float32)
    fake = gan.generator(z, training=True)  # as the step's own G pass computes it
    with tf.GradientTape() as tape:
        loss = objectives.wasserstein().discriminator(gan.discriminator(real),
                                                      gan.discriminator(fake))["d_loss"]
    variables = gan.d_optimizer.var_list
    before = [v.numpy() for v in variables]
    gradients = [g.numpy() for g in tape.gradient(loss, variables)]
    gan.step(real, None, gan_lib.Draws(z), 1)  # batch 1: no G update
    clipped = 0
    for value, gradient, variable in zip(before, gradients, variables):
        stepped = value - 5e-5 * gradient / (np.sqrt(0.01 * gradient ** 2) + 1e-8)
        np.testing.assert_allclose(variable.numpy(), np.clip(stepped, -0.01, 0.01), atol=1e-7)
        clipped += int(np.sum(np.abs(stepped) > 0.01))
    assert clipped > 0 and np.all(np.abs(np.concatenate(
        [v.numpy().ravel() for v in variables])) <= 0.01)


def test_binary_cross_entropy_stays_finite_where_the_sigmoid_saturates():
    """PyTorch's BCELoss: log terms clamped at -100, gradient (p - t) / max(p (1 - p),
    1e-12); plain autodiff through the clamp would give NaN at p = 0 or 1."""
    p = tf.Variable([[1.0], [0.0], [0.25]])
    with tf.GradientTape() as tape:
        loss = objectives.binary_cross_entropy(p, 0.0)
    gradient = tape.gradient(loss, p).numpy().ravel()
    assert float(loss) == pytest.approx((100.0 + 0.0 - math.log(0.75)) / 3, rel=1e-6)
    np.testing.assert_allclose(gradient, [1.0 / 1e-12 / 3, 0.0, 0.25 / (0.75 * 0.25) / 3],
                               rtol=1e-6)


def test_layer_norm_is_pytorchs_group_norm_with_one_group():
    """nn.GroupNorm(1, C): each example normalized over all its (C, H, W) values
    (biased variance, eps 1e-5), then a weight and bias per channel; computed
    here in NumPy on the channels-first layout."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(2.0, 3.0, (4, 5, 5, 6)).astype(np.float32))
    layer = torch_layers.LayerNorm(6, "norm", "model.3")
    layer.gamma.assign(rng.uniform(0.5, 1.5, 6).astype(np.float32))
    layer.beta.assign(rng.normal(size=6).astype(np.float32))
    nchw = x.numpy().transpose(0, 3, 1, 2).astype(np.float64)
    mean = nchw.mean(axis=(1, 2, 3), keepdims=True)
    variance = nchw.var(axis=(1, 2, 3), keepdims=True)
    expected = ((nchw - mean) / np.sqrt(variance + 1e-5) * layer.gamma.numpy()[:, None, None]
                + layer.beta.numpy()[:, None, None]).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x, training=True), expected, atol=2e-6)
    np.testing.assert_array_equal(layer(x, training=True), layer(x, training=False))
    assert sorted(layer.torch_state()) == ["model.3.bias", "model.3.weight"]


def test_conv_critics_swap_batch_norm_for_layer_norm_under_wgan_gp():
    for model in ("lsgan", "acgan"):
        config = pytorch_gan.FamilyModelConfig(model, 16, 1, 4, 10 if model == "acgan" else 0,
                                               loss="wgan_gp")
        system = systems.compose(model, "wgan_gp", make.config(model, loss="wgan_gp"))
        generator, discriminator = networks.build(
            system.networks, config, 0, raw_scores=system.raw_scores,
            critic_norm=system.critic_norm, normal_init=system.normal_init)
        norms = [norm for _, _, norm in discriminator.blocks if norm is not None]
        assert len(norms) == 3 and all(isinstance(n, torch_layers.LayerNorm) for n in norms)
        np.testing.assert_array_equal(norms[0].gamma, 1.0)  # weights_init_normal skips it
        assert any(isinstance(m, torch_layers.BatchNorm) for m in generator.submodules)


def test_acgan_objective_around_another_loss():
    """with_auxiliary_classifier keeps the script's weights around any adversarial
    loss: with the non-saturating loss on logits it is acgan's own objective on
    their sigmoids; with WGAN's, the numbers by hand."""
    logits_real, logits_fake = tf.constant([[1.5], [-0.3]]), tf.constant([[-2.0], [0.4]])
    classes_real = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    classes_fake = tf.constant([[0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    labels_real, labels_fake = tf.one_hot([0, 1], 3), tf.one_hot([2, 0], 3)
    ours = objectives.with_auxiliary_classifier(objectives.cross_entropy_on_logits())
    acgan = objectives.with_auxiliary_classifier(
        objectives.binary_cross_entropy_on_probabilities())
    discriminator, generator = ours.discriminator, ours.generator
    ours = discriminator((logits_real, classes_real), (logits_fake, classes_fake), labels_real,
                         labels_fake)
    script = acgan.discriminator(
        (tf.sigmoid(logits_real), classes_real), (tf.sigmoid(logits_fake), classes_fake),
        labels_real, labels_fake)
    for key in ("d_loss", "d_loss_real", "d_loss_fake", "d_accuracy"):
        assert float(ours[key]) == pytest.approx(float(script[key]), rel=1e-6), key
    assert float(ours["d_accuracy"]) == 0.75  # wrong only on the second real (2 for 1)
    assert float(generator((logits_fake, classes_fake), labels_fake)) == pytest.approx(
        float(acgan.generator((tf.sigmoid(logits_fake), classes_fake), labels_fake)),
        rel=1e-6)

    def ce(p, k):  # CrossEntropyLoss of probabilities p (the script's softmax twice)
        return -math.log(math.exp(p[k]) / sum(math.exp(v) for v in p))
    ce_real = (ce([0.7, 0.2, 0.1], 0) + ce([0.1, 0.1, 0.8], 1)) / 2
    ce_fake = (ce([0.3, 0.3, 0.4], 2) + ce([0.6, 0.3, 0.1], 0)) / 2
    wgan_objective = objectives.with_auxiliary_classifier(objectives.wasserstein())
    discriminator, generator = wgan_objective.discriminator, wgan_objective.generator
    wgan = discriminator((logits_real, classes_real), (logits_fake, classes_fake), labels_real,
                         labels_fake)
    assert float(wgan["d_loss"]) == pytest.approx(
        ((-0.6 + ce_real) / 2 + (-0.8 + ce_fake) / 2) / 2, rel=1e-6)
    assert float(generator((logits_fake, classes_fake), labels_fake)) == pytest.approx(
        (0.8 + ce_fake) / 2, rel=1e-6)


def test_acgan_under_wgan_gp_weighs_the_penalty_with_the_adversarial_term():
    """--model acgan --loss wgan_gp: D's loss is the auxiliary-classifier objective
    plus lambda / 4 times the penalty on the validity head alone (the adversarial
    term counts a quarter in acgan's D loss, so --lambda_gp keeps its meaning)."""
    config = pytorch_gan.FamilyModelConfig("acgan", 16, 1, 4, 10, loss="wgan_gp")
    gan = make.without_dropout(make.gan(config, "acgan", loss="wgan_gp", batch_size=6))
    assert (gan.schedule.n_critic, gan.d_optimizer.beta2) == (5, 0.9)  # the loss's defaults
    rng = np.random.default_rng(1)
    real = tf.constant(rng.uniform(-1, 1, (6, 16, 16, 1)).astype(np.float32))
    y, fake_labels = tf.one_hot(rng.integers(0, 10, 6), 10), tf.one_hot(rng.integers(0, 10, 6), 10)
    z = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
    alpha = tf.constant(rng.uniform(size=(6, 1, 1, 1)).astype(np.float32))
    fake = gan.generator(z, fake_labels, training=True)
    d = gan.discriminator
    parts = objectives.with_auxiliary_classifier(objectives.wasserstein()).discriminator(
        d(real, y), d(fake, fake_labels), y, fake_labels)
    penalty = objectives.gradient_penalty(lambda x, labels, training: d(x)[0], real, fake, alpha)
    result = gan.step(real, y, gan_lib.Draws(z, fake_labels, alpha), 1)  # batch 1: no G update
    assert float(result["gradient_penalty"]) == pytest.approx(float(penalty), rel=1e-5)
    assert float(result["d_loss"]) == pytest.approx(
        float(parts["d_loss"]) + 2.5 * float(penalty), rel=1e-5)
    assert int(gan.g_optimizer.step) == 0 and int(gan.d_optimizer.step) == 1
