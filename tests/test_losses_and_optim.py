"""The original's losses against golden values; OriginalAdam against TF1's Adam formula."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf import objectives
from dcgan_tf import optim

LOGITS = np.array([[-2.0], [0.0], [3.0]], np.float32)


def test_losses_golden_values():
    # mean(log(1 + exp(-x))) for label 1, mean(log(1 + exp(x))) for label 0
    original = objectives.cross_entropy_on_logits()
    d = original.discriminator(LOGITS, LOGITS)
    assert float(d["d_loss_real"]) == pytest.approx(0.9562209, rel=1e-6)
    assert float(d["d_loss_fake"]) == pytest.approx(1.2895542, rel=1e-6)
    assert float(d["d_loss"]) == pytest.approx(0.9562209 + 1.2895542, rel=1e-6)
    assert float(original.generator(LOGITS)) == pytest.approx(float(d["d_loss_real"]), rel=1e-7)


def tf1_adam_reference(value, gradients, lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8):
    """TF1 AdamOptimizer's update, written from its documented formula."""
    m = v = np.zeros_like(value)
    b1p, b2p = beta1, beta2
    for g in gradients:
        lr_t = lr * np.sqrt(1 - b2p) / (1 - b1p)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        value = value - lr_t * m / (np.sqrt(v) + eps)
        b1p, b2p = b1p * beta1, b2p * beta2
    return value, m, v, b1p, b2p


def test_original_adam_follows_tf1_formula_and_keeps_beta_powers():
    variable = tf.Variable([0.5, -1.0, 2.0], name="w")
    adam = optim.OriginalAdam([variable], learning_rate=2e-4, beta1=0.5)
    gradients = [np.array([0.1, -0.3, 1e-3], np.float32), np.array([-0.2, 0.1, 5.0], np.float32),
                 np.array([0.05, 0.0, -1.0], np.float32)]
    for g in gradients:
        adam.apply_gradients([tf.constant(g)])
    value, m, v, b1p, b2p = tf1_adam_reference(np.array([0.5, -1.0, 2.0]), gradients)
    np.testing.assert_allclose(variable.numpy(), value, rtol=1e-6)
    np.testing.assert_allclose(adam.first_moments[0].numpy(), m, rtol=1e-5)
    # float32 (1 - beta2) is 0.0010000000475: v agrees to 1e-4 relative
    np.testing.assert_allclose(adam.second_moments[0].numpy(), v, rtol=1e-4)
    assert float(adam.beta1_power) == pytest.approx(b1p) == pytest.approx(0.5 ** 4)
    assert float(adam.beta2_power) == pytest.approx(b2p, rel=1e-6)
    assert sorted(adam.slots_by_original_name) == ["w/Adam", "w/Adam_1"]


def test_original_adam_defaults_are_tf1s():
    assert (optim.ADAM_BETA2, optim.ADAM_EPSILON) == (0.999, 1e-8)
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        optim.OriginalAdam([tf.Variable(1.0)], 1e-3, 0.5).apply_gradients([1.0, 2.0])
