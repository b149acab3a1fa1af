"""The training loop: it owns logging, sample and checkpoint cadence, resume,
signals and the multi-worker agreements; the step it runs is gan.GAN's
(`train_step`: one iteration of the system's schedule), wrapped with the
TensorBoard summaries in one tf.function that runs a stack of batches per
call (--steps_per_call: one for networks whose iteration is long, several for
the family's MLPs, whose iteration is a few milliseconds and whose time a
call per iteration would largely spend outside its ops). The stack never
crosses a sample, checkpoint or epoch boundary, so the log lines, summaries,
grids, checkpoints, finite checks and signals land on the iterations they
always did, with the same numbers whatever the stack's height.

The losses logged are the ones the updates computed (carpedm20: d_loss of the D
update, g_loss of the second G update). The original instead re-runs three loss
evaluations after each iteration just to print them, which moves the moving
averages again; `--original_loss_eval` does exactly that (in the step), for
bit-for-bit comparisons with old runs.
"""

import contextlib
import math
import signal
import tempfile
import time

import numpy as np
import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import distribute
from dcgan_tf import files
from dcgan_tf import images
from dcgan_tf import interrupts
from dcgan_tf import networks
from dcgan_tf import startup


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped before saving that state."""


class NonFiniteStateError(checkpoints.NonFiniteStateError):
    """The state a checkpoint would keep holds NaN or inf; training stopped first."""


class TrainingInterrupted(interrupts.Interrupted):
    """SIGINT or SIGTERM arrived; a checkpoint was saved first."""


def _kept(keeper):
    """What a run stopped for bad state keeps, by name."""
    if keeper.latest:
        return (f"its last checkpoint, {keeper.latest} (finite when saved), is kept unchanged:"
                " rerunning resumes from it.")
    return "no checkpoint of it was written yet: rerunning starts it over."


def _check_state(gan, keeper, counter):
    """Refuses to go on (and so to save or sample) from a state that holds NaN or
    inf anywhere a checkpoint would keep it: weights, batch-norm statistics,
    optimizer slots, the sample batch."""
    owners = {name: (value.variables if isinstance(value, tf.Module) else [value])
              for name, value in gan.checkpoint_objects().items()
              if isinstance(value, (tf.Module, tf.Variable))}
    found = checkpoints.non_finite(owners)
    if found:
        raise NonFiniteStateError(
            f"By iteration {counter} the run's state holds NaN or inf"
            f" ({checkpoints.describe_non_finite(found)}), though its losses were finite."
            f" Training stopped without saving it; {_kept(keeper)} Try a lower --learning_rate.")


def _save_checkpoint(gan, keeper, iteration):
    _check_state(gan, keeper, iteration)
    try:
        return keeper.save(iteration)
    except (OSError, tf.errors.OpError) as error:
        cause = getattr(error, "strerror", None) or getattr(error, "message", error)
        raise files.OutputWriteError(
            f"Could not write the checkpoint of iteration {iteration} to"
            f" {keeper.directory}: {cause}. Free disk space or pass another --checkpoint_dir/--out_dir, then rerun the same"
            " command; " + (f"the last complete checkpoint ({keeper.latest}) is intact."
                            if keeper.latest else "this run had no complete checkpoint yet.")
        ) from error


def _save_samples(gan, keeper, path, value_range, write=True):
    """Samples the fixed batch; writes the grid unless `write` is False (a
    multi-worker run's other workers sample with the chief, which writes). A
    grid of NaN is never written: the state that made it is named."""
    samples = gan.sample(gan.sample_z, gan.sample_y).numpy()
    if not np.isfinite(samples).all():
        counter = int(gan.iteration)
        _check_state(gan, keeper, counter)
        raise NonFiniteStateError(f"The samples of iteration {counter} hold NaN or inf. Training"
                                  f" stopped; {_kept(keeper)}")
    if not write:
        return None
    try:
        return images.save_grid(samples, path, value_range)
    except OSError as error:
        raise files.OutputWriteError(f"Could not write the sample grid {path}: {error}. Free disk"
                               " space or pass another --sample_dir/--out_dir.") from error


def _check_finite(logged, counter, keeper):
    for name in ("d_loss", "g_loss"):
        if not math.isfinite(logged[name]):
            raise NonFiniteLossError(
                f"{name} became {logged[name]} at iteration {counter}. Training stopped;"
                f" {_kept(keeper)} Try a lower --learning_rate.")


class LoggedSteps:
    """Training iterations on a stack of batches (images [n, B, ...], labels [n, B,
    classes] or None) in one call, each iteration followed by its TensorBoard
    summaries; returns each scalar the iterations compute, gathered ([n] each, in
    iteration order). A stack of one is one call of the step; a taller stack is
    a while loop of it, traced once per batch shape (n left open), so stacks of
    any height share one trace. The loop runs the same ops on the same inputs
    in the same order: the family's MLPs compute the same numbers in it, bit for
    bit (tests/test_training.py). Grappler optimizes a loop's body on its own,
    which can round convolutions' sums otherwise (carpedm20's DCGAN on an image
    folder differed in the 7th digit by its third iteration): networks with
    long iterations run one per call, where the loop would buy nothing."""

    def __init__(self, gan, writer, value_range, with_images):
        self._gan, self._writer = gan, writer
        self._value_range, self._with_images = value_range, with_images
        # One iteration per call traces the step into its own graph (a call of
        # the step's function would add a graph and a copy of its captures: a
        # trace costs per op). Under --xla the step stays the XLA program it
        # compiles, with the summaries outside it.
        self._step = gan.train_step if gan.jit_compile else gan.train_step.python_function
        # Plain Python over Python values: nothing for autograph to convert.
        self._one = tf.function(self._iteration, autograph=False)
        self._several = tf.function(self._iterations, autograph=False)
        self._traced = {}
        self._prepared = set()

    def __call__(self, reals, ys=None):
        """The stack's iterations. A way of calling's first call traces the step and
        has Grappler optimize it: what that writes to stderr and says nothing is
        wrong (startup.GRAPH_OPTIMIZER_NOTICES) is held back, unless absl's
        --verbosity asks for TensorFlow's lines."""
        way = (reals.shape[0] == 1, tuple(reals.shape[1:]))
        if way in self._prepared:
            return self._call(reals, ys)
        self._prepared.add(way)
        with startup.held_graph_optimizer_notices():
            return self._call(reals, ys)

    def _call(self, reals, ys):
        if reals.shape[0] == 1:
            result = self._one(reals[0], None if ys is None else ys[0])
            return {name: value[None] for name, value in result.items() if value.shape.rank == 0}
        shape = tuple(reals.shape[1:])
        if shape not in self._traced:
            self._traced[shape] = self._several.get_concrete_function(
                tf.TensorSpec([None, *shape], reals.dtype),
                None if ys is None else tf.TensorSpec([None, *ys.shape[1:]], ys.dtype))
        return self._traced[shape](reals, ys)

    @property
    def traces(self):
        """Traces of each way of calling, the most of the two: one per batch shape."""
        return max(self._one.experimental_get_tracing_count(),
                   self._several.experimental_get_tracing_count())

    def _iteration(self, real, y=None):
        return self._summarized(self._step(real, y))

    def _summarized(self, result):
        write_summaries(self._writer, self._gan.iteration, result, self._value_range,
                        self._with_images)
        return result

    def _iterations(self, reals, ys=None):
        count = tf.shape(reals)[0]
        specs = [tf.TensorSpec(reals.shape[1:], reals.dtype),
                 None if ys is None else tf.TensorSpec(ys.shape[1:], ys.dtype)]
        outputs = self._gan.train_step.get_concrete_function(*specs).structured_outputs
        # Every scalar is gathered (not only the logged ones): the iteration's
        # graph is then optimized as when its whole result is an output.
        names = sorted(name for name, value in outputs.items() if value.shape.rank == 0)

        def iteration(i, *gathered):  # the step traced once, above, and called
            result = self._summarized(self._gan.train_step(reals[i],
                                                           None if ys is None else ys[i]))
            return (i + 1,) + tuple(array.write(i, result[name])
                                    for array, name in zip(gathered, names))

        arrays = [tf.TensorArray(outputs[name].dtype, size=count) for name in names]
        # One iteration at a time: each reads the variables the last one updated.
        _, *gathered = tf.while_loop(lambda i, *_: i < count, iteration,
                                     [tf.constant(0)] + arrays, parallel_iterations=1)
        return {name: array.stack() for name, array in zip(names, gathered)}


