"""TF1's `tf.train.AdamOptimizer`, exactly, for TF2 variables.

Why not `keras.optimizers.Adam`: the original's update is TF1's fused ApplyAdam
kernel with its state held in `beta1_power`/`beta2_power` variables and two
slots per variable (`<var>/Adam`, `<var>/Adam_1`). Running that same kernel
(`ResourceApplyAdam`) keeps our numerics identical to the original's and lets
an original checkpoint's optimizer state map 1:1 onto ours. Keras 3's Adam
computes the update in its own ops, defaults to epsilon 1e-7 and keeps an
iteration count instead of the beta powers.
"""

import tensorflow as tf

from dcgan_tf import distribute

# tf.train.AdamOptimizer's defaults, which the original leaves alone.
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8


class DynamicLossScale(tf.Module):
    """float16's dynamic loss scaling (Micikevicius et al. 2018; the policy of
    Keras' LossScaleOptimizer): the loss is multiplied by `scale` before
    backprop so small gradients survive float16, the gradients divided by it
    after; a step whose gradients overflowed is skipped and halves the scale,
    `growth_interval` good steps in a row double it."""

    def __init__(self, initial_scale=2.0**15, growth_interval=2000, name="loss_scale"):
        super().__init__(name=name)
        self.growth_interval = int(growth_interval)
        with self.name_scope:
            self.scale = tf.Variable(float(initial_scale), trainable=False, name="scale")
            self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")

    def update(self, finite):
        """After a step: halve on overflow, double after enough good steps."""
        good_steps = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
        grow = good_steps >= self.growth_interval
        self.scale.assign(tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale),
                                   tf.maximum(self.scale / 2.0, 1.0)))
        self.good_steps.assign(tf.where(grow, tf.zeros_like(good_steps), good_steps))


class OriginalAdam(tf.Module):
    """Adam over a fixed `var_list`; slots are created here, so a checkpoint can be
    restored into this optimizer before its first step."""

    # The variables being optimized belong to the models: not part of this
    # module's variables, nor of its checkpoint (they'd be stored twice).
    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"var_list"})

    def __init__(self, var_list, learning_rate, beta1, beta2=ADAM_BETA2,
                 epsilon=ADAM_EPSILON, name="adam", loss_scaling=False):
        super().__init__(name=name)
        # float16 training only (--mixed_precision on a GPU): see DynamicLossScale.
        self.loss_scale = DynamicLossScale() if loss_scaling else None
        self.var_list = self._no_dependency(list(var_list))
        self.learning_rate = float(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)
        # TF1 starts the powers at beta (not 1) and multiplies after each step.
        self.beta1_power = tf.Variable(self.beta1, trainable=False, name="beta1_power")
        self.beta2_power = tf.Variable(self.beta2, trainable=False, name="beta2_power")
        # slot "Adam" is the first moment m, slot "Adam_1" the second moment v.
        self.first_moments = [
            tf.Variable(tf.zeros_like(v), trainable=False, name=v.name[:-2] + "/Adam")
            for v in self.var_list]
        self.second_moments = [
            tf.Variable(tf.zeros_like(v), trainable=False, name=v.name[:-2] + "/Adam_1")
            for v in self.var_list]

    @property
    def slots_by_original_name(self):
        """{'generator/g_h0_lin/Matrix/Adam': m, ...}, as TF1 names the slots."""
        slots = {}
        for var, m, v in zip(self.var_list, self.first_moments, self.second_moments):
            slots[var.name[:-2] + "/Adam"] = m
            slots[var.name[:-2] + "/Adam_1"] = v
        return slots

    def apply_gradients(self, gradients):
        """One Adam step; `gradients` are in the order of `var_list` (already
        divided by the loss scale, if any: a step with a non-finite one is
        skipped and shrinks the scale).

        Under a tf.distribute strategy, called in replica context with gradients
        already all-reduced: the update runs once per variable copy through
        `strategy.extended.update`, TensorFlow's contract for mirrored variables,
        so every replica applies the same step to its copy."""
        if len(gradients) != len(self.var_list):
            raise ValueError(f"Got {len(gradients)} gradients for {len(self.var_list)} variables.")
        finite = None
        if self.loss_scale is not None:
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])
        replica = tf.distribute.get_replica_context()
        if replica is None:
            return self._apply(tf.distribute.get_strategy(), gradients, finite)
        return replica.merge_call(self._apply, args=(gradients, finite))

    def _apply(self, strategy, gradients, finite):
        update = strategy.extended.update
        # The powers read once and the hyperparameters made once for all the
        # variables (a trace costs per op; TF1 reads the same values per variable).
        powers = tf.convert_to_tensor(self.beta1_power), tf.convert_to_tensor(self.beta2_power)
        hyperparameters = {}  # per dtype
        for var, m, v, grad in zip(self.var_list, self.first_moments, self.second_moments,
                                   gradients):
            if var.dtype not in hyperparameters:
                hyperparameters[var.dtype] = [tf.constant(value, var.dtype) for value in (
                    self.learning_rate, self.beta1, self.beta2, self.epsilon)]
            update(var, self._apply_one, args=(m, v, grad, *powers, hyperparameters[var.dtype],
                                               finite), group=False)
        # TF1's _finish: the powers move after every variable was updated (the
        # read above comes first: tf.function orders a variable's ops as written).
        for power, beta in ((self.beta1_power, self.beta1), (self.beta2_power, self.beta2)):
            update(power, self._advance_power, args=(beta, finite), group=False)
        if self.loss_scale is not None:
            update(self.loss_scale.scale, lambda _, finite: self.loss_scale.update(finite),
                   args=(finite,), group=False)

    @staticmethod
    def _advance_power(power, beta, finite):
        if finite is None:
            return power.assign(power * beta)
        return power.assign(tf.where(finite, power * beta, power))

    def _apply_one(self, var, m, v, grad, beta1_power, beta2_power, hyperparameters, finite):
        if finite is None:
            return self._adam(var, m, v, grad, beta1_power, beta2_power, hyperparameters)
        return tf.cond(finite, lambda: self._adam(var, m, v, grad, beta1_power, beta2_power,
                                                  hyperparameters), tf.no_op)

    @staticmethod
    def _adam(var, m, v, grad, beta1_power, beta2_power, hyperparameters):
        learning_rate, beta1, beta2, epsilon = hyperparameters
        return tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=m.handle, v=v.handle,
            beta1_power=beta1_power, beta2_power=beta2_power,
            lr=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon,
            grad=tf.cast(grad, var.dtype), use_locking=False, use_nesterov=False)


