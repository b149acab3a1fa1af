"""Train mode: the run's system composed from its config, its data, the GAN,
and the training loop, resuming the run's checkpoint or continuing an original
TF1 checkpoint that --checkpoint_dir names."""

import contextlib
import dataclasses
import os

import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from dcgan_tf import checkpoints
from dcgan_tf import curves
from dcgan_tf import data as data_lib
from dcgan_tf import datasets
from dcgan_tf import distribute
from dcgan_tf import files
from dcgan_tf import gan as gan_lib
from dcgan_tf import memory
from dcgan_tf import networks
from dcgan_tf import precision
from dcgan_tf import run_lock
from dcgan_tf import run_record
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf import tf1_checkpoint
from dcgan_tf import training
from dcgan_tf.stabilizers import diffaugment


def model_config_for(config, system, training_data):
    """What fixes the shapes of the run's networks (written to model.json)."""
    return networks.KINDS[system.networks].config_of(
        config, int(training_data.c_dim), int(training_data.y_dim), system.critic_norm)


def make_gan(config, system, model_config, strategy=None, compute_dtype=None):
    """The GAN of a composed system with the run's settings (`compute_dtype`:
    --mixed_precision's, unless given)."""
    return gan_lib.GAN(
        system, model_config, batch_size=config.batch_size, seed=config.seed,
        z_dist=config.z_dist, strategy=strategy,
        compute_dtype=compute_dtype or precision.compute_dtype(config.mixed_precision),
        jit_compile=config.xla, sync_bn=config.sync_bn)


@contextlib.contextmanager
def _deterministic_ops(enabled):
    """TensorFlow's op determinism for one run only: it is process-wide, and makes
    any unseeded random op raise, so it must not outlive the run."""
    if not enabled or tf_config.is_op_determinism_enabled():
        yield
        return
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        tf_config.disable_op_determinism()


def _check_networks_continue(record, model_config, paths):
    """A run resumes only into the networks it trained (the data set's channels
    and labels fix some of their shapes too)."""
    if record is not None and record.networks != model_config:
        raise ValueError(
            f"The run in {paths.run_dir} trained {record.networks}; these flags and this data"
            f" build {model_config}. Pass the flags and the data that run was trained with,"
            " or --out_name to start a new run.")


def _check_can_continue_original(system, config):
    """The original's checkpoint carries TF1 Adam's state and batch-norm critics."""
    reasons = []
    if system.d_optimizer.kind != "tf1_adam":
        reasons.append(f"--loss {config.loss} trains with RMSprop")
    if system.critic_norm == "layer":
        reasons.append(f"--loss {config.loss} trains a critic with layer norms")
    if config.spectral_norm:
        reasons.append("--spectral_norm trains a D without batch norms")
    if reasons:
        raise ValueError(
            f"--checkpoint_dir {config.checkpoint_dir} holds an original TF1 run, whose"
            " discriminator has batch norms and whose optimizers are TF1's Adam; "
            + " and ".join(reasons) + ", which cannot take that state over. Continue it"
            " without them: its own loss, or one that keeps TF1's Adam and batch norm"
            " (minimax, lsgan, hinge, fgan), and no --spectral_norm.")


def _paths(config):
    """(the run's paths, the original TF1 checkpoint it continues, or None). A
    run folder of ours that --checkpoint_dir names is refused: the flags would
    start another run inside it, not resume it (test mode samples it)."""
    original = runs.original_checkpoint_in(config)
    if original:
        return runs.RunPaths.continuing_original(config, os.path.dirname(original)), original
    paths = runs.RunPaths.for_run(config)
    folder = config.given_checkpoint_dir
    if (folder and os.path.exists(os.path.join(folder, "model.json"))
            and checkpoints.holds_any(folder) and not os.path.exists(paths.model_json)):
        parent, name = os.path.split(os.path.normpath(folder))
        parent = parent or "."
        before = checkpoints.latest_checkpoint(parent)
        resume = (f"--checkpoint_dir {parent} (the original TF1 run it continues)"
                  if before and tf1_checkpoint.is_tf1_checkpoint(before)
                  else f"--checkpoint_dir {parent} --out_name {name}")
        raise ValueError(
            f"--checkpoint_dir {config.checkpoint_dir} is the folder of a run ({name}: its"
            f" model.json and checkpoints), and --train would start another run inside it"
            f" ({paths.run_dir}), not resume it. To resume it, pass {resume}; to start a new"
            f" run, pass another --checkpoint_dir (the folder runs are kept in).")
    return paths, None


