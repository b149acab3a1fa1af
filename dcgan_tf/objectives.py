"""Every objective, as pure functions of D's outputs with one signature
(`Objective`), and WGAN-GP's penalty as a function of the critic and the inputs.

    discriminator(real, fake, real_labels, fake_labels) -> {"d_loss", "d_loss_real",
                                                            "d_loss_fake"[, "d_accuracy"]}
    generator(fake, fake_labels) -> g_loss

Both are minimized. `real` and `fake` are D's outputs on x and on G(z): raw
scores (logits, critic scores, f-GAN's V), the probabilities of a D that ends
in a sigmoid (the scripts'), or for AC-GAN's two-headed D a tuple (validity,
class probabilities). Labels are one-hot, or None; only the auxiliary
classifier reads them. Every loss is computed in float32.

carpedm20's sigmoid cross-entropy on logits is the original's op
(`tf.nn.sigmoid_cross_entropy_with_logits`), pinned by the equivalence tests;
PyTorch's BCELoss, MSELoss and CrossEntropyLoss are written as PyTorch computes
them, pinned by the golden runs of the PyTorch-GAN scripts.
"""

import dataclasses
import math
from typing import Callable

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Objective:
    """D's and G's losses of one objective (see the module's docstring)."""

    discriminator: Callable
    generator: Callable


def _float32(outputs):
    return tf.cast(outputs, tf.float32)


def _parts(d_loss_real, d_loss_fake):
    return {"d_loss": d_loss_real + d_loss_fake, "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake}


# ------------------------------------------------------------ the losses they are made of

def sigmoid_cross_entropy(logits, label):
    """The original's loss: the mean sigmoid cross-entropy of `logits` against a
    constant `label` (1 for real, 0 for fake)."""
    logits = _float32(logits)
    labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


# torch.nn.BCELoss clamps each log term at -100, so a probability of exactly 0
# or 1 (a sigmoid saturates in float32 past |logit| ~ 17) gives a finite loss;
# its backward divides by max(p (1 - p), 1e-12), so the gradient stays finite too.
BCE_LOG_FLOOR = -100.0
BCE_GRADIENT_EPSILON = 1e-12


@tf.custom_gradient
def _bce_terms(p, target):
    """Per-element BCE, with PyTorch's forward clamp and PyTorch's backward:
    (p - t) / max((1 - p) p, 1e-12). Autodiff through the clamp would give
    0 * inf = NaN at a saturated p."""
    log_p = tf.maximum(tf.math.log(p), BCE_LOG_FLOOR)
    log_not_p = tf.maximum(tf.math.log(1.0 - p), BCE_LOG_FLOOR)
    terms = -(target * log_p + (1.0 - target) * log_not_p)

    def gradient(upstream):
        return upstream * (p - target) / tf.maximum((1.0 - p) * p, BCE_GRADIENT_EPSILON), None

    return terms, gradient


def binary_cross_entropy(probabilities, target):
    """nn.BCELoss() (mean) of probabilities against a constant target (1 or 0)."""
    p = _float32(probabilities)
    return tf.reduce_mean(_bce_terms(p, tf.fill(tf.shape(p), tf.constant(target, tf.float32))))


def mean_squared_error(outputs, target):
    """nn.MSELoss() (mean) of D's outputs against a constant target."""
    return tf.reduce_mean(tf.square(_float32(outputs) - target))


def cross_entropy(scores, one_hot_labels):
    """nn.CrossEntropyLoss() (mean): log-softmax of `scores`, then the negative
    log-likelihood of the labels. AC-GAN's script feeds it D's softmax output
    (a softmax twice): that is kept, since it is what the script trains."""
    log_probabilities = tf.nn.log_softmax(_float32(scores))
    return -tf.reduce_mean(tf.reduce_sum(_float32(one_hot_labels) * log_probabilities, axis=-1))


def gradient_penalty(critic, real, fake, alpha, labels=None):
    """WGAN-GP's penalty: E[(||grad_x D(x_hat)||_2 - 1)^2] on x_hat = alpha * real +
    (1 - alpha) * fake, one alpha per example ([B, 1, 1, 1]); the gradient is
    taken per example over all its pixels, and stays differentiable (the
    critic's update backpropagates through it)."""
    interpolates = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates, labels, training=True)
    gradients = tape.gradient(scores, interpolates)      # d sum(D) / dx: D's rows are independent
    norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(gradients, [tf.shape(real)[0], -1])),
                                  axis=1))
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(critic, real, labels=None):
    """R1 (Mescheder et al. 2018): E||grad_x D(x)||^2 on real images, the gradient
    of D's adversarial output per example over all its pixels, differentiable
    (D's update backpropagates through it). D's loss adds gamma / 2 times it.
    (Through batch norm, one example's output also depends on the others: the
    gradient of their sum is taken, as WGAN-GP's penalty takes it.)"""
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = critic(real, labels, training=True)
    gradients = tape.gradient(scores, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(tf.reshape(gradients, [tf.shape(real)[0], -1])),
                                        axis=1))