def clip_variable(variable, clip_value):
    """WGAN's weight clipping of one variable (copy) to [-clip_value, clip_value]."""
    return variable.assign(tf.clip_by_value(variable, -clip_value, clip_value))


def _count_step(step, finite=None):
    if finite is None:
        return step.assign_add(1)
    return step.assign_add(tf.cast(finite, step.dtype))


def _all_finite(gradients):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])


def _kept_unless(finite, new, old):
    """`new`, or `old` where a float16 step overflowed (finite is False)."""
    return new if finite is None else tf.where(finite, new, old)


class TorchAdam(tf.Module):
    """torch.optim.Adam (its single-tensor CPU update, no weight decay), as the
    PyTorch-GAN scripts use it: m <- m + (1 - b1)(g - m); v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Unlike TF1's
    Adam (OriginalAdam), eps is added after the bias-corrected square root, and
    the step count is kept instead of the beta powers. With `loss_scaling`
    (float16), a step whose gradients overflowed changes nothing but the scale,
    as OriginalAdam's."""

    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"var_list"})

    def __init__(self, var_list, learning_rate, beta1, beta2, epsilon=1e-8, name="adam",
                 loss_scaling=False):
        super().__init__(name=name)
        self.loss_scale = DynamicLossScale() if loss_scaling else None
        self.var_list = self._no_dependency(list(var_list))
        self.learning_rate, self.beta1 = float(learning_rate), float(beta1)
        self.beta2, self.epsilon = float(beta2), float(epsilon)
        with self.name_scope:
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.first_moments = [tf.Variable(tf.zeros_like(v), trainable=False, name="exp_avg")
                                  for v in self.var_list]
            self.second_moments = [tf.Variable(tf.zeros_like(v), trainable=False,
                                               name="exp_avg_sq") for v in self.var_list]

    def apply_gradients(self, gradients):
        """One step; `gradients` in `var_list` order (under tf.distribute, already
        all-reduced: every copy takes the same step)."""
        if len(gradients) != len(self.var_list):
            raise ValueError(f"Got {len(gradients)} gradients for {len(self.var_list)} variables.")
        finite = None if self.loss_scale is None else _all_finite(gradients)
        t = tf.cast(self.step + 1, tf.float64)  # the bias corrections in double, as Python's
        beta1, beta2 = tf.constant(self.beta1, tf.float64), tf.constant(self.beta2, tf.float64)
        step_size = tf.cast(self.learning_rate / (1.0 - tf.pow(beta1, t)), tf.float32)
        correction2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(beta2, t)), tf.float32)
        # The hyperparameters as the float32 constants each variable's update
        # would make of them, made once per step (a trace costs per op).
        constants = [tf.constant(value, tf.float32) for value in (
            1.0 - self.beta1, self.beta2, 1.0 - self.beta2, self.epsilon)]
        distribute.update_each_copy(
            [(var, (m, v, grad, step_size, correction2_sqrt, constants, finite))
             for var, m, v, grad in
             zip(self.var_list, self.first_moments, self.second_moments, gradients)],
            self._adam)
        _finish_step(self, finite)

    @staticmethod
    def _adam(var, m, v, grad, step_size, correction2_sqrt, constants, finite):
        one_minus_beta1, beta2, one_minus_beta2, epsilon = constants
        new_m = m + one_minus_beta1 * (grad - m)
        new_v = v * beta2 + one_minus_beta2 * grad * grad
        if finite is not None:  # an overflowed float16 step: nothing moves
            new_m, new_v = _kept_unless(finite, new_m, m), _kept_unless(finite, new_v, v)
        m.assign(new_m)
        v.assign(new_v)
        denominator = tf.sqrt(v) / correction2_sqrt + epsilon
        return var.assign_sub(_kept_unless(finite, step_size * (m / denominator), 0.0))