def _record(paths):
    """The record of a run there is to resume: one beside no checkpoint at all is
    of a start that saved nothing (stopped by NaN, an error or a kill before its
    first checkpoint), so the flags typed start the run anew."""
    if not os.path.exists(paths.model_json) or not checkpoints.holds_any(paths.checkpoint_dir):
        return None
    return run_record.read(paths.model_json, paths.flags_json)


def obeying_the_run(config, typed, log=print):
    """Train mode's config: a run that exists resumes as its record says (a flag
    typed that contradicts it is refused, before anything is read or written;
    the record gives the flags not typed)."""
    paths, original = _paths(config)
    record = _record(paths)
    if record is None:
        if original:  # its first continuation: the checkpoint says the networks
            return _with_original_shapes(config, typed, original, log)
        if os.path.exists(paths.model_json):
            log(f" [*] {paths.run_dir} holds no checkpoint (its last start saved none):"
                " these flags start it anew, not its record's.")
        return config
    config = run_record.obeyed(config, typed, record, paths.run_dir, resuming=True, log=log)
    return runs.reading_where_it_trained(config, typed, paths).validate()


def _with_original_shapes(config, typed, original, log):
    """`config` for continuing an original TF1 run: its networks' shapes read off
    the checkpoint where no flag says them; a shape flag typed that differs,
    or a data set of the other kind (labelled digits or an image folder), is
    refused, naming both, before anything is read or written."""
    networks = run_record.networks_of_original(original, config, typed, "continue it")
    if bool(networks.y_dim) != data_lib.is_idx_dataset(config.dataset):
        kind = ("labelled digits (an MNIST-style --dataset)" if networks.y_dim
                else "an image folder")
        raise ValueError(f"{original} was trained on {kind}, and --dataset {config.dataset} is"
                         f" {'an image folder' if networks.y_dim else 'labelled digits'}: pass"
                         " the data set it trained on.")
    taken = {name: getattr(networks, name) for name in run_record.CARPEDM20_SHAPE_FLAGS
             if name not in typed and getattr(config, name) != getattr(networks, name)}
    if taken:
        log(" [*] The original checkpoint's networks: "
            + ", ".join(f"--{name} {value}" for name, value in taken.items()))
    return dataclasses.replace(config, **taken).validate()


def run(config, log=print):
    """Train mode: writes FLAGS.json and model.json, then trains; returns the GAN.
    `config` is the run's (obeying_the_run's, for main.py's commands)."""
    paths, original = _paths(config)
    record = _record(paths)
    systems.check_images(config)
    # Then threads, a multi-worker strategy and logical devices, set up before
    # TensorFlow runs anything.
    system = systems.compose(config.model, config.loss, config)
    threads = distribute.set_op_threads(config.intra_op_threads,
                                        small_ops=networks.KINDS[system.networks].small_ops)
    if threads:
        log(f" [*] CPU: {threads} thread{'s' if threads > 1 else ''} per op")
    strategy = distribute.make_strategy(config.strategy, config.logical_cpus)
    distribute.check_batch_splits(strategy, config.batch_size,
                                  networks.KINDS[system.networks].min_rows, config.model)
    if original:
        _check_can_continue_original(system, config)
    # One training per run: the chief locks the run folder before anything is
    # read from it or written to it (two unseeded starts would draw two seeds).
    lock = (run_lock.held(paths.run_dir, log) if distribute.is_chief(strategy)
            else contextlib.nullcontext())
    with lock:
        return _prepare_and_train(config, paths, record, system, original, strategy, log)


