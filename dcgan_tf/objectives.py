"""The family's objectives, as pure functions of D's outputs (and, for the
gradient penalty, of D and the inputs), written as PyTorch-GAN computes them.

Each returns scalars in float32. carpedm20's sigmoid cross-entropy on logits
lives in `losses.py`, which the DCGAN's bit-exact tests pin.
"""

import math

import tensorflow as tf

from dcgan_tf import losses

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
    p = tf.cast(probabilities, tf.float32)
    return tf.reduce_mean(_bce_terms(p, tf.fill(tf.shape(p), tf.constant(target, tf.float32))))


def mean_squared_error(outputs, target):
    """nn.MSELoss() (mean) of D's outputs against a constant target."""
    return tf.reduce_mean(tf.square(tf.cast(outputs, tf.float32) - target))


def cross_entropy(scores, one_hot_labels):
    """nn.CrossEntropyLoss() (mean): log-softmax of `scores`, then the negative
    log-likelihood of the labels. AC-GAN's script feeds it D's softmax output
    (a softmax twice): that is kept, since it is what the script trains."""
    log_probabilities = tf.nn.log_softmax(tf.cast(scores, tf.float32))
    return -tf.reduce_mean(tf.reduce_sum(one_hot_labels * log_probabilities, axis=-1))


def wasserstein_critic(real_scores, fake_scores):
    """WGAN's critic loss: -E[D(x)] + E[D(G(z))]."""
    return -tf.reduce_mean(real_scores) + tf.reduce_mean(fake_scores)


def wasserstein_generator(fake_scores):
    """WGAN's generator loss: -E[D(G(z))]."""
    return -tf.reduce_mean(fake_scores)


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


# ------------------------------------------------------------ the scripts' objectives
# Each takes D's outputs (and labels, one-hot, for the conditional systems) and
# returns what the script backpropagates, with its halves and averages.


