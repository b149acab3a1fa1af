"""The family's trainer: a `systems.System` (networks + objective + schedule +
optimizers) composed into tf.function steps, with the interface the training
loop (`training.train`) drives: counters, the fixed sample batch, checkpoint
objects, `train_step` and `sampler`.

One iteration follows the system's schedule exactly as its PyTorch-GAN script
runs it, including which forward passes run in training mode (each one moves
the batch-norm running averages, as PyTorch's do):

- generator first (gan, cgan, acgan, lsgan): G(z), D(G(z)) and G's update; then
  D(x), D(G(z) detached) and D's update on that same G(z);
- critic first (wgan, wgan_gp): G(z) detached, D(x), D(G(z)) [and the penalty's
  D(x_hat)] and D's update, then clipping; then, when the batch index is a
  multiple of n_critic, a new G(z) of the same z, D(G(z)) and G's update.

The random draws of an iteration (z, the labels asked of G, the penalty's
alphas) come from one checkpointed generator; `iteration_with` takes them as
arguments, so tests replay a reference run's draws.
"""

import tensorflow as tf

from dcgan_tf import distribute
from dcgan_tf import objectives
from dcgan_tf import optim
from dcgan_tf import systems
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import torch_layers


# cgan's and acgan's sample_image(n_row=10): a 10 x 10 grid, labels 0..9 per row.
SCRIPT_SAMPLE_ROWS = 10