def _prepare_and_train(config, paths, record, system, original, strategy, log):
    seeded = config.seed is not None
    config = runs.with_run_seed(config, paths)
    if distribute.is_multi_worker(strategy):
        # Every worker must read the data in one order: all take the chief's seed.
        chief_seed = distribute.all_workers_max(
            strategy, config.seed if distribute.is_chief(strategy) else -1)
        config = dataclasses.replace(config, seed=chief_seed)
    training_data = datasets.load_training_data(config, system, log)
    changed = record is not None and runs.data_changed(paths, training_data.contents,
                                                      last_start_only=True)
    if changed:
        log(f" [!] Resuming on other data than the run's: {changed}. Its epochs go on as"
            " shuffles of these images, so it is no longer the run one uninterrupted"
            " training would give, and --nearest_neighbours will count every image as"
            " trained on. To go on as it trained, pass the data set it read; to train on"
            " these from the start, pass --out_name for a new run.")
    per_epoch = datasets.examples_per_epoch(config, training_data)
    distinct = datasets.distinct_images(config, training_data)
    if per_epoch < distinct:
        log(f" [*] --train_size {per_epoch:,}: each epoch trains on {per_epoch:,} images drawn"
            f" anew from the {distinct:,}, as the original does with an image folder, so over"
            f" its epochs the run trains on all {distinct:,}; --train_size keeps one set of"
            f" images only for carpedm20's model on MNIST-style data. To train on"
            f" {per_epoch:,} images, give a data set of those alone (a folder of them, or"
            f" their IDX files in <another --data_dir>/{config.dataset}/).")
    for advice in (diffaugment.small_data_advice(distinct, system.diffaugment),
                   systems.stabilized_advice(config)):
        if advice:
            log(advice)
    model_config = model_config_for(config, system, training_data)
    _check_networks_continue(record, model_config, paths)
    memory.check_training_fits(system.networks, model_config, config.batch_size)
    # With --seed: same command, same machine, the same checkpoints, bit for bit.
    with _deterministic_ops(seeded):
        return _train(config, paths, training_data, system, model_config, original, strategy,
                      log)


def _train(config, paths, training_data, system, model_config, original, strategy, log):
    gan = make_gan(config, system, model_config, strategy)
    if config.mixed_precision:
        log(f" [*] Mixed precision: the steps compute in {gan.compute_dtype.name}")
        if gan.compute_dtype == tf.bfloat16 and not precision.cpu_has_native_bf16():
            log(" [!] This CPU has no native bfloat16 (no AVX-512 BF16 / AMX): TensorFlow"
                " emulates it, so --mixed_precision trains slower here, not faster.")
    if original and checkpoints.latest_checkpoint(paths.checkpoint_dir) is None:
        iteration = tf1_checkpoint.load_into_gan(original, gan)
        batches = datasets.examples_per_epoch(config, training_data) // config.batch_size
        gan.epoch.assign(iteration // batches)
        gan.epoch_batch.assign(iteration % batches)
        log(f" [*] Loaded the original TF1 checkpoint {original} (iteration {iteration},"
            f" optimizer state included); continuing in {paths.checkpoint_dir}")
    chief = distribute.is_chief(strategy)
    started_at = []

    def record_the_start():
        """Once the run's checkpoint is restored (a start that fails to restore
        records nothing): its flags, its record, where it writes."""
        started_at.append(int(gan.iteration))
        if chief:
            runs.make_output_dirs(paths)
            runs.record_flags(config, paths, log, training_data.contents)
            files.write_text(paths.model_json,
                             run_record.RunRecord.of_training(config, model_config).to_json())
            log(f" [*] Run folder {paths.run_dir}; samples in {paths.sample_dir}")
        else:
            log(f" [*] {distribute.worker_name(strategy)}: training with the chief, which"
                f" writes the run folder {paths.run_dir}")
        if gan.replicas > 1:
            log(f" [*] {gan.replicas} replicas, {config.batch_size // gan.replicas} rows of"
                f" each batch of {config.batch_size} per replica;"
                f" batch norm {'over the global batch' if config.sync_bn else 'per replica'}")

    training.train(gan, training_data, config, paths, log, on_start=record_the_start)
    plot = os.path.join(paths.run_dir, "training_curves.png")
    if chief and (started_at != [int(gan.iteration)] or not os.path.exists(plot)):
        curves.plot_losses({config.run_name(): curves.read_scalars(paths.log_dir)}, plot)
        log(f" [*] Loss curves: {plot}")
    return gan