# ------------------------------------------------------------ objectives on raw D outputs
# Pure functions of D's raw outputs, so they fit any network (--loss).

def cross_entropy_on_logits(saturating=False):
    """The original GAN (Goodfellow et al. 2014) on D's logits: D minimizes -log D(x)
    - log(1 - D(G(z))); G minimizes -log D(G(z)) (the non-saturating form,
    DCGAN's and carpedm20's), or with `saturating` log(1 - D(G(z))) =
    -softplus(logit), the paper's minimax form."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _parts(sigmoid_cross_entropy(real, 1.0), sigmoid_cross_entropy(fake, 0.0))

    def generator(fake, fake_labels=None):
        if saturating:
            return -tf.reduce_mean(tf.nn.softplus(_float32(fake)))
        return sigmoid_cross_entropy(fake, 1.0)

    return Objective(discriminator, generator)


def least_squares(a=0.0, b=1.0, c=1.0):
    """LSGAN (Mao et al. 2017) on D's raw output: D minimizes E(D(x) - b)^2 / 2 +
    E(D(G(z)) - a)^2 / 2, G minimizes E(D(G(z)) - c)^2. The paper halves G's
    loss too; PyTorch-GAN's lsgan does not, and Adam's step is not quite
    scale-free (its eps), so we follow the script: `--model lsgan --loss lsgan`
    is then the script's own run (tested against its golden run)."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _parts(0.5 * tf.reduce_mean(tf.square(_float32(real) - b)),
                      0.5 * tf.reduce_mean(tf.square(_float32(fake) - a)))

    def generator(fake, fake_labels=None):
        return tf.reduce_mean(tf.square(_float32(fake) - c))

    return Objective(discriminator, generator)


def wasserstein():
    """WGAN's (Arjovsky et al. 2017), as its script writes it: the critic minimizes
    -E D(x) + E D(G(z)), G minimizes -E D(G(z)). WGAN-GP's penalty is added by
    the step (gan.GAN), which holds the critic and the inputs."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _parts(-tf.reduce_mean(_float32(real)), tf.reduce_mean(_float32(fake)))

    def generator(fake, fake_labels=None):
        return -tf.reduce_mean(_float32(fake))

    return Objective(discriminator, generator)


def hinge():
    """Hinge (Lim & Ye 2017; Miyato et al. 2018): D minimizes E relu(1 - D(x)) +
    E relu(1 + D(G(z))); G minimizes -E D(G(z))."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _parts(tf.reduce_mean(tf.nn.relu(1.0 - _float32(real))),
                      tf.reduce_mean(tf.nn.relu(1.0 + _float32(fake))))

    return Objective(discriminator, wasserstein().generator)


class Divergence:
    """One row of f-GAN's table (Nowozin et al. 2016, tables 1 and 2): the
    generator f of the divergence, its derivative, its convex conjugate f*, and
    the output activation g_f that maps D's raw V into f*'s domain."""

    def __init__(self, name, f, f_prime, conjugate, activation, activation_inverse):
        self.name, self.f, self.f_prime = name, f, f_prime
        self.conjugate, self.activation = conjugate, activation
        self.activation_inverse = activation_inverse  # V of a given T = g_f(V) (tests)


_LOG2 = math.log(2.0)  # a Python float: no TensorFlow op may run at import (tf.distribute)
DIVERGENCES = {
    "kl": Divergence(
        "kl", f=lambda u: u * tf.math.log(u), f_prime=lambda u: 1.0 + tf.math.log(u),
        conjugate=lambda t: tf.exp(t - 1.0), activation=lambda v: v,
        activation_inverse=lambda t: t),
    "reverse_kl": Divergence(
        "reverse_kl", f=lambda u: -tf.math.log(u), f_prime=lambda u: -1.0 / u,
        conjugate=lambda t: -1.0 - tf.math.log(-t), activation=lambda v: -tf.exp(-v),
        activation_inverse=lambda t: -tf.math.log(-t)),
    "pearson": Divergence(
        "pearson", f=lambda u: tf.square(u - 1.0), f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: 0.25 * tf.square(t) + t, activation=lambda v: v,
        activation_inverse=lambda t: t),
    "hellinger": Divergence(
        "hellinger", f=lambda u: tf.square(tf.sqrt(u) - 1.0),
        f_prime=lambda u: 1.0 - 1.0 / tf.sqrt(u), conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: 1.0 - tf.exp(-v), activation_inverse=lambda t: -tf.math.log(1.0 - t)),
    "js": Divergence(
        "js", f=lambda u: -(u + 1.0) * tf.math.log((1.0 + u) / 2.0) + u * tf.math.log(u),
        f_prime=lambda u: tf.math.log(2.0 * u / (1.0 + u)),
        conjugate=lambda t: -tf.math.log(2.0 - tf.exp(t)),
        activation=lambda v: _LOG2 - tf.nn.softplus(-v),
        activation_inverse=lambda t: -tf.math.log(2.0 * tf.exp(-t) - 1.0)),
    "gan": Divergence(
        "gan", f=lambda u: u * tf.math.log(u) - (u + 1.0) * tf.math.log(u + 1.0),
        f_prime=lambda u: tf.math.log(u / (u + 1.0)),
        conjugate=lambda t: -tf.math.log(1.0 - tf.exp(t)),
        activation=lambda v: -tf.nn.softplus(-v),
        activation_inverse=lambda t: -tf.math.log(tf.exp(-t) - 1.0)),
}


