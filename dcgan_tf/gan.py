"""One GAN: a composed system's networks, optimizers, counters, random state and
fixed sample batch, and the one step that trains them as the system's schedule
says (systems.Schedule). `train_step` is what training runs: it draws the
iteration's random numbers, takes the step and counts it; `step` takes given
draws, so a test replays a reference run's.

The schedule's three forms, each as its source runs it, with every forward
pass in training mode (each moves the batch norms' running averages, as both
originals' do):
- carpedm20 (D first, G(z) shared, two G updates): G(z), then D's update on
  D(x) and D(G(z)); G's first update backpropagates through that same G(z)
  (recorded on its tape; D's update does not touch G, so the values are the
  original's second pass's), G's batch norms moved a second time with its
  statistics; then G's second update, a new G(z) of the same z;
- generator first (gan, cgan, acgan, lsgan): G(z), D(G(z)) and G's update;
  then D(x), D(G(z) detached) and D's update on that same G(z);
- critic first (wgan, wgan_gp, and the critic losses): G(z) detached, D(x),
  D(G(z)) [and the penalty's D(x_hat)] and D's update, then clipping; then G's
  turn on a new G(z) of the same z.
With n_critic > 1 G's turn comes every n_critic-th batch of the epoch; in the
others D trains alone (on a detached training-mode G(z)), and G's last loss
is logged.

Under tf.distribute each update runs on every replica with its rows of the
global batch (distribute.run_on_rows); the choice of G's turn stays outside
the replicas (a synchronization point cannot sit inside control flow there).
With --mixed_precision the networks compute in bfloat16 / float16 while the
variables, batch-norm statistics, losses and optimizers stay float32.
"""

import collections

import tensorflow as tf

from dcgan_tf import distribute
from dcgan_tf import latent
from dcgan_tf import networks
from dcgan_tf import objectives
from dcgan_tf import optim
from dcgan_tf.stabilizers import diffaugment
from dcgan_tf.stabilizers import ema
from dcgan_tf.stabilizers import spectral_norm

# An iteration's random draws: z [B, Z]; the labels asked of G [B, classes]
# (one-hot; None where G gets the real batch's labels, or none); the penalty's
# interpolation weights alpha [B, 1, 1, 1] (None without a penalty).
Draws = collections.namedtuple("Draws", "z fake_labels alpha", defaults=(None, None))

# cgan's and acgan's sample_image(n_row=10): a 10 x 10 grid, labels 0..9 per row.
SCRIPT_SAMPLE_ROWS = 10


