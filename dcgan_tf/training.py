"""Training: the original's update steps as tf.functions, and the loop that owns
logging, sample and checkpoint cadence.

One iteration, as in the original: one D update on a real batch and G(z), then
two G updates with the same z (and labels). Real and fake batches go through D
separately, so batch-norm statistics are per batch. Each training-mode pass
moves the batch-norm moving averages, in program order: D(real), G(z), D(G(z))
in the D update; G(z), D(G(z)) in each G update.

The losses we log are the ones the updates computed (d_loss of the D update,
g_loss of the second G update). The original instead re-runs three loss
evaluations after each iteration just to print them, which moves the moving
averages again; `--original_loss_eval` does exactly that, for bit-for-bit
comparisons with old runs.
"""

import contextlib
import math
import signal
import tempfile
import time

import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import distribute
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf import losses
from dcgan_tf.networks import carpedm20
from dcgan_tf import objectives
from dcgan_tf import optim
from dcgan_tf import systems


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped before saving that state."""


class OutputWriteError(RuntimeError):
    """A checkpoint or sample could not be written (full disk, unwritable folder)."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved first."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


@contextlib.contextmanager
def _stop_requests():
    """Turns SIGINT / SIGTERM into a request the loop honours between iterations,
    so a checkpoint is saved before exiting (only in the main thread, where
    Python can install signal handlers)."""
    received = []
    handler = lambda signum, frame: received.append(signum)  # noqa: E731
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _save_checkpoint(keeper, iteration):
    try:
        return keeper.save(iteration)
    except (OSError, tf.errors.OpError) as error:
        raise OutputWriteError(
            f"Could not write the checkpoint of iteration {iteration} to"
            f" {keeper.manager.directory}: {getattr(error, 'message', error)}. Free disk space"
            " or pass another --checkpoint_dir/--out_dir, then rerun the same command; the"
            f" last complete checkpoint ({keeper.latest}) is intact.") from error


def _save_samples(trainer, path, value_range, write=True):
    """Samples the fixed batch; writes the grid unless `write` is False (a
    multi-worker run's other workers sample with the chief, which writes)."""
    samples = trainer.sampler(trainer.sample_z, trainer.sample_y).numpy()
    if not write:
        return None
    try:
        return images.save_grid(samples, path, value_range)
    except OSError as error:
        raise OutputWriteError(f"Could not write the sample grid {path}: {error}. Free disk"
                               " space or pass another --sample_dir/--out_dir.") from error