def f_gan(divergence):
    """f-GAN's objectives for one divergence: D maximizes E_P[g_f(V(x))] -
    E_Q[f*(g_f(V(G(z))))] (a lower bound of D_f(P || Q), tight at the optimal
    V); G takes the paper's alternative step, maximizing E_Q[g_f(V(G(z)))]."""
    chosen = DIVERGENCES[divergence]

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        real_term = tf.reduce_mean(chosen.activation(_float32(real)))
        fake_term = tf.reduce_mean(chosen.conjugate(chosen.activation(_float32(fake))))
        return _parts(-real_term, fake_term)

    def generator(fake, fake_labels=None):
        return -tf.reduce_mean(chosen.activation(_float32(fake)))

    return Objective(discriminator, generator)


# ------------------------------------------------------------ the PyTorch-GAN scripts'
# What each script backpropagates, on its D's outputs (probabilities for gan).

def _halves(loss, real, fake):
    d_loss_real, d_loss_fake = loss(real, 1.0), loss(fake, 0.0)
    return {"d_loss": (d_loss_real + d_loss_fake) / 2, "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake}


def binary_cross_entropy_on_probabilities():
    """gan: D minimizes (BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2 on D's sigmoid outputs;
    G minimizes BCE(D(G(z)), 1), the non-saturating loss."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _halves(binary_cross_entropy, real, fake)

    def generator(fake, fake_labels=None):
        return binary_cross_entropy(fake, 1.0)

    return Objective(discriminator, generator)


def squared_error_to_one_and_zero():
    """lsgan, cgan: D minimizes (MSE(D(x), 1) + MSE(D(G(z)), 0)) / 2 (LSGAN's a = 0,
    b = 1); G minimizes MSE(D(G(z)), 1) (c = 1)."""

    def discriminator(real, fake, real_labels=None, fake_labels=None):
        return _halves(mean_squared_error, real, fake)

    def generator(fake, fake_labels=None):
        return mean_squared_error(fake, 1.0)

    return Objective(discriminator, generator)


# The adversarial term's weight in AC-GAN's D loss (a quarter, see
# with_auxiliary_classifier): the gradient penalty, part of that term, is
# weighed alike so that --lambda_gp keeps its meaning.
AUXILIARY_CLASSIFIER_ADVERSARIAL_WEIGHT = 0.25


def with_auxiliary_classifier(adversarial):
    """AC-GAN's objectives (Odena et al. 2017) around the `adversarial` objective
    on D's validity output, weighted as PyTorch-GAN's acgan weighs them: D's
    loss is the mean of its halves, each (adversarial term + class
    cross-entropy) / 2; G's is (adversarial + cross-entropy of the labels asked
    for) / 2. D's outputs are (validity, class probabilities); D's log also gets
    its class accuracy over real and fake."""

    def discriminator(real, fake, real_labels, fake_labels):
        (real_validity, real_classes), (fake_validity, fake_classes) = real, fake
        terms = adversarial.discriminator(real_validity, fake_validity)
        d_loss_real = (terms["d_loss_real"] + cross_entropy(real_classes, real_labels)) / 2
        d_loss_fake = (terms["d_loss_fake"] + cross_entropy(fake_classes, fake_labels)) / 2
        predicted = tf.argmax(tf.concat([real_classes, fake_classes], 0), axis=1)
        truth = tf.argmax(tf.concat([real_labels, fake_labels], 0), axis=1)
        return {"d_loss": (d_loss_real + d_loss_fake) / 2, "d_loss_real": d_loss_real,
                "d_loss_fake": d_loss_fake,
                "d_accuracy": tf.reduce_mean(tf.cast(tf.equal(predicted, truth), tf.float32))}

    def generator(fake, fake_labels):
        validity, classes = fake
        return 0.5 * (adversarial.generator(validity) + cross_entropy(classes, fake_labels))

    return Objective(discriminator, generator)