class GAN:
    """A system's G and D, their optimizers, the run's counters and random state,
    and the tf.function steps over them; everything a run resumes from is in
    `checkpoint_objects()`."""

    def __init__(self, system, model_config, *, batch_size, seed, z_dist="uniform_signed",
                 strategy=None, compute_dtype="float32", jit_compile=False, sync_bn=False):
        self.system, self.model_config = system, model_config
        self.schedule, self.objective = system.schedule, system.objective
        self.z_dist, self.batch_size = z_dist, batch_size
        self.compute_dtype = tf.as_dtype(compute_dtype)
        # One device unless --strategy says otherwise; networks, optimizers and the
        # sample batch live in its scope (mirrored on every replica). The draws of
        # an iteration come from a host generator and are split by rows; dropout
        # draws on each replica from its own stream.
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        if jit_compile and self.replicas > 1:
            raise ValueError(f"--xla compiles one device's iteration; it cannot run over the"
                             f" {self.replicas} replicas of --strategy. Drop --xla.")
        self.jit_compile = jit_compile
        self.rng = tf.random.Generator.from_seed(seed)
        loss_scaling = self.compute_dtype == tf.float16
        with self.strategy.scope():
            self.dropout_rng = tf.random.Generator.from_seed(seed + 1)
            self.generator, self.discriminator = networks.build(
                system.networks, model_config, seed, self.dropout_rng,
                raw_scores=system.raw_scores, critic_norm=system.critic_norm,
                normal_init=system.normal_init)
            for batch_norm in networks.batch_norms(self.generator, self.discriminator):
                batch_norm.synchronized = sync_bn
            self.d_optimizer = optim.make(system.d_optimizer,
                                          self.discriminator.trainable_variables, "d_optimizer",
                                          loss_scaling)
            self.g_optimizer = optim.make(system.g_optimizer, self.generator.trainable_variables,
                                          "g_optimizer", loss_scaling)
            # The stabilizers the system has (stabilizers/): D's spectral norms
            # (built with D), G's average (a second G, built as the first), the
            # augmentations' own random stream (each replica its own).
            self.spectral_norms = spectral_norm.of(self.discriminator)
            self.averaged_generator = self.ema = self.augment_rng = None
            if system.averaging is not None:
                self.averaged_generator = networks.build(
                    system.networks, model_config, seed, self.dropout_rng,
                    raw_scores=system.raw_scores, critic_norm=system.critic_norm,
                    normal_init=system.normal_init)[0]
                self.ema = ema.ExponentialMovingAverage(
                    self.generator, self.averaged_generator, system.averaging.decay,
                    system.averaging.start, system.averaging.statistics)
            if system.diffaugment:
                self.augment_rng = tf.random.Generator.from_seed(seed + 2)
        # The original's `counter` (iterations completed), and the epoch and batch
        # within it, so a restart resumes where it stopped. These and the random
        # state live on the host, outside the strategy.
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.epoch_batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_batch")
        # G's loss at its last turn, logged in the iterations without one (n_critic).
        self.last_g_loss = tf.Variable(0.0, trainable=False, name="last_g_loss")
        # The fixed latent batch (and labels) behind every sample grid of the run:
        # labels 0, 1, ..., 9, 0, ... (the scripts' sample_image shows each class in
        # a row), or the first batch's (carpedm20's), set by start_new_run.
        with self.strategy.scope():
            self.sample_z = tf.Variable(
                latent.sample_latent(self.rng, z_dist, batch_size, model_config.z_dim),
                trainable=False, name="sample_z")
            self.sample_y = None
            if model_config.conditional:
                classes = model_config.y_dim
                labels = (tf.one_hot(tf.range(batch_size) % classes, classes)
                          if system.sample_labels == "cycle" else tf.zeros([batch_size, classes]))
                self.sample_y = tf.Variable(labels, trainable=False, name="sample_y")
        # The step on given draws, and the training iteration that draws them (--xla:
        # each one XLA program, on one device: an XLA program cannot reach other
        # replicas' variables); the sampler. No autograph: every choice that
        # depends on a tensor is an explicit tf.cond, so there is nothing to
        # convert, and tracing takes half the time.
        self.step = tf.function(self._step, jit_compile=jit_compile, autograph=False)
        self.train_step = tf.function(self._train_step, jit_compile=jit_compile, autograph=False)
        self.sample = tf.function(self._sample, autograph=False)

    def checkpoint_objects(self):
        """What a checkpoint holds: all that is needed to resume exactly (and, for
        carpedm20's recipe, nothing its TF1 checkpoints and older runs lack)."""
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
                       iteration=self.iteration, epoch=self.epoch, epoch_batch=self.epoch_batch,
                       rng=self.rng, sample_z=self.sample_z)
        extras = dict(last_g_loss=self.last_g_loss, dropout_rng=self.dropout_rng)
        objects.update({name: extras[name] for name in self.system.checkpoint_extras})
        if self.ema is not None:
            objects.update(ema_generator=self.averaged_generator, ema=self.ema)
        if self.augment_rng is not None:
            objects["augment_rng"] = self.augment_rng
        if self.sample_y is not None:
            objects["sample_y"] = self.sample_y
        return objects

    def start_new_run(self, training_data):
        """A new run's fixed sample labels: carpedm20 samples with the labels of the
        first batch of data."""
        if self.sample_y is not None and self.system.sample_labels == "first_batch":
            self.sample_y.assign(training_data.first_batch(self.batch_size)[1])

    # -------------------------------------------------------------- the iteration

    def draw(self, batch_size):
        """The iteration's random draws from the run's generator, in the order the
        systems take them: z from the prior (--z_dist), the labels asked of G
        (uniform over the classes), the penalty's alphas ~ U[0, 1) per example."""
        z = latent.sample_latent(self.rng, self.z_dist, batch_size, self.model_config.z_dim)
        fake_labels = alpha = None
        if self.model_config.conditional and self.system.fake_labels == "drawn":
            classes = self.rng.uniform(tf.reshape(batch_size, [1]), 0, self.model_config.y_dim,
                                       dtype=tf.int32)
            fake_labels = tf.one_hot(classes, self.model_config.y_dim)
        if self.system.penalty_weight is not None:
            alpha = self.rng.uniform(tf.stack([batch_size, 1, 1, 1]))
        return Draws(z, fake_labels, alpha)

    def _train_step(self, real, y=None):
        """One training iteration with fresh draws; advances the counters."""
        draws = self.draw(tf.shape(real)[0])
        result = self._step(real, y, draws, self.epoch_batch)
        if self.system.samples_in_training_mode:
            # The script's sample_image after batches 0, interval, 2 * interval, ...
            tf.cond(tf.equal(tf.math.floormod(self.iteration, self.system.sample_interval), 0),
                    self._script_sample_pass_with_draws, tf.no_op)
        self.iteration.assign_add(1)
        self.epoch_batch.assign_add(1)
        return {**result, "z": draws.z} if self.system.histograms else result

    def _step(self, real, y, draws, batch_index):
        """One iteration of the system's schedule on given draws; `batch_index` is
        the batch's index within its epoch (n_critic counts it). Returns the
        losses (d_loss, g_loss and their parts), G's images of the iteration
        ("G"), and for carpedm20 D's sigmoid outputs ("d", "d_")."""
        fake_labels = y if self.system.fake_labels == "real" else draws.fake_labels
        g_turn = None
        if self.schedule.n_critic > 1:
            g_turn = tf.equal(tf.math.floormod(tf.cast(batch_index, tf.int64),
                                               self.schedule.n_critic), 0)
        if self.schedule.first == "generator":
            result = self._generator_first(real, y, draws.z, fake_labels, g_turn)
        else:
            result = self._discriminator_first(real, y, draws.z, fake_labels, draws.alpha, g_turn)
        if self.system.original_loss_eval:
            result.update(self._on_rows(self._original_losses, real, y, draws.z))
        return result

    def _discriminator_first(self, real, y, z, fake_labels, alpha, g_turn):
        """D's update (clipped with WGAN's schedule), then G's turn on the same z;
        in iterations without G's turn, D's alone on a detached G(z)."""
        def iteration():
            result = self._on_rows(self._shared_iteration, real, y, z, fake_labels, alpha)
            self.last_g_loss.assign(result["g_loss"])
            return result

        if g_turn is None:
            return iteration()

        def d_alone():
            fake = self._on_rows(self._generator_pass, z, fake_labels)["G"]
            result = self._on_rows(self._critic_update, real, y, fake, fake_labels, alpha)
            return {**result, "g_loss": tf.identity(self.last_g_loss), "G": fake}

        return tf.cond(g_turn, iteration, d_alone)

    def _generator_first(self, real, y, z, fake_labels, g_turn):
        """G's update, then D's on that same G(z), detached."""
        if g_turn is None:
            g_result = self._on_rows(self._generator_update, z, fake_labels)
            fake, g_loss = g_result["G"], g_result["g_loss"]
            self.last_g_loss.assign(g_loss)
        else:
            fake = tf.cond(g_turn, lambda: self._generator_turn(z, fake_labels),
                           lambda: self._on_rows(self._generator_pass, z, fake_labels)["G"])
            g_loss = tf.identity(self.last_g_loss)
        result = self._on_rows(self._discriminator_update, real, y, tf.stop_gradient(fake),
                               fake_labels)
        return {**result, "g_loss": g_loss, "G": fake}

    def _generator_turn(self, z, fake_labels):
        """G's updates on the same z; G's images of the last; its loss kept."""
        for _ in range(self.schedule.generator_updates):
            g_result = self._on_rows(self._generator_update, z, fake_labels)
        self.last_g_loss.assign(g_result["g_loss"])
        return g_result["G"]

    def _on_rows(self, replica_fn, *tensors):
        return distribute.run_on_rows(self.strategy, replica_fn, *tensors)

    # ------------------------------------------------- the updates (on one replica's rows)

    def _compute(self, *tensors):
        """Inputs in the compute dtype (a no-op in float32)."""
        return [None if t is None else tf.cast(t, self.compute_dtype) for t in tensors]

    def _d(self, images, labels):
        """D's outputs in training mode, in float32 (the losses' precision)."""
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32),
                                     self.discriminator(images, labels, training=True))

    def _seen(self, images):
        """The images as D sees them: augmented (--diffaugment), each call with its
        own draws, or as they are."""
        if not self.system.diffaugment:
            return images
        return diffaugment.augment(images, self.system.diffaugment, self.augment_rng,
                                   self.model_config.output_range)

    def _critic_scores(self, images, labels, training):
        """D's adversarial output alone, in float32 (AC-GAN's D also has a class head)."""
        outputs = self.discriminator(images, labels, training=training)
        return tf.cast(outputs[0] if isinstance(outputs, tuple) else outputs, tf.float32)

    def _gradients(self, tape, loss, optimizer):
        """d loss / d variables of the global batch (distribute.global_batch_gradients);
        with float16, backprop runs on the loss times the loss scale, and the
        gradients are divided by it (a power of two: exact)."""
        loss_scale = optimizer.loss_scale
        gradients = distribute.global_batch_gradients(
            tape, loss, optimizer.var_list, None if loss_scale is None else loss_scale.scale)
        if loss_scale is not None:
            gradients = [g / loss_scale.scale for g in gradients]
        return gradients

    def _discriminator_update(self, real, y, fake, fake_labels, alpha=None):
        """D(x), D(G(z)) [, the penalties] in training mode, and D's update: on the
        images as D sees them (--diffaugment), with D's spectral norms' power
        iteration first (--spectral_norm)."""
        for normalization in self.spectral_norms:
            normalization.power_iteration()
        real, y, fake, fake_labels = self._compute(real, y, fake, fake_labels)
        with tf.GradientTape() as tape:
            real, fake = self._seen(real), self._seen(fake)
            real_outputs, fake_outputs = self._d(real, y), self._d(fake, fake_labels)
            result = self.objective.discriminator(real_outputs, fake_outputs, y, fake_labels)
            if alpha is not None:
                penalty = objectives.gradient_penalty(
                    self._critic_scores, tf.cast(real, tf.float32), tf.cast(fake, tf.float32),
                    alpha, y)
                result["gradient_penalty"] = penalty
                result["d_loss"] = result["d_loss"] + self.system.penalty_weight * penalty
            if self.system.r1_gamma:
                penalty = self._r1_penalty(tf.cast(real, tf.float32), y)
                result["r1_penalty"] = penalty
                result["d_loss"] = result["d_loss"] + (
                    0.5 * self.system.r1_gamma * self.system.r1_every) * penalty
        self.d_optimizer.apply_gradients(self._gradients(tape, result["d_loss"], self.d_optimizer))
        if self.system.histograms:
            result.update(d=tf.sigmoid(real_outputs), d_=tf.sigmoid(fake_outputs))
        return result

    def _r1_penalty(self, real, y):
        """R1 on real images (objectives.r1_penalty); with --r1_every k, on every
        k-th D update only (scaled by k in D's loss), 0 on the others. The turn is
        a tf.cond on one device; where D's forward pass holds collectives
        (--sync_bn over replicas, which cannot sit inside one), the penalty is
        computed every update and its weight is what skips it."""
        penalty = lambda: objectives.r1_penalty(self._critic_scores, real, y)  # noqa: E731
        if self.system.r1_every == 1:
            return penalty()
        turn = tf.equal(tf.math.floormod(self.iteration, self.system.r1_every), 0)
        if self.replicas > 1 and any(n.synchronized for n in networks.batch_norms(
                self.discriminator)):
            return tf.cast(turn, tf.float32) * penalty()
        return tf.cond(turn, penalty, lambda: tf.constant(0.0))

    def _generator_update(self, z, fake_labels):
        """G(z), D(G(z)) in training mode (D sees G(z) as --diffaugment shows it),
        and G's update."""
        z, fake_labels = self._compute(z, fake_labels)
        with tf.GradientTape() as tape:
            fake = self.generator(z, fake_labels, training=True)
            g_loss = self.objective.generator(self._d(self._seen(fake), fake_labels),
                                              fake_labels)
        self._apply_to_generator(tape, g_loss)
        return {"g_loss": g_loss, "G": tf.cast(fake, tf.float32)}

    def _apply_to_generator(self, tape, g_loss):
        """G's update, then its average's (--ema_decay)."""
        self.g_optimizer.apply_gradients(self._gradients(tape, g_loss, self.g_optimizer))
        if self.ema is not None:
            self.ema.update()

    def _generator_pass(self, z, fake_labels):
        """G(z) in training mode, detached (moves G's batch-norm averages), in
        float32 like every "G" of a step (D's update casts it back: exactly)."""
        z, fake_labels = self._compute(z, fake_labels)
        fake = tf.stop_gradient(self.generator(z, fake_labels, training=True))
        return {"G": tf.cast(fake, tf.float32)}

    def _critic_update(self, real, y, fake, fake_labels, alpha=None):
        """D's update, then WGAN's clipping of D's weights (its schedule's)."""
        result = self._discriminator_update(real, y, fake, fake_labels, alpha)
        if self.schedule.clip_value is not None:
            distribute.update_each_copy(
                [(variable, (self.schedule.clip_value,)) for variable in self.d_optimizer.var_list],
                optim.clip_variable, self.strategy)
        return result

    def _shared_iteration(self, real, y, z, fake_labels, alpha=None):
        """D's update, then G's turn, with one G forward pass fewer than the
        original and the scripts: D's update and G's first evaluate G(z) with the
        same weights (D's update does not touch G), so G's first update reuses
        D's G(z), recorded on its tape, and moves G's batch-norm averages a
        second time with the same statistics, as their recomputation does. Same
        values, same order of updates: tests/test_equivalence_original.py,
        tests/test_family_golden.py."""
        real, y, z, fake_labels = self._compute(real, y, z, fake_labels)
        with tf.GradientTape() as tape:
            fake = self.generator(z, fake_labels, training=True)
            with tape.stop_recording():
                d_result = self._critic_update(real, y, fake, fake_labels, alpha)
                for batch_norm in networks.batch_norms(self.generator):
                    batch_norm.repeat_last_update()
            g_loss = self.objective.generator(self._d(self._seen(fake), fake_labels),
                                              fake_labels)
        self._apply_to_generator(tape, g_loss)
        g_result = {"g_loss": g_loss, "G": tf.cast(fake, tf.float32)}
        # carpedm20 runs g_optim twice "to make sure that d_loss does not go to
        # zero (different from paper)".
        for _ in range(self.schedule.generator_updates - 1):
            g_result = self._generator_update(z, fake_labels)
        return {**d_result, "g_loss": g_result["g_loss"], "G": g_result["G"]}

    def _original_losses(self, real, y, z):
        """The original's errD_fake, errD_real, errG evaluations after an iteration:
        training-mode passes that move the moving averages, in its order; their
        losses are the ones logged (--original_loss_eval)."""
        real, y, z = self._compute(real, y, z)
        logits = lambda images: self._d(images, y)  # noqa: E731
        d_loss_fake = objectives.sigmoid_cross_entropy(
            logits(self.generator(z, y, training=True)), 0.0)
        d_loss_real = objectives.sigmoid_cross_entropy(logits(real), 1.0)
        g_loss = objectives.sigmoid_cross_entropy(logits(self.generator(z, y, training=True)), 1.0)
        return {"d_loss": d_loss_real + d_loss_fake, "d_loss_real": d_loss_real,
                "d_loss_fake": d_loss_fake, "g_loss": g_loss}

    # -------------------------------------------------------------- sampling

    def _script_sample_pass_with_draws(self):
        grid = SCRIPT_SAMPLE_ROWS ** 2
        self.script_sample_pass(
            latent.sample_latent(self.rng, self.z_dist, grid, self.model_config.z_dim))
        return tf.no_op()

    def script_sample_pass(self, z):
        """cgan's and acgan's sample_image: G on 10 x 10 noise vectors with the labels
        0..9 in every row, in *training* mode (the scripts never call eval()), so it
        moves G's batch-norm running averages like a training batch. Kept: it is
        what the scripts' training does to G's state."""
        labels = tf.one_hot(tf.range(tf.shape(z)[0]) % SCRIPT_SAMPLE_ROWS,
                            self.model_config.y_dim)
        return self._on_rows(
            lambda z, labels: {"G": self.generator(*self._compute(z, labels), training=True)},
            z, labels)["G"]

    def _sample(self, z, y=None):
        """The sampler (the original's `sampler`): G with batch norm on its moving
        averages, in float32; G's average where the run keeps one."""
        generator = self.generator if self.averaged_generator is None else self.averaged_generator
        return generator(z, y, training=False)
