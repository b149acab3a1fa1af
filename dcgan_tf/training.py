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
import os
import signal
import time

import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf import losses
from dcgan_tf import models
from dcgan_tf import optim


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


def _save_samples(trainer, path, value_range):
    samples = trainer.sampler(trainer.sample_z, trainer.sample_y).numpy()
    try:
        return images.save_grid(samples, path, value_range)
    except OSError as error:
        raise OutputWriteError(f"Could not write the sample grid {path}: {error}. Free disk"
                               " space or pass another --sample_dir/--out_dir.") from error


class GANTrainer:
    """G, D, their Adam optimizers, the run's counters and random state, and the
    tf.function steps over them. Everything here is in `checkpoint_objects()`."""

    def __init__(self, model_config, learning_rate, beta1, z_dist, batch_size, seed,
                 jit_compile=False):
        self.model_config = model_config
        self.z_dist = z_dist
        self.batch_size = batch_size
        self.generator, self.discriminator = models.build_models(model_config)
        # The original builds d_optim before g_optim; so do we (TF1 names them
        # beta1_power and beta1_power_1 in that order).
        self.d_optimizer = optim.OriginalAdam(
            self.discriminator.trainable_variables, learning_rate, beta1, name="d_adam")
        self.g_optimizer = optim.OriginalAdam(
            self.generator.trainable_variables, learning_rate, beta1, name="g_adam")
        # The original's `counter`: iterations completed. Epoch and batch within it,
        # so a restart resumes where it stopped (the original restarts at epoch 0).
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.epoch_batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_batch")
        self.rng = tf.random.Generator.from_seed(seed)
        # The fixed latent batch (and labels) behind every sample grid of the run.
        self.sample_z = tf.Variable(
            latent.sample_latent(self.rng, z_dist, batch_size, model_config.z_dim),
            trainable=False, name="sample_z")
        self.sample_y = (tf.Variable(tf.zeros([batch_size, model_config.y_dim]),
                                     trainable=False, name="sample_y")
                         if model_config.conditional else None)
        self.d_step = tf.function(self.d_update)
        self.g_step = tf.function(self.g_update)
        # --xla: the whole iteration (D, G, G and both Adams) as one XLA program.
        self.train_step = tf.function(self.iteration_update, jit_compile=jit_compile)
        self.original_losses = tf.function(self.original_loss_evaluation)
        self.sampler = tf.function(self.sample)

    def checkpoint_objects(self):
        """What a checkpoint holds: all that is needed to resume exactly."""
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
                       iteration=self.iteration, epoch=self.epoch,
                       epoch_batch=self.epoch_batch, rng=self.rng, sample_z=self.sample_z)
        if self.sample_y is not None:
            objects["sample_y"] = self.sample_y
        return objects

    # -------------------------------------------------------------- steps

    def d_update(self, real, z, y=None):
        """One D update (the original's `d_optim`): maximize log D(x) + log(1 - D(G(z)))."""
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, y, training=True)
            fake = self.generator(z, y, training=True)
            fake_logits = self.discriminator(fake, y, training=True)
            d_loss_real, d_loss_fake = losses.discriminator_losses(real_logits, fake_logits)
            d_loss = d_loss_real + d_loss_fake
        gradients = tape.gradient(d_loss, self.d_optimizer.var_list)
        self.d_optimizer.apply_gradients(gradients)
        return {"d_loss": d_loss, "d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                "d": tf.sigmoid(real_logits), "d_": tf.sigmoid(fake_logits)}

    def g_update(self, z, y=None):
        """One G update (the original's `g_optim`): maximize log D(G(z))."""
        with tf.GradientTape() as tape:
            fake = self.generator(z, y, training=True)
            fake_logits = self.discriminator(fake, y, training=True)
            g_loss = losses.generator_loss(fake_logits)
        gradients = tape.gradient(g_loss, self.g_optimizer.var_list)
        self.g_optimizer.apply_gradients(gradients)
        return {"g_loss": g_loss, "G": fake, "d_": tf.sigmoid(fake_logits)}

    def iteration_update(self, real, y=None):
        """One training iteration of the original: D once, then G twice, same z."""
        z = latent.sample_latent(self.rng, self.z_dist, tf.shape(real)[0],
                                 self.model_config.z_dim)
        d_results = self.d_update(real, z, y)
        self.g_update(z, y)
        # The original runs g_optim twice "to make sure that d_loss does not go
        # to zero (different from paper)".
        g_results = self.g_update(z, y)
        self.iteration.assign_add(1)
        self.epoch_batch.assign_add(1)
        return {**d_results, "g_loss": g_results["g_loss"], "G": g_results["G"], "z": z}

    def original_loss_evaluation(self, real, z, y=None):
        """The original's errD_fake, errD_real, errG evaluations after an iteration:
        training-mode passes that move the moving averages, in its order."""
        d_loss_fake = losses.sigmoid_cross_entropy(
            self.discriminator(self.generator(z, y, training=True), y, training=True), 0.0)
        d_loss_real = losses.sigmoid_cross_entropy(
            self.discriminator(real, y, training=True), 1.0)
        g_loss = losses.generator_loss(
            self.discriminator(self.generator(z, y, training=True), y, training=True))
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


def write_summaries(writer, counter, result, value_range, with_images):
    """The original's TensorBoard names: d_loss, g_loss, d_loss_real, d_loss_fake;
    histograms z, d, d_; images G."""
    with writer.as_default(step=counter):
        for name in ("d_loss", "g_loss", "d_loss_real", "d_loss_fake"):
            tf.summary.scalar(name, result[name])
        for name in ("z", "d", "d_"):
            tf.summary.histogram(name, result[name])
        if with_images:
            lo, hi = value_range
            tf.summary.image("G", (result["G"] - lo) / (hi - lo), max_outputs=3)


def train(trainer, training_data, config, paths, log=print):
    """Trains `trainer` on `training_data` as the original's DCGAN.train does,
    resuming from the run's latest checkpoint when there is one."""
    keeper = checkpoints.CheckpointKeeper(
        trainer.checkpoint_objects(), paths.checkpoint_dir, config.max_to_keep,
        config.batch_size)
    if keeper.restore_latest():
        log(f" [*] Load SUCCESS: {keeper.latest}; resuming after iteration"
            f" {int(trainer.iteration)} (epoch {int(trainer.epoch)},"
            f" batch {int(trainer.epoch_batch)})")
    else:
        log(" [*] No checkpoint yet in %s: starting a new run" % paths.checkpoint_dir)
        if trainer.sample_y is not None:
            # The original samples with the labels of the first batch of data.
            trainer.sample_y.assign(training_data.first_batch(config.batch_size)[1])

    num_examples = min(training_data.num_examples,
                       config.train_examples_limit or training_data.num_examples)
    writer = tf.summary.create_file_writer(paths.log_dir)
    with _stop_requests() as stop_requests:
        _train_epochs(trainer, training_data, config, paths, keeper, writer, stop_requests,
                      num_examples, log)
    final = int(trainer.iteration)
    last_grid = f"{paths.sample_dir}/train_{final:08d}.png"
    if not os.path.exists(last_grid):  # the end of training always gets a grid
        log(f"[Sample] {_save_samples(trainer, last_grid, trainer.model_config.output_range)}")
    _save_checkpoint(keeper, final)  # also records the finished epoch
    writer.flush()
    log(f" [*] Training done: {int(trainer.iteration)} iterations; checkpoint {keeper.latest}")
    return trainer


def _train_epochs(trainer, training_data, config, paths, keeper, writer, stop_requests,
                  num_examples, log):
    batches_per_epoch = num_examples // config.batch_size
    value_range = trainer.model_config.output_range
    conditional = trainer.model_config.conditional
    start_time = time.time()
    step = make_logged_step(trainer, writer, value_range, config.G_img_sum,
                            config.original_loss_eval)
    trainer.logged_step = step
    for epoch in range(int(trainer.epoch), config.epoch):
        start_batch = int(trainer.epoch_batch)
        dataset = training_data.epoch_dataset(epoch, num_examples, config.batch_size,
                                              start_batch)
        for idx, batch in enumerate(dataset, start=start_batch):
            real, y = batch if conditional else (batch, None)
            result = step(real, y)
            counter = int(trainer.iteration)
            _check_finite(result, counter)
            log("[%8d Epoch:[%2d/%2d] [%4d/%4d] time: %4.4f, d_loss: %.8f, g_loss: %.8f"
                % (counter, epoch, config.epoch, idx, batches_per_epoch,
                   time.time() - start_time, result["d_loss"], result["g_loss"]))

            if counter % config.sample_freq == 0:
                path = _save_samples(trainer, f"{paths.sample_dir}/train_{counter:08d}.png",
                                     value_range)
                log(f"[Sample] {path}")
            if counter % config.ckpt_freq == 0 or stop_requests:
                _save_checkpoint(keeper, counter)
            if stop_requests:
                writer.flush()
                name = signal.Signals(stop_requests[0]).name
                raise TrainingInterrupted(
                    stop_requests[0],
                    f"{name} received: saved {keeper.latest} after iteration {counter};"
                    " rerun the same command to resume.")
        skipped = training_data.take_skipped_count()
        if skipped:
            log(f" [!] Epoch {epoch}: skipped {skipped} unusable image files (named above)")
        trainer.epoch.assign(epoch + 1)
        trainer.epoch_batch.assign(0)