SUMMARY_SCALARS = ("d_loss", "g_loss", "d_loss_real", "d_loss_fake", "d_accuracy",
                   "gradient_penalty", "r1_penalty")
SUMMARY_HISTOGRAMS = ("z", "d", "d_")


def write_summaries(writer, counter, result, value_range, with_images):
    """The original's TensorBoard names: d_loss, g_loss, d_loss_real, d_loss_fake;
    histograms z, d, d_; images G; and what a family step adds (d_accuracy,
    gradient_penalty). The tags at the root, not under the loop's name scope."""
    with writer.as_default(step=counter), tf.compat.v1.name_scope(None):
        for name in SUMMARY_SCALARS:
            if name in result:
                tf.summary.scalar(name, result[name])
        for name in SUMMARY_HISTOGRAMS:
            if name in result:
                _original_histogram(name, result[name])
        if with_images:
            lo, hi = value_range
            tf.summary.image("G", (result["G"] - lo) / (hi - lo), max_outputs=3)


def _original_histogram(name, values):
    """The original's histogram summary: TF1's HistogramSummary op, TensorBoard's
    `histo` value with its exponential buckets, as carpedm20's event files hold
    it. (TensorBoard's TF2 histogram builds its buckets from some ninety graph
    ops: three of them took a third of the tiny DCGAN's trace, bench/RESULTS.md.)
    An iteration whose values are not all finite writes none: the op refuses
    them, and the loss check stops that run with its own message."""
    tf.cond(tf.reduce_all(tf.math.is_finite(values)),
            lambda: tf.summary.experimental.write_raw_pb(
                tf.raw_ops.HistogramSummary(tag=name, values=values)),
            lambda: tf.constant(False))