class GANTrainer:
    """carpedm20's DCGAN as one composition (`systems` names the parts): its
    networks (carpedm20.py), sigmoid cross-entropy on logits (losses.py), D once then
    G twice on the same z, and TF1's Adam (optim.OriginalAdam). G, D, their
    optimizers, the run's counters and random state, and the tf.function steps
    over them; everything here is in `checkpoint_objects()`."""

    # The original samples with the labels of the first batch of data.
    samples_first_batch_labels = True

    def __init__(self, model_config, learning_rate, beta1, z_dist, batch_size, seed,
                 jit_compile=False, strategy=None, sync_bn=False, compute_dtype="float32",
                 loss="nonsaturating", ls_abc=(0.0, 1.0, 1.0), divergence="kl", beta2=None,
                 n_critic=5, clip_value=0.01, lambda_gp=10.0):
        self.model_config = model_config
        # --loss: the objective on D's logits, and the schedule and optimizer it
        # brings (systems.LOSSES). The default, nonsaturating with D, G, G and
        # TF1's Adam, is the original's, computed by the same ops.
        self.loss = systems.LOSSES[loss or "nonsaturating"]
        self.d_objective, self.g_objective = objectives.for_loss(self.loss.name, ls_abc,
                                                                 divergence)
        self.n_critic, self.clip_value = int(n_critic), float(clip_value)
        self.lambda_gp = float(lambda_gp) if self.loss.name == "wgan_gp" else None
        # --mixed_precision: the steps compute in bfloat16 / float16 while the
        # variables, batch-norm statistics, losses and Adam stay float32.
        self.compute_dtype = tf.as_dtype(compute_dtype)
        loss_scaling = self.compute_dtype == tf.float16
        self.z_dist = z_dist
        self.batch_size = batch_size
        # One device unless --strategy says otherwise; models, optimizers and the
        # sample batch are created in its scope (mirrored on every replica).
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        with self.strategy.scope():
            self.generator, self.discriminator = carpedm20.build_models(model_config)
            for batch_norm in carpedm20.batch_norms(self.generator, self.discriminator):
                batch_norm.synchronized = sync_bn
            # The original builds d_optim before g_optim; so do we (TF1 names them
            # beta1_power and beta1_power_1 in that order).
            if self.loss.optimizer == "rmsprop":  # --loss wgan: the paper's RMSprop
                self.d_optimizer = optim.TorchRMSprop(
                    self.discriminator.trainable_variables, learning_rate, name="d_rmsprop")
                self.g_optimizer = optim.TorchRMSprop(
                    self.generator.trainable_variables, learning_rate, name="g_rmsprop")
            else:
                adam = dict(beta2=optim.ADAM_BETA2 if beta2 is None else beta2,
                            loss_scaling=loss_scaling)
                self.d_optimizer = optim.OriginalAdam(
                    self.discriminator.trainable_variables, learning_rate, beta1,
                    name="d_adam", **adam)
                self.g_optimizer = optim.OriginalAdam(
                    self.generator.trainable_variables, learning_rate, beta1, name="g_adam",
                    **adam)
        # The original's `counter`: iterations completed. Epoch and batch within it,
        # so a restart resumes where it stopped (the original restarts at epoch 0).
        # These and the random state live on the host, outside the strategy: the
        # step draws the global batch's z once and splits it over the replicas.
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.epoch_batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_batch")
        self.rng = tf.random.Generator.from_seed(seed)
        # G's last loss, logged in the iterations that skip G's update (n_critic).
        self.last_g_loss = tf.Variable(0.0, trainable=False, name="last_g_loss")
        # The fixed latent batch (and labels) behind every sample grid of the run.
        with self.strategy.scope():
            self.sample_z = tf.Variable(
                latent.sample_latent(self.rng, z_dist, batch_size, model_config.z_dim),
                trainable=False, name="sample_z")
            self.sample_y = (tf.Variable(tf.zeros([batch_size, model_config.y_dim]),
                                         trainable=False, name="sample_y")
                             if model_config.conditional else None)
        self.d_step = tf.function(self.d_update)
        self.g_step = tf.function(self.g_update)
        # --xla: the whole iteration (D, G, G and both Adams) as one XLA program,
        # on one device only (an XLA program cannot reach other replicas' variables).
        if jit_compile and self.replicas > 1:
            raise ValueError(f"--xla compiles one device's iteration; it cannot run over the"
                             f" {self.replicas} replicas of --strategy. Drop --xla.")
        self.train_step = tf.function(self.iteration_update, jit_compile=jit_compile)
        # The same iteration with z given (no counters): for comparisons with the original.
        self.step_with_z = tf.function(
            lambda real, z, y=None: self._on_replicas(self._replica_iteration, real, y, z))
        self.original_losses = tf.function(self.original_loss_evaluation)
        self.sampler = tf.function(self.sample)

    def checkpoint_objects(self):
        """What a checkpoint holds: all that is needed to resume exactly."""
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
                       iteration=self.iteration, epoch=self.epoch,
                       epoch_batch=self.epoch_batch, rng=self.rng, sample_z=self.sample_z)
        if self.loss.name != "nonsaturating":  # the original's checkpoint has no such entry
            objects["last_g_loss"] = self.last_g_loss
        if self.sample_y is not None:
            objects["sample_y"] = self.sample_y
        return objects

    # -------------------------------------------------------------- steps

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

    def _compute(self, *tensors):
        """Inputs in the compute dtype (a no-op in float32)."""
        return [None if t is None else tf.cast(t, self.compute_dtype) for t in tensors]

    def d_update(self, real, z, y=None):
        """One D update (the original's `d_optim`): maximize log D(x) + log(1 - D(G(z)))."""
        real, z, y = self._compute(real, z, y)
        return self._d_update_on(real, y, lambda: self.generator(z, y, training=True))

    def _d_update_on(self, real, y, fake_images, alpha=None):
        """The D update; `fake_images()` gives G(z) (computed, or reused); `alpha`, the
        gradient penalty's interpolation weights (--loss wgan_gp)."""
        with tf.GradientTape() as tape:
            fake = fake_images()
            real_logits = tf.cast(self.discriminator(real, y, training=True), tf.float32)
            fake_logits = tf.cast(self.discriminator(fake, y, training=True), tf.float32)
            result = self.d_objective(real_logits, fake_logits)
            if self.lambda_gp is not None:
                critic = lambda x, y, training: tf.cast(  # noqa: E731  scores in float32
                    self.discriminator(x, y, training=training), tf.float32)
                penalty = objectives.gradient_penalty(
                    critic, tf.cast(real, tf.float32), tf.cast(fake, tf.float32), alpha, y)
                result["gradient_penalty"] = penalty
                result["d_loss"] = result["d_loss"] + self.lambda_gp * penalty
        gradients = self._gradients(tape, result["d_loss"], self.d_optimizer)
        self.d_optimizer.apply_gradients(gradients)
        return {**result, "d": tf.sigmoid(real_logits), "d_": tf.sigmoid(fake_logits)}

    def g_update(self, z, y=None):
        """One G update (the original's `g_optim`): maximize log D(G(z))."""
        z, y = self._compute(z, y)
        with tf.GradientTape() as tape:
            fake = self.generator(z, y, training=True)
            g_loss, fake_logits = self._g_loss_on(fake, y)
        return self._apply_g_update(tape, g_loss, fake, fake_logits)

    def _g_loss_on(self, fake, y):
        """(G's loss, D's logits) for G(z) = `fake`; call inside G's tape."""
        fake_logits = tf.cast(self.discriminator(fake, y, training=True), tf.float32)
        return self.g_objective(fake_logits), fake_logits

    def _apply_g_update(self, tape, g_loss, fake, fake_logits):
        gradients = self._gradients(tape, g_loss, self.g_optimizer)
        self.g_optimizer.apply_gradients(gradients)
        return {"g_loss": g_loss, "G": tf.cast(fake, tf.float32), "d_": tf.sigmoid(fake_logits)}

    def _replica_iteration(self, real, y, z):
        """D, G, G as the original runs them, with one G forward pass fewer: the
        D update and the first G update evaluate G(z) with the same weights (D's
        update does not touch G), so the first G update reuses the D update's
        G(z) (recorded on its tape) and moves G's batch-norm averages a second
        time with the same statistics, as the original's recomputation does.
        Same values, same order of updates: tests/test_equivalence_original.py."""
        real, z, y = self._compute(real, z, y)
        with tf.GradientTape() as tape:
            fake = self.generator(z, y, training=True)
            with tape.stop_recording():
                d_results = self._d_update_on(real, y, lambda: fake)
                for batch_norm in carpedm20.batch_norms(self.generator):
                    batch_norm.repeat_last_update()
            g_loss, fake_logits = self._g_loss_on(fake, y)
        self._apply_g_update(tape, g_loss, fake, fake_logits)
        # The original runs g_optim twice "to make sure that d_loss does not go
        # to zero (different from paper)".
        g_results = self.g_update(z, y)
        return {**d_results, "g_loss": g_results["g_loss"], "G": g_results["G"]}

    def iteration_update(self, real, y=None):
        """One training iteration: the original's D once, then G twice, same z; or,
        for the Wasserstein losses, the critic's update, then G's when the batch
        index is a multiple of n_critic."""
        z = latent.sample_latent(self.rng, self.z_dist, tf.shape(real)[0],
                                 self.model_config.z_dim)
        if self.loss.critic_schedule:
            result = self._critic_iteration(real, y, z)
        else:
            result = self._on_replicas(self._replica_iteration, real, y, z)
        self.iteration.assign_add(1)
        self.epoch_batch.assign_add(1)
        return {**result, "z": z}

    def _critic_iteration(self, real, y, z):
        """The critic's update on G(z) (detached), clipped with --loss wgan; then,
        every n_critic-th batch of the epoch, G's update on the same z (as the
        WGAN papers' algorithms and the PyTorch-GAN scripts run them)."""
        alpha = None
        if self.lambda_gp is not None:  # one interpolation weight per example
            alpha = self.rng.uniform(tf.stack([tf.shape(real)[0], 1, 1, 1]))

        def critic_update(real, y, z, alpha):
            real, z, y = self._compute(real, z, y)
            return self._d_update_on(real, y, lambda: self.generator(z, y, training=True),
                                     alpha)

        result = distribute.run_on_rows(self.strategy, critic_update, real, y, z, alpha)
        if self.loss.name == "wgan":
            distribute.update_each_copy(
                [(v, (self.clip_value,)) for v in self.discriminator.trainable_variables],
                optim.clip_variable, self.strategy)

        def generator_update():
            g_loss = distribute.run_on_rows(self.strategy, self.g_update, z, y)["g_loss"]
            self.last_g_loss.assign(g_loss)
            return g_loss

        # The condition stays outside the replicas (a synchronization point may not
        # sit inside control flow there).
        g_loss = tf.cond(tf.equal(tf.math.floormod(self.epoch_batch, self.n_critic), 0),
                         generator_update, lambda: tf.identity(self.last_g_loss))
        return {**result, "g_loss": g_loss}

    def _on_replicas(self, replica_fn, real, y, z):
        """`replica_fn(real, y, z)` on one device, or on every replica with its rows."""
        return distribute.run_on_rows(self.strategy, replica_fn, real, y, z)

    def original_loss_evaluation(self, real, z, y=None):
        """The original's errD_fake, errD_real, errG evaluations after an iteration:
        training-mode passes that move the moving averages, in its order."""
        return self._on_replicas(self._replica_loss_evaluation, real, y, z)

    def _replica_loss_evaluation(self, real, y, z):
        real, y, z = self._compute(real, y, z)
        logits = lambda images: tf.cast(  # noqa: E731
            self.discriminator(images, y, training=True), tf.float32)
        d_loss_fake = losses.sigmoid_cross_entropy(
            logits(self.generator(z, y, training=True)), 0.0)
        d_loss_real = losses.sigmoid_cross_entropy(logits(real), 1.0)
        g_loss = losses.generator_loss(logits(self.generator(z, y, training=True)))
        return {"d_loss": d_loss_real + d_loss_fake, "d_loss_real": d_loss_real,
                "d_loss_fake": d_loss_fake, "g_loss": g_loss}

    def sample(self, z, y=None):
        """The original's `sampler`: G with batch norm on its moving averages."""
        return self.generator(z, y, training=False)