def _halves(loss, real_outputs, fake_outputs):
    d_loss_real, d_loss_fake = loss(real_outputs, 1.0), loss(fake_outputs, 0.0)
    return {"d_loss": (d_loss_real + d_loss_fake) / 2, "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake}


def bce_discriminator(real_outputs, fake_outputs, real_labels=None, fake_labels=None):
    """gan: (BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2, on D's sigmoid outputs."""
    return _halves(binary_cross_entropy, real_outputs, fake_outputs)


def bce_generator(fake_outputs, fake_labels=None):
    """gan: BCE(D(G(z)), 1), the non-saturating loss."""
    return binary_cross_entropy(fake_outputs, 1.0)


def mse_discriminator(real_outputs, fake_outputs, real_labels=None, fake_labels=None):
    """lsgan, cgan: (MSE(D(x), 1) + MSE(D(G(z)), 0)) / 2 (LSGAN's a=0, b=1)."""
    return _halves(mean_squared_error, real_outputs, fake_outputs)


def mse_generator(fake_outputs, fake_labels=None):
    """lsgan, cgan: MSE(D(G(z)), 1) (LSGAN's c=1)."""
    return mean_squared_error(fake_outputs, 1.0)


def with_auxiliary_classifier(adversarial_discriminator, adversarial_generator):
    """AC-GAN's objectives (Odena et al. 2017) around an adversarial loss on D's
    validity output, weighted as PyTorch-GAN's acgan weighs them: D's loss is the
    mean of its halves, each (adversarial term + class cross-entropy) / 2; G's is
    (adversarial + cross-entropy of the labels asked for) / 2. D's outputs are
    (validity, class probabilities); D's log also gets its class accuracy over
    real and fake. `adversarial_discriminator(real, fake)` returns its real and
    fake terms (`d_loss_real`, `d_loss_fake`)."""

    def discriminator(real_outputs, fake_outputs, real_labels, fake_labels):
        (real_validity, real_classes), (fake_validity, fake_classes) = real_outputs, fake_outputs
        adversarial = adversarial_discriminator(real_validity, fake_validity)
        d_loss_real = (adversarial["d_loss_real"] + cross_entropy(real_classes, real_labels)) / 2
        d_loss_fake = (adversarial["d_loss_fake"] + cross_entropy(fake_classes, fake_labels)) / 2
        predicted = tf.argmax(tf.concat([real_classes, fake_classes], 0), axis=1)
        truth = tf.argmax(tf.concat([real_labels, fake_labels], 0), axis=1)
        return {"d_loss": (d_loss_real + d_loss_fake) / 2, "d_loss_real": d_loss_real,
                "d_loss_fake": d_loss_fake,
                "d_accuracy": tf.reduce_mean(tf.cast(tf.equal(predicted, truth), tf.float32))}

    def generator(fake_outputs, fake_labels):
        validity, classes = fake_outputs
        return 0.5 * (adversarial_generator(validity) + cross_entropy(classes, fake_labels))

    return discriminator, generator


def _bce_halves(real_probabilities, fake_probabilities):
    return {"d_loss_real": binary_cross_entropy(real_probabilities, 1.0),
            "d_loss_fake": binary_cross_entropy(fake_probabilities, 0.0)}


# acgan: BCE on the validity probability, with the class head.
acgan_discriminator, acgan_generator = with_auxiliary_classifier(
    _bce_halves, lambda validity: binary_cross_entropy(validity, 1.0))

# Under --loss the adversarial term's weight in acgan's D loss (a quarter, see
# with_auxiliary_classifier): the gradient penalty, part of that term, is
# weighed alike so that --lambda_gp keeps its meaning.
AUXILIARY_CLASSIFIER_ADVERSARIAL_WEIGHT = 0.25


def wasserstein_discriminator(real_outputs, fake_outputs, real_labels=None, fake_labels=None):
    """wgan, wgan_gp (before the penalty): -E[D(x)] + E[D(G(z))]."""
    return wasserstein_parts(real_outputs, fake_outputs)


def wasserstein_generator_loss(fake_outputs, fake_labels=None):
    return wasserstein_generator(fake_outputs)


# name -> (D's objective, G's objective)
SYSTEM_OBJECTIVES = {
    "bce": (bce_discriminator, bce_generator),
    "mse": (mse_discriminator, mse_generator),
    "acgan": (acgan_discriminator, acgan_generator),
    "wasserstein": (wasserstein_discriminator, wasserstein_generator_loss),
    "wasserstein_gp": (wasserstein_discriminator, wasserstein_generator_loss),
}


# ------------------------------------------------------------ objectives on raw D outputs
# For --loss: each is a pure function of D's raw outputs (logits, critic scores,
# f-GAN's V), so it fits any network. `discriminator(real, fake)` returns
# {d_loss, d_loss_real, d_loss_fake} (minimized); `generator(fake)` G's loss.


def _parts(d_loss_real, d_loss_fake):
    return {"d_loss": d_loss_real + d_loss_fake, "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake}


def cross_entropy_discriminator(real_logits, fake_logits):
    """The original GAN's D (Goodfellow et al. 2014): -log D(x) - log(1 - D(G(z)))."""
    return _parts(losses.sigmoid_cross_entropy(real_logits, 1.0),
                  losses.sigmoid_cross_entropy(fake_logits, 0.0))


def minimax_generator(fake_logits):
    """The paper's saturating G: minimize log(1 - D(G(z))) = -softplus(logit)."""
    return -tf.reduce_mean(tf.nn.softplus(tf.cast(fake_logits, tf.float32)))


def nonsaturating_generator(fake_logits):
    """The non-saturating G (DCGAN's, carpedm20's): minimize -log D(G(z))."""
    return losses.sigmoid_cross_entropy(fake_logits, 1.0)


def least_squares(a=0.0, b=1.0, c=1.0):
    """LSGAN (Mao et al. 2017) on D's raw output: D minimizes E(D(x) - b)^2 / 2 +
    E(D(G(z)) - a)^2 / 2, G minimizes E(D(G(z)) - c)^2. The paper halves G's
    loss too; PyTorch-GAN's lsgan does not, and Adam's step is not quite
    scale-free (its eps), so we follow the script: `--model lsgan --loss lsgan`
    is then the script's own run (tested against its golden run)."""

    def discriminator(real_scores, fake_scores):
        return _parts(0.5 * tf.reduce_mean(tf.square(tf.cast(real_scores, tf.float32) - b)),
                      0.5 * tf.reduce_mean(tf.square(tf.cast(fake_scores, tf.float32) - a)))

    def generator(fake_scores):
        return tf.reduce_mean(tf.square(tf.cast(fake_scores, tf.float32) - c))

    return discriminator, generator


def wasserstein_parts(real_scores, fake_scores):
    """WGAN's critic (Arjovsky et al. 2017), with its halves: -E D(x) + E D(G(z))."""
    real_scores, fake_scores = (tf.cast(real_scores, tf.float32),
                                tf.cast(fake_scores, tf.float32))
    return _parts(-tf.reduce_mean(real_scores), tf.reduce_mean(fake_scores))


def hinge_discriminator(real_scores, fake_scores):
    """Hinge (Lim & Ye 2017; Miyato et al. 2018): E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    real_scores, fake_scores = (tf.cast(real_scores, tf.float32),
                                tf.cast(fake_scores, tf.float32))
    return _parts(tf.reduce_mean(tf.nn.relu(1.0 - real_scores)),
                  tf.reduce_mean(tf.nn.relu(1.0 + fake_scores)))


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

    def discriminator(real_scores, fake_scores):
        real_term = tf.reduce_mean(chosen.activation(tf.cast(real_scores, tf.float32)))
        fake_term = tf.reduce_mean(chosen.conjugate(chosen.activation(
            tf.cast(fake_scores, tf.float32))))
        return _parts(-real_term, fake_term)

    def generator(fake_scores):
        return -tf.reduce_mean(chosen.activation(tf.cast(fake_scores, tf.float32)))

    return discriminator, generator


def for_loss(name, ls_abc=(0.0, 1.0, 1.0), divergence="kl"):
    """(D's objective, G's objective) of a `--loss` (systems.LOSSES); the gradient
    penalty of wgan_gp is added by the trainer, which holds D and the inputs."""
    if name == "minimax":
        return cross_entropy_discriminator, minimax_generator
    if name == "nonsaturating":
        return cross_entropy_discriminator, nonsaturating_generator
    if name == "lsgan":
        return least_squares(*ls_abc)
    if name in ("wgan", "wgan_gp"):
        return wasserstein_parts, wasserstein_generator
    if name == "hinge":
        return hinge_discriminator, wasserstein_generator
    if name == "fgan":
        return f_gan(divergence)
    raise ValueError(f"Unknown loss {name!r}.")