def train(gan, training_data, config, paths, log=print, on_start=None):
    """Trains `gan` (a gan.GAN) on `training_data` as the original's DCGAN.train does,
    resuming from the run's latest checkpoint when there is one; `on_start()`
    runs once that is restored (or a new run set up), before the first iteration.

    On a multi-worker cluster every worker runs this loop in step (saving and
    sampling read variables through collectives), but only the chief writes:
    the others save into a temporary folder they delete, as TensorFlow's
    multi-worker checkpointing asks, and write no samples or summaries."""
    chief = distribute.is_chief(gan.strategy)
    with contextlib.ExitStack() as cleanup:
        save_dir = paths.checkpoint_dir
        if not chief:
            save_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dcgan-worker-"))
        keeper = checkpoints.CheckpointKeeper(
            gan.checkpoint_objects(), save_dir, config.max_to_keep, config.batch_size)
        _restore(gan, keeper, training_data, config, paths, log)
        if on_start is not None:
            on_start()
        if int(gan.epoch) >= config.epoch:  # as the original, whose epoch loop runs no turn
            if chief:
                done = int(gan.epoch)
                trained = (f"its {done} epoch{'s' if done != 1 else ''} already" if
                           done == config.epoch else f"{done} epochs already, more than --epoch"
                           f" {config.epoch}")
                log(f" [*] The run has trained {trained} (iteration {int(gan.iteration)}):"
                    f" nothing to train. An --epoch above {done} trains on from here.")
            return gan
        num_examples = min(training_data.num_examples,
                           config.train_examples_limit or training_data.num_examples)
        writer = (tf.summary.create_file_writer(paths.log_dir) if chief
                  else tf.summary.create_noop_writer())
        try:
            with interrupts.stop_requests() as stop_requests:
                last_sampled = _train_epochs(gan, training_data, config, paths, keeper, writer,
                                             stop_requests, num_examples, chief, log)
            final = int(gan.iteration)
            if last_sampled != final:  # the end of training always gets a grid
                path = _save_samples(gan, keeper, f"{paths.sample_dir}/train_{final:08d}.png",
                                     gan.model_config.output_range, write=chief)
                if chief:
                    log(f"[Sample] {path}")
            _save_checkpoint(gan, keeper, final)  # also records the finished epoch
            writer.flush()
        except tf.errors.OpError as error:  # TensorBoard's event file: a full disk
            if "No space left on device" not in error.message:
                raise
            raise files.OutputWriteError(
                f"Could not write TensorBoard's log in {paths.log_dir}: No space left on device."
                " Free disk space or pass another --checkpoint_dir/--out_dir, then rerun the"
                " same command; " + (f"the last complete checkpoint ({keeper.latest}) is intact."
                                     if keeper.latest else "this run had no checkpoint yet.")
            ) from None
    if chief:
        log(f" [*] Training done: {final} iteration{'s' if final != 1 else ''};"
            f" checkpoint {keeper.latest}")
    return gan