def _check_finite(result, counter):
    for name in ("d_loss", "g_loss"):
        if not math.isfinite(float(result[name])):
            raise NonFiniteLossError(
                f"{name} became {float(result[name])} at iteration {counter}. Training stopped;"
                " the last checkpoint (saved before this) is kept unchanged. Try a lower"
                " --learning_rate, or resume from that checkpoint.")


def make_logged_step(trainer, writer, value_range, with_images, original_loss_eval=False):
    """One training iteration, then (with `original_loss_eval`) the original's three
    loss evaluations, whose losses are then the ones logged, then the TensorBoard
    summaries: all in one tf.function, one call per iteration."""

    @tf.function
    def logged_step(real, y=None):
        result = trainer.train_step(real, y)  # summary ops stay outside any XLA program
        if original_loss_eval:
            result.update(trainer.original_loss_evaluation(real, result["z"], y))
        write_summaries(writer, trainer.iteration, result, value_range, with_images)
        return result

    return logged_step


SUMMARY_SCALARS = ("d_loss", "g_loss", "d_loss_real", "d_loss_fake", "d_accuracy",
                   "gradient_penalty")
SUMMARY_HISTOGRAMS = ("z", "d", "d_")


def write_summaries(writer, counter, result, value_range, with_images):
    """The original's TensorBoard names: d_loss, g_loss, d_loss_real, d_loss_fake;
    histograms z, d, d_; images G; and what a family step adds (d_accuracy,
    gradient_penalty)."""
    with writer.as_default(step=counter):
        for name in SUMMARY_SCALARS:
            if name in result:
                tf.summary.scalar(name, result[name])
        for name in SUMMARY_HISTOGRAMS:
            if name in result:
                tf.summary.histogram(name, result[name])
        if with_images:
            lo, hi = value_range
            tf.summary.image("G", (result["G"] - lo) / (hi - lo), max_outputs=3)


