"""How far Adam can move a variable, whatever its gradients: the bound the
tests hold a variable to where its gradient is rounding noise.

Adam's step t (1-based) is lr_t |m_t| / (sqrt(v_t) + eps), with
m_t = (1 - b1) sum_i b1^(t-i) g_i and v_t = (1 - b2) sum_i b2^(t-i) g_i^2.
By Cauchy-Schwarz, |sum_i b1^(t-i) g_i| <= sqrt(sum_k (b1^2 / b2)^k) sqrt(sum_i b2^(t-i) g_i^2),
so, whatever the g_i (eps only makes the step smaller),

    |step_t| / lr <= sqrt(1 - b2^t) / (1 - b1^t) * (1 - b1) / sqrt(1 - b2)
                     * sqrt(sum_{k < t} (b1^2 / b2)^k)

for TF1's Adam (lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)) and PyTorch's alike (its
eps sits after the bias correction, which only makes the step smaller). With
beta1 0.5 and beta2 0.999 that is 1 lr for the first step, 1.054 lr for the
second, 1.133 lr for the third: "lr per update" is not a bound past the first.
RMSprop's step lr |g_t| / (sqrt(v_t) + eps), v_t >= (1 - alpha) g_t^2, is at
most lr / sqrt(1 - alpha) (10 lr at alpha 0.99) at every step.
"""

import math


def largest_adam_step(step, beta1, beta2):
    """The largest |update| of Adam's `step`-th step (1-based), in learning rates."""
    ratio = beta1 * beta1 / beta2
    return (math.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step) * (1.0 - beta1)
            / math.sqrt(1.0 - beta2) * math.sqrt(sum(ratio ** k for k in range(step))))


def largest_adam_travel(first_step, steps, beta1, beta2):
    """How far `steps` consecutive Adam steps, from step `first_step` on, can move
    a variable, in learning rates."""
    return sum(largest_adam_step(t, beta1, beta2) for t in range(first_step, first_step + steps))


def largest_rmsprop_step(alpha):
    return 1.0 / math.sqrt(1.0 - alpha)