def _restore(gan, keeper, training_data, config, paths, log):
    """Restores the run's latest checkpoint (every worker reads the chief's, from
    the shared run folder), or sets up a new run."""
    chief = distribute.is_chief(gan.strategy)
    if chief:  # the chief holds the run's lock: it alone tidies the run folder
        checkpoints.remove_staging_debris(paths.checkpoint_dir)
    latest = checkpoints.newest_intact(paths.checkpoint_dir, log, set_aside_damaged=chief)
    if latest:
        keeper.restore(latest)
        log(f" [*] Load SUCCESS: {latest}; resuming after iteration"
            f" {int(gan.iteration)} (epoch {int(gan.epoch)},"
            f" batch {int(gan.epoch_batch)})")
    else:
        log(" [*] No checkpoint yet in %s: starting a new run" % paths.checkpoint_dir)
        gan.start_new_run(training_data)
    iteration = int(gan.iteration)
    if not distribute.all_workers_agree(gan.strategy, iteration):  # all raise, none hang
        raise ValueError(
            f"The workers restored different checkpoints ({distribute.worker_name(gan.strategy)}:"
            f" iteration {iteration}, from {paths.checkpoint_dir}): every worker must see the"
            " chief's run folder (a shared filesystem, the same --out_dir / --checkpoint_dir"
            " on all).")


def steps_per_call(flag, small_ops):
    """--steps_per_call, or when 0 (auto) what was measured to pay
    (bench/RESULTS.md, "Several iterations per call"): AUTO_SMALL for networks
    whose ops are small (the family's MLPs), one for the others, whose
    iteration takes long enough that a call costs nothing next to it. Fixed,
    not timed: every worker of a cluster must cut its iterations alike."""
    return flag or (AUTO_STEPS_PER_CALL if small_ops else 1)


# Iterations per call of the family's MLPs when --steps_per_call is 0; it divides
# their sample and checkpoint cadences (400, 200), so no call is cut short.
AUTO_STEPS_PER_CALL = 50
LOGGED = ("d_loss", "g_loss", "d_accuracy")


def _take(batches, count, held):
    """Up to `count` batches of one shape from the iterator `batches`, after the
    one `held` back from the last take (a batch of another shape ends a take
    and waits for the next). Returns (batches, the batch held back or None)."""
    taken = [] if held is None else [held]
    while len(taken) < count:
        batch = next(batches, None)
        if batch is None:
            return taken, None
        if taken and _shape(batch) != _shape(taken[0]):
            return taken, batch
        taken.append(batch)
    return taken, None


def _shape(batch):
    return tuple(batch[0].shape if isinstance(batch, tuple) else batch.shape)