def train(trainer, training_data, config, paths, log=print):
    """Trains `trainer` on `training_data` as the original's DCGAN.train does,
    resuming from the run's latest checkpoint when there is one.

    On a multi-worker cluster every worker runs this loop in step (saving and
    sampling read variables through collectives), but only the chief writes:
    the others save into a temporary folder they delete, as TensorFlow's
    multi-worker checkpointing asks, and write no samples or summaries."""
    chief = distribute.is_chief(trainer.strategy)
    with contextlib.ExitStack() as cleanup:
        save_dir = paths.checkpoint_dir
        if not chief:
            save_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dcgan-worker-"))
        keeper = checkpoints.CheckpointKeeper(
            trainer.checkpoint_objects(), save_dir, config.max_to_keep, config.batch_size)
        _restore(trainer, keeper, training_data, config, paths, log)
        num_examples = min(training_data.num_examples,
                           config.train_examples_limit or training_data.num_examples)
        writer = (tf.summary.create_file_writer(paths.log_dir) if chief
                  else tf.summary.create_noop_writer())
        with _stop_requests() as stop_requests:
            last_sampled = _train_epochs(trainer, training_data, config, paths, keeper, writer,
                                         stop_requests, num_examples, chief, log)
        final = int(trainer.iteration)
        if last_sampled != final:  # the end of training always gets a grid
            path = _save_samples(trainer, f"{paths.sample_dir}/train_{final:08d}.png",
                                 trainer.model_config.output_range, write=chief)
            if chief:
                log(f"[Sample] {path}")
        _save_checkpoint(keeper, final)  # also records the finished epoch
        writer.flush()
    if chief:
        log(f" [*] Training done: {final} iterations; checkpoint {keeper.latest}")
    return trainer