class TorchRMSprop(tf.Module):
    """torch.optim.RMSprop with its defaults (alpha 0.99, eps 1e-8 outside the
    square root, no momentum, not centered), as the WGAN script uses it:
    v <- alpha v + (1 - alpha) g^2; p <- p - lr g / (sqrt(v) + eps). Keras'
    RMSprop defaults to rho 0.9 and puts eps elsewhere. `loss_scaling` as
    TorchAdam's."""

    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"var_list"})
    ALPHA = 0.99

    def __init__(self, var_list, learning_rate, epsilon=1e-8, name="rmsprop",
                 loss_scaling=False):
        super().__init__(name=name)
        self.loss_scale = DynamicLossScale() if loss_scaling else None
        self.var_list = self._no_dependency(list(var_list))
        self.learning_rate, self.epsilon = float(learning_rate), float(epsilon)
        with self.name_scope:
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.square_averages = [tf.Variable(tf.zeros_like(v), trainable=False,
                                                name="square_avg") for v in self.var_list]

    def apply_gradients(self, gradients):
        """One step; `gradients` in `var_list` order (all-reduced under tf.distribute)."""
        if len(gradients) != len(self.var_list):
            raise ValueError(f"Got {len(gradients)} gradients for {len(self.var_list)} variables.")
        finite = None if self.loss_scale is None else _all_finite(gradients)
        distribute.update_each_copy(
            [(var, (square_average, grad, finite)) for var, square_average, grad in
             zip(self.var_list, self.square_averages, gradients)], self._rmsprop)
        _finish_step(self, finite)

    def _rmsprop(self, var, square_average, grad, finite):
        square_average.assign(_kept_unless(
            finite, square_average * self.ALPHA + (1.0 - self.ALPHA) * grad * grad,
            square_average))
        return var.assign_sub(_kept_unless(
            finite, self.learning_rate * (grad / (tf.sqrt(square_average) + self.epsilon)), 0.0))


def _finish_step(optimizer, finite):
    """Counts the step (not a skipped one) and moves the loss scale."""
    distribute.update_each_copy([(optimizer.step, (finite,))], _count_step)
    if optimizer.loss_scale is not None:
        distribute.update_each_copy([(optimizer.loss_scale.scale, (finite,))],
                                    lambda _, finite: optimizer.loss_scale.update(finite))


# The optimizers a system names (systems.OptimizerSettings.kind): name ->
# (variables, settings, name, loss_scaling) -> optimizer.
OPTIMIZERS = {
    "tf1_adam": lambda variables, settings, name, loss_scaling: OriginalAdam(
        variables, settings.learning_rate, settings.beta1, settings.beta2, name=name,
        loss_scaling=loss_scaling),
    "torch_adam": lambda variables, settings, name, loss_scaling: TorchAdam(
        variables, settings.learning_rate, settings.beta1, settings.beta2, name=name,
        loss_scaling=loss_scaling),
    "torch_rmsprop": lambda variables, settings, name, loss_scaling: TorchRMSprop(
        variables, settings.learning_rate, name=name, loss_scaling=loss_scaling),
}


def make(settings, variables, name, loss_scaling=False):
    """The optimizer `settings` (systems.OptimizerSettings) name, over `variables`."""
    return OPTIMIZERS[settings.kind](variables, settings, name, loss_scaling)