def _to_next(counter, every):
    """Iterations from `counter` to the next multiple of `every`."""
    return every - counter % every


def _train_epochs(gan, training_data, config, paths, keeper, writer, stop_requests,
                  num_examples, chief, log):
    """The epochs of `train`; returns the iteration of the last sample grid."""
    value_range = gan.model_config.output_range
    conditional = gan.model_config.conditional
    start_time = time.time()
    step = LoggedSteps(gan, writer, value_range, config.G_img_sum)
    per_call = steps_per_call(config.steps_per_call,
                              networks.KINDS[gan.system.networks].small_ops)
    last_sampled, batch_shapes = None, set()
    note = training_data.last_batch_note(num_examples, config.batch_size, gan.replicas)
    if note and chief:
        log(f" [*] {note}.")
    if per_call > 1 and chief:
        log(f" [*] {per_call} iterations per call of the traced step (--steps_per_call)")
    counter = int(gan.iteration)
    for epoch in range(int(gan.epoch), config.epoch):
        start_batch = int(gan.epoch_batch)
        batches = iter(training_data.epoch_dataset(epoch, num_examples, config.batch_size,
                                                   start_batch, gan.replicas))
        idx, held = start_batch - 1, None
        while True:
            # A call ends where a grid or a checkpoint is due, as each iteration
            # was its own call: both land on the iteration they always did.
            taken, held = _take(batches, min(per_call, _to_next(counter, config.sample_freq),
                                             _to_next(counter, config.ckpt_freq)), held)
            if not taken:
                break
            real = tf.stack([b[0] if isinstance(b, tuple) else b for b in taken])
            y = tf.stack([b[1] for b in taken]) if conditional else None
            batch_shapes.add(tuple(real.shape[1:]))
            called = time.time()
            result = step(real, y)
            # Read once each: every read of a tensor is a copy to the host.
            values = {name: result[name].numpy() for name in LOGGED if name in result}
            seconds = time.time() - called
            for row in range(len(taken)):
                idx, counter = idx + 1, counter + 1
                logged = {name: float(value[row]) for name, value in values.items()}
                _check_finite(logged, counter, keeper)
                # Batches this epoch delivers: files less the unusable ones found so far.
                batches_per_epoch = training_data.batches_in_epoch(epoch, num_examples,
                                                                   config.batch_size, gan.replicas)
                # A call's iterations share its time: each line gets its share.
                elapsed = called - start_time + seconds * (row + 1) / len(taken)
                log("[%8d Epoch:[%2d/%2d] [%4d/%4d] time: %4.4f, d_loss: %.8f, g_loss: %.8f"
                    % (counter, epoch, config.epoch, idx, batches_per_epoch, elapsed,
                       logged["d_loss"], logged["g_loss"])
                    + (", acc: %3d%%" % (100 * logged["d_accuracy"])
                       if "d_accuracy" in logged else ""))

            if counter % config.sample_freq == 0:
                path = _save_samples(gan, keeper, f"{paths.sample_dir}/train_{counter:08d}.png",
                                     value_range, write=chief)
                last_sampled = counter
                if chief:
                    log(f"[Sample] {path}")
            # A signal reaches one worker: all stop together, after saving together.
            # Decided once, with every worker: a signal landing after this line
            # waits for the next call, so no worker saves alone.
            stop = distribute.all_workers_max(gan.strategy, bool(stop_requests))
            if counter % config.ckpt_freq == 0 or stop:
                _save_checkpoint(gan, keeper, counter)
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
            log(f" [!] Epoch {epoch}: skipped {skipped} unusable image"
                f" file{'s' if skipped != 1 else ''} (named above)")
        gan.epoch.assign(epoch + 1)
        gan.epoch_batch.assign(0)
    traces = step.traces
    if traces > len(batch_shapes):  # one trace per batch shape (a last, smaller batch)
        log(f" [!] The training iterations were traced {traces} times for {len(batch_shapes)} batch"
            " shapes: each retrace costs seconds; please report it.")
    return last_sampled