def _restore(trainer, keeper, training_data, config, paths, log):
    """Restores the run's latest checkpoint (every worker reads the chief's, from
    the shared run folder), or sets up a new run."""
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    if latest:
        keeper.restore(latest)
        log(f" [*] Load SUCCESS: {latest}; resuming after iteration"
            f" {int(trainer.iteration)} (epoch {int(trainer.epoch)},"
            f" batch {int(trainer.epoch_batch)})")
    else:
        log(" [*] No checkpoint yet in %s: starting a new run" % paths.checkpoint_dir)
        if trainer.sample_y is not None and trainer.samples_first_batch_labels:
            trainer.sample_y.assign(training_data.first_batch(config.batch_size)[1])
    iteration = int(trainer.iteration)
    if not distribute.all_workers_agree(trainer.strategy, iteration):  # all raise, none hang
        raise ValueError(
            f"The workers restored different checkpoints ({distribute.worker_name(trainer.strategy)}:"
            f" iteration {iteration}, from {paths.checkpoint_dir}): every worker must see the"
            " chief's run folder (a shared filesystem, the same --out_dir / --checkpoint_dir"
            " on all).")


def _train_epochs(trainer, training_data, config, paths, keeper, writer, stop_requests,
                  num_examples, chief, log):
    """The epochs of `train`; returns the iteration of the last sample grid."""
    value_range = trainer.model_config.output_range
    conditional = trainer.model_config.conditional
    start_time = time.time()
    step = make_logged_step(trainer, writer, value_range, config.G_img_sum,
                            config.original_loss_eval)
    trainer.logged_step = step
    last_sampled = None
    for epoch in range(int(trainer.epoch), config.epoch):
        start_batch = int(trainer.epoch_batch)
        dataset = training_data.epoch_dataset(epoch, num_examples, config.batch_size,
                                              start_batch)
        idx = start_batch - 1
        for idx, batch in enumerate(dataset, start=start_batch):
            real, y = batch if isinstance(batch, tuple) else (batch, None)
            result = step(real, y if conditional else None)
            counter = int(trainer.iteration)
            _check_finite(result, counter)
            # Batches this epoch delivers: files less the unusable ones found so far.
            batches_per_epoch = training_data.batches_in_epoch(epoch, num_examples,
                                                               config.batch_size)
            log("[%8d Epoch:[%2d/%2d] [%4d/%4d] time: %4.4f, d_loss: %.8f, g_loss: %.8f"
                % (counter, epoch, config.epoch, idx, batches_per_epoch,
                   time.time() - start_time, result["d_loss"], result["g_loss"])
                + (", acc: %3d%%" % (100 * float(result["d_accuracy"]))
                   if "d_accuracy" in result else ""))

            if counter % config.sample_freq == 0:
                path = _save_samples(trainer, f"{paths.sample_dir}/train_{counter:08d}.png",
                                     value_range, write=chief)
                last_sampled = counter
                if chief:
                    log(f"[Sample] {path}")
            # A signal reaches one worker: all stop together, after saving together.
            # Decided once, with every worker: a signal landing after this line
            # waits for the next iteration, so no worker saves alone.
            stop = distribute.all_workers_max(trainer.strategy, bool(stop_requests))
            if counter % config.ckpt_freq == 0 or stop:
                _save_checkpoint(keeper, counter)
            if stop:
                writer.flush()
                signum = stop_requests[0] if stop_requests else signal.SIGTERM  # another worker's
                raise TrainingInterrupted(
                    signum, f"{signal.Signals(signum).name} received: saved {keeper.latest}"
                    f" after iteration {counter}; rerun the same command to resume.")
        if idx < 0:
            raise ValueError(
                f"Epoch {epoch} delivered no batch of {config.batch_size}: too few of its"
                f" {num_examples} files are usable images (named above). Pass a smaller"
                " --batch_size or a larger --train_size, or add usable images; the last"
                " checkpoint is kept.")
        skipped = training_data.take_skipped_count()
        if skipped:
            log(f" [!] Epoch {epoch}: skipped {skipped} unusable image files (named above)")
        trainer.epoch.assign(epoch + 1)
        trainer.epoch_batch.assign(0)
    return last_sampled