class FamilyTrainer:
    """G, D, their optimizers, counters and random state for one family system."""

    # The loop assigns the first batch's labels to sample_y for carpedm20 only.
    samples_first_batch_labels = False

    def __init__(self, model_config, learning_rate, beta1, beta2, batch_size, seed,
                 n_critic=None, clip_value=None, lambda_gp=10.0, sample_interval=400,
                 strategy=None, ls_abc=(0.0, 1.0, 1.0), divergence="kl"):
        self.model_config = model_config
        self.system = systems.SYSTEMS[model_config.model]
        self.lambda_gp = float(lambda_gp)
        self.penalty_weight = self.lambda_gp  # the penalty's weight in D's loss
        self.sample_interval = int(sample_interval)
        if model_config.loss:  # --loss: another objective on these networks (raw D outputs)
            loss = systems.LOSSES[model_config.loss]
            d_objective, g_objective = objectives.for_loss(loss.name, ls_abc, divergence)
            if self.system.objective == "acgan":  # the class head keeps its objective
                self.d_objective, self.g_objective = objectives.with_auxiliary_classifier(
                    d_objective, g_objective)
                self.penalty_weight = (self.lambda_gp
                                       * objectives.AUXILIARY_CLASSIFIER_ADVERSARIAL_WEIGHT)
            else:
                self.d_objective = lambda real, fake, y, fake_labels: d_objective(real, fake)
                self.g_objective = lambda fake, fake_labels: g_objective(fake)
            self.schedule = systems.Schedule(
                generator_first=not loss.critic_schedule,
                n_critic=int(n_critic) if loss.critic_schedule else 1,
                clip_value=clip_value if loss.name == "wgan" else None)
            self.penalty = loss.name == "wgan_gp"
            self.optimizer = loss.optimizer or self.system.optimizer
        else:
            self.d_objective, self.g_objective = objectives.SYSTEM_OBJECTIVES[
                self.system.objective]
            self.schedule = systems.schedule_of(self.system, n_critic, clip_value)
            self.penalty = self.system.has_penalty
            self.optimizer = self.system.optimizer
        self.batch_size = batch_size
        # One device unless --strategy says otherwise; networks, optimizers and the
        # sample batch live in its scope (mirrored on every replica). The draws of
        # an iteration come from a host generator and are split by rows; dropout
        # draws on each replica from its own stream.
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.rng = tf.random.Generator.from_seed(seed)
        tf.random.set_seed(seed)  # the networks' initial weights
        with self.strategy.scope():
            self.dropout_rng = tf.random.Generator.from_seed(seed + 1)
            self.generator, self.discriminator = pytorch_gan.build_networks(
                model_config, self.dropout_rng)
            make = self._optimizer_factory(learning_rate, beta1, beta2)
            # The scripts build optimizer_G before optimizer_D.
            self.g_optimizer = make(self.generator.trainable_variables, "g_optimizer")
            self.d_optimizer = make(self.discriminator.trainable_variables, "d_optimizer")
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.epoch_batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_batch")
        # G's last loss, logged in the iterations that skip G's update (n_critic).
        self.last_g_loss = tf.Variable(0.0, trainable=False, name="last_g_loss")
        # The fixed latent batch behind every sample grid; labels 0, 1, ..., 9, 0, ...
        # (the scripts' sample_image shows each class in a row).
        with self.strategy.scope():
            self.sample_z = tf.Variable(self.rng.normal([batch_size, model_config.z_dim]),
                                        trainable=False, name="sample_z")
            self.sample_y = None
            if model_config.conditional:
                self.sample_y = tf.Variable(
                    tf.one_hot(tf.range(batch_size) % model_config.n_classes,
                               model_config.n_classes), trainable=False, name="sample_y")
        self.train_step = tf.function(self.iteration_update)
        self.step_with_draws = tf.function(self.iteration_with)
        self.sampler = tf.function(self.sample)

    def _optimizer_factory(self, learning_rate, beta1, beta2):
        if self.optimizer == "rmsprop":
            return lambda variables, name: optim.TorchRMSprop(variables, learning_rate, name=name)
        return lambda variables, name: optim.TorchAdam(variables, learning_rate, beta1, beta2,
                                                       name=name)

    def checkpoint_objects(self):
        """What a checkpoint holds: all that is needed to resume exactly."""
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                       iteration=self.iteration, epoch=self.epoch, epoch_batch=self.epoch_batch,
                       last_g_loss=self.last_g_loss, rng=self.rng, dropout_rng=self.dropout_rng,
                       sample_z=self.sample_z)
        if self.sample_y is not None:
            objects["sample_y"] = self.sample_y
        return objects

    def set_dropout(self, enabled):
        """Dropout on or off in training mode (the golden runs made it an identity)."""
        for layer in self.discriminator.submodules:
            if isinstance(layer, torch_layers.Dropout):
                layer.enabled = enabled

    # -------------------------------------------------------------- steps

    def draws(self, batch_size):
        """The iteration's random draws: z ~ N(0, 1), the labels asked of G (uniform
        over the classes, one-hot), the penalty's alphas ~ U[0, 1) per example."""
        z = self.rng.normal(tf.stack([batch_size, self.model_config.z_dim]))
        fake_labels = alpha = None
        if self.model_config.conditional:
            classes = self.rng.uniform(tf.reshape(batch_size, [1]), 0,
                                       self.model_config.n_classes, dtype=tf.int32)
            fake_labels = tf.one_hot(classes, self.model_config.n_classes)
        if self.penalty:
            alpha = self.rng.uniform(tf.stack([batch_size, 1, 1, 1]))
        return z, fake_labels, alpha

    def iteration_update(self, real, y=None):
        """One training iteration with fresh draws; advances the counters."""
        z, fake_labels, alpha = self.draws(tf.shape(real)[0])
        result = self.iteration_with(real, y, z, fake_labels, alpha, self.epoch_batch)
        if self.system.samples_in_training_mode:
            # The script's sample_image after batches 0, interval, 2 * interval, ...
            tf.cond(tf.equal(tf.math.floormod(self.iteration, self.sample_interval), 0),
                    self._script_sample_pass_with_draws, tf.no_op)
        self.iteration.assign_add(1)
        self.epoch_batch.assign_add(1)
        return {**result, "z": z}

    def _script_sample_pass_with_draws(self):
        grid = SCRIPT_SAMPLE_ROWS ** 2
        self.script_sample_pass(self.rng.normal([grid, self.model_config.z_dim]))
        return tf.no_op()

    def script_sample_pass(self, z):
        """cgan's and acgan's sample_image: G on 10 x 10 noise vectors with the labels
        0..9 in every row, in *training* mode (the scripts never call eval()), so it
        moves G's batch-norm running averages like a training batch. Kept: it is
        what the scripts' training does to G's state."""
        labels = tf.one_hot(tf.range(tf.shape(z)[0]) % SCRIPT_SAMPLE_ROWS,
                            self.model_config.n_classes)
        return self._on_rows(lambda z, labels: {"G": self.generator(z, labels, training=True)},
                             z, labels)["G"]

    def iteration_with(self, real, y, z, fake_labels, alpha, batch_index):
        """One iteration of the system's schedule on given draws; `batch_index` is the
        batch's index within its epoch (the scripts' `i`, for n_critic). Under
        tf.distribute each update runs on every replica with its rows of the
        global batch (G(z) is gathered between them, so rows keep their pairs)."""
        if self.schedule.generator_first:
            g_result = self._on_rows(self._generator_update, z, fake_labels)
            result = self._on_rows(self._discriminator_update, real, y,
                                   tf.stop_gradient(g_result["G"]), fake_labels)
            self.last_g_loss.assign(g_result["g_loss"])
            return {**result, "g_loss": g_result["g_loss"], "G": g_result["G"]}
        fake = self._on_rows(self._generator_pass, z, fake_labels)["G"]
        result = self._on_rows(self._discriminator_update, real, y, fake, fake_labels, alpha)
        if self.schedule.clip_value is not None:
            distribute.update_each_copy(
                [(variable, (self.schedule.clip_value,)) for variable in self.d_optimizer.var_list],
                optim.clip_variable, self.strategy)

        def generator_update():
            g_result = self._on_rows(self._generator_update, z, fake_labels)
            self.last_g_loss.assign(g_result["g_loss"])
            return g_result["G"]

        # The condition stays outside the replicas: a synchronization point (the
        # gradients' all-reduce) cannot sit inside control flow there.
        fake = tf.cond(tf.equal(tf.math.floormod(tf.cast(batch_index, tf.int64),
                                                 self.schedule.n_critic), 0),
                       generator_update, lambda: fake)
        return {**result, "g_loss": tf.identity(self.last_g_loss), "G": fake}

    def _on_rows(self, replica_fn, *tensors):
        return distribute.run_on_rows(self.strategy, replica_fn, *tensors)

    def _generator_pass(self, z, fake_labels):
        """G(z) in training mode, detached (moves G's batch-norm averages)."""
        return {"G": tf.stop_gradient(self.generator(z, fake_labels, training=True))}

    def _generator_update(self, z, fake_labels):
        """G(z), D(G(z)) in training mode, and G's update."""
        with tf.GradientTape() as tape:
            fake = self.generator(z, fake_labels, training=True)
            g_loss = self.g_objective(self.discriminator(fake, fake_labels, training=True),
                                      fake_labels)
        variables = self.g_optimizer.var_list
        self.g_optimizer.apply_gradients(
            distribute.global_batch_gradients(tape, g_loss, variables))
        return {"g_loss": g_loss, "G": fake}

    def _discriminator_update(self, real, y, fake, fake_labels, alpha=None):
        """D(x), D(G(z)) [, the penalty] in training mode, and D's update."""
        with tf.GradientTape() as tape:
            real_out = self.discriminator(real, y, training=True)
            fake_out = self.discriminator(fake, fake_labels, training=True)
            result = self.d_objective(real_out, fake_out, y, fake_labels)
            if alpha is not None:
                penalty = objectives.gradient_penalty(self._critic_scores, real, fake, alpha, y)
                result["gradient_penalty"] = penalty
                result["d_loss"] = result["d_loss"] + self.penalty_weight * penalty
        variables = self.d_optimizer.var_list
        self.d_optimizer.apply_gradients(
            distribute.global_batch_gradients(tape, result["d_loss"], variables))
        return result

    def _critic_scores(self, images, labels, training):
        """D's adversarial output alone (acgan's D also has a class head)."""
        outputs = self.discriminator(images, labels, training=training)
        return outputs[0] if isinstance(outputs, tuple) else outputs

    def sample(self, z, y=None):
        """G in inference mode (batch norm on its running averages)."""
        return self.generator(z, y, training=False)
