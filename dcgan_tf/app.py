"""What main.py runs: train mode and test mode, from one validated Config."""

import contextlib
import dataclasses
import json
import os
import random
import sys
import time
import zipfile

import tensorflow as tf
from tensorflow.python.framework import config as tf_config

import numpy as np

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import curves
from dcgan_tf import data
from dcgan_tf import distribute
from dcgan_tf import download
from dcgan_tf import export
from dcgan_tf import family_trainer
from dcgan_tf import generation
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf import metrics
from dcgan_tf.networks import carpedm20
from dcgan_tf import precision
from dcgan_tf import tf1_checkpoint
from dcgan_tf import training
from dcgan_tf import visualize
from dcgan_tf.networks import pytorch_gan


def idx_dataset_directory(config, log=print):
    """The folder of an MNIST-style data set's IDX files; a missing one is
    downloaded (when --download), as keras.datasets does."""
    directory = data.idx_dataset_dir(config_lib.expand_path(config.data_dir), config.dataset)
    missing = data.find_idx_files(directory)[1]
    if not missing:
        return directory
    how = f"python download.py {config.dataset} --data_dir {config.data_dir}"
    if not config.download:
        raise data.DataError(
            f"{config.dataset} not found: {directory} lacks {', '.join(missing)}."
            f" Run `{how}`, or put the IDX files (plain or .gz) there.")
    log(f" [*] {config.dataset} not found in {directory}; downloading it (as `{how}`)")
    try:
        return download.download_idx(config.dataset, config_lib.expand_path(config.data_dir))
    except download.DownloadError as error:
        raise data.DataError(f"{config.dataset} not found in {directory}, and the"
                             f" download failed. {error}") from error


def load_training_data(config, log=print):
    """The data set named by the config, checked before anything is written.
    A missing MNIST / Fashion-MNIST is downloaded (when --download) as
    keras.datasets does; everything else missing is an error naming the fix."""
    if data.is_idx_dataset(config.dataset):
        directory = idx_dataset_directory(config, log)
        try:
            if config.family:  # the scripts' way: the training split, resized, [-1, 1]
                images_u8, labels = data.load_idx_split(directory, "train")
                training_data = data.ScriptIdxData(
                    data.resize_like_torchvision(images_u8, config.output_height), labels,
                    seed=config.seed)
            else:  # the original's: train + test merged, shuffled once
                training_data = data.IdxData(*data.load_idx_dataset(directory))
        except data.DataError as error:
            raise data.DataError(
                f"{error} `python download.py {config.dataset} --data_dir {config.data_dir}`"
                " fetches it again (a file whose checksum is wrong is replaced).") from error
        log(f" [*] {config.dataset}: {training_data.num_examples} images from {directory}")
    else:
        directory = os.path.join(config_lib.expand_path(config.data_dir), config.dataset)
        files = data.list_image_files(directory, config.input_fname_pattern)
        if not files:
            hint = {"mnist": " (MNIST is --dataset mnist)",
                    "celeba": f" (`python download.py celebA --data_dir {config.data_dir}`"
                              " fetches celebA)",
                    "lsun": f" (`python download.py lsun --data_dir {config.data_dir}` fetches"
                            " LSUN bedrooms)"}.get(config.dataset.lower(), "")
            raise data.DataError(
                f"No files match {os.path.join(directory, config.input_fname_pattern)!r}."
                f" Put images there, or point --data_dir/--dataset/--input_fname_pattern at"
                f" them{hint}.")
        c_dim, failures = data.probe_image_folder(
            files, config.crop, config.input_height, config.input_width,
            needed=min(config.batch_size, config.train_examples_limit or len(files)))
        for path, reason in failures.items():
            log(f" [!] skipping {path}: {reason}")
        training_data = data.ImageFolderData(
            files, c_dim, config.crop, config.input_height, config.input_width,
            config.output_height, config.output_width, seed=config.seed)
        training_data.mark_unusable(failures)
        log(f" [*] {config.dataset}: {len(files)} files in {directory}, c_dim={c_dim}")
    if examples_per_epoch(config, training_data) < config.batch_size:
        raise data.DataError(
            f"The data set has {examples_per_epoch(config, training_data)} images (after"
            f" --train_size), fewer than --batch_size={config.batch_size}; pass a smaller"
            " --batch_size or add images.")
    return training_data


def examples_per_epoch(config, training_data):
    return min(training_data.num_examples,
               config.train_examples_limit or training_data.num_examples)


def model_config_for(config, training_data):
    if config.family:
        return pytorch_gan.FamilyModelConfig(
            model=config.model, image_size=config.output_height, c_dim=int(training_data.c_dim),
            z_dim=config.z_dim, n_classes=config.n_classes if config.conditional else 0,
            loss=config.loss).validate()
    return carpedm20.ModelConfig(
        output_height=config.output_height, output_width=config.output_width,
        c_dim=int(training_data.c_dim), y_dim=int(training_data.y_dim), z_dim=config.z_dim,
        gf_dim=config.gf_dim, df_dim=config.df_dim, gfc_dim=config.gfc_dim,
        dfc_dim=config.dfc_dim,
        critic_norm="layer" if config.loss == "wgan_gp" else "batch").validate()


def _read_model_config(path):
    """The model.json of a run: carpedm20's ModelConfig, or a family model's."""
    with open(path) as f:
        values = json.load(f)
    if "model" in values:
        return pytorch_gan.FamilyModelConfig(**values)
    return carpedm20.ModelConfig(**values)


def _model_name(model_config):
    return getattr(model_config, "model", "dcgan")


def build_generator(model_config):
    """The generator a run's model.json describes (test mode needs no D)."""
    if _model_name(model_config) != "dcgan":
        return pytorch_gan.build_networks(model_config)[0]
    return carpedm20.build_models(model_config)[0]


def original_checkpoint_in(config):
    """The original TF1 checkpoint that --checkpoint_dir names directly, or None."""
    if config.given_checkpoint_dir is None or config.family:
        return None
    latest = checkpoints.latest_checkpoint(config.given_checkpoint_dir)
    if latest and tf1_checkpoint.is_tf1_checkpoint(latest):
        return latest
    return None


def _write_atomically(path, text):
    """Writes `path` whole or not at all (a killed run leaves the old file)."""
    partial = path + ".part"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, path)


def _make_output_dirs(paths):
    for directory in (paths.checkpoint_dir, paths.sample_dir, paths.log_dir):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise training.OutputWriteError(
                f"Cannot create the output folder {directory}: {error.strerror}. Pass a"
                " writable --checkpoint_dir/--sample_dir/--out_dir.") from error
        if not os.access(directory, os.W_OK):
            raise training.OutputWriteError(
                f"The output folder {directory} is not writable. Pass a writable"
                " --checkpoint_dir/--sample_dir/--out_dir.")


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


def _with_run_seed(config, paths):
    """The seed a run was started with (recorded in its FLAGS.json), or a new one."""
    if config.seed is not None:
        return config
    if os.path.exists(paths.flags_json):
        with open(paths.flags_json) as f:
            seed = json.load(f).get("seed")
        if seed is not None:
            return dataclasses.replace(config, seed=seed)
    return dataclasses.replace(config, seed=random.SystemRandom().randrange(2**31))


def _record_flags(config, paths, log):
    """FLAGS.json keeps the flags the run was started with; every invocation,
    the first included, appends its flags to flags_history.jsonl with the
    iteration it starts from. A resumed run with other flags says which: they
    take effect from that iteration on (the model's shape can't change)."""
    flags = json.loads(config.to_json())
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    start = tf1_checkpoint.iteration_of(latest) if latest else 0
    changed = {}
    if os.path.exists(paths.flags_json):
        with open(paths.flags_json) as f:
            first = json.load(f)
        # Flags a run's FLAGS.json lacks (added by a later version) are not changes.
        changed = {name: [first[name], value] for name, value in flags.items()
                   if name in first and first[name] != value and name != "given_flags"}
        if changed:
            log(f" [*] Resuming after iteration {start} with flags that differ from the run's"
                f" (FLAGS.json): " + ", ".join(f"--{name} {old!r} -> {new!r}"
                                               for name, (old, new) in changed.items()))
    else:
        _write_atomically(paths.flags_json, config.to_json())
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_iteration": start,
             "changed_from_FLAGS.json": changed, "flags": flags}
    with open(os.path.join(paths.run_dir, "flags_history.jsonl"), "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def train(config, log=print):
    """Train mode: writes FLAGS.json and model.json, then trains, resuming from the
    run's checkpoint, or continuing an original TF1 checkpoint that
    --checkpoint_dir names."""
    # First: a multi-worker strategy and logical devices must be set up before
    # TensorFlow runs anything.
    strategy = distribute.make_strategy(config.strategy, config.logical_cpus)
    distribute.check_batch_divides(strategy, config.batch_size)
    original = original_checkpoint_in(config)
    if original:
        paths = config_lib.RunPaths.continuing_original(config, os.path.dirname(original))
    else:
        paths = config_lib.RunPaths.for_run(config)
    seeded = config.seed is not None
    config = _with_run_seed(config, paths)
    if distribute.is_multi_worker(strategy):
        # Every worker must read the data in one order: all take the chief's seed.
        chief_seed = distribute.all_workers_max(
            strategy, config.seed if distribute.is_chief(strategy) else -1)
        config = dataclasses.replace(config, seed=chief_seed)
    training_data = load_training_data(config, log)
    model_config = model_config_for(config, training_data)
    if os.path.exists(paths.model_json) and _read_model_config(paths.model_json) != model_config:
        trained = _model_name(_read_model_config(paths.model_json))
        if trained != config.model:
            raise ValueError(
                f"The run in {paths.checkpoint_dir} was trained with --model {trained}; these"
                f" flags ask for --model {config.model}. Pass --model {trained} to resume it, or"
                " --out_name to start a new run.")
        raise ValueError(
            f"The run in {paths.checkpoint_dir} holds a different model"
            f" ({_read_model_config(paths.model_json)}) than these flags build ({model_config})."
            " Pass --out_name to start a new run, or the flags that run was trained with.")
    # With --seed: same command, same machine, the same checkpoints, bit for bit.
    with _deterministic_ops(seeded):
        return _train_run(config, paths, training_data, model_config, original, strategy, log)


def make_trainer(config, model_config, strategy):
    """The trainer of the config's --model: carpedm20's composition, or a family
    system's (see systems.py)."""
    if config.family:
        return family_trainer.FamilyTrainer(
            model_config, config.learning_rate, config.beta1, config.beta2, config.batch_size,
            config.seed, n_critic=config.n_critic, clip_value=config.clip_value,
            lambda_gp=config.lambda_gp, sample_interval=config.sample_freq, strategy=strategy,
            ls_abc=config.ls_targets, divergence=config.divergence)
    return training.GANTrainer(model_config, config.learning_rate, config.beta1, config.z_dist,
                               config.batch_size, config.seed, jit_compile=config.xla,
                               strategy=strategy, sync_bn=config.sync_bn,
                               compute_dtype=precision.compute_dtype(config.mixed_precision),
                               loss=config.loss or "nonsaturating", ls_abc=config.ls_targets,
                               divergence=config.divergence, beta2=config.beta2,
                               n_critic=config.n_critic, clip_value=config.clip_value,
                               lambda_gp=config.lambda_gp)


def _train_run(config, paths, training_data, model_config, original, strategy, log):
    tf.random.set_seed(config.seed)
    trainer = make_trainer(config, model_config, strategy)
    if config.mixed_precision:
        log(f" [*] Mixed precision: the steps compute in {trainer.compute_dtype.name}")
        if trainer.compute_dtype == tf.bfloat16 and not precision.cpu_has_native_bf16():
            log(" [!] This CPU has no native bfloat16 (no AVX-512 BF16 / AMX): TensorFlow"
                " emulates it, so --mixed_precision trains slower here, not faster.")
    if original and checkpoints.latest_checkpoint(paths.checkpoint_dir) is None:
        iteration = tf1_checkpoint.load_into_trainer(original, trainer)
        batches = examples_per_epoch(config, training_data) // config.batch_size
        trainer.epoch.assign(iteration // batches)
        trainer.epoch_batch.assign(iteration % batches)
        log(f" [*] Loaded the original TF1 checkpoint {original} (iteration {iteration},"
            f" optimizer state included); continuing in {paths.checkpoint_dir}")
    chief = distribute.is_chief(strategy)
    if chief:
        _make_output_dirs(paths)
        _record_flags(config, paths, log)
        _write_atomically(paths.model_json, model_config.to_json())
        log(f" [*] Run folder {paths.run_dir}; samples in {paths.sample_dir}")
    else:
        log(f" [*] {distribute.worker_name(strategy)}: training with the chief, which writes"
            f" the run folder {paths.run_dir}")
    if trainer.replicas > 1:
        log(f" [*] {trainer.replicas} replicas, {config.batch_size // trainer.replicas} rows of"
            f" each batch of {config.batch_size} per replica;"
            f" batch norm {'over the global batch' if config.sync_bn else 'per replica'}")
    training.train(trainer, training_data, config, paths, log)
    if chief:
        plot = curves.plot_losses({config.run_name(): curves.read_scalars(paths.log_dir)},
                                  os.path.join(paths.run_dir, "training_curves.png"))
        log(f" [*] Loss curves: {plot}")
    return trainer


def find_run(config):
    """Test mode's run: the one the same flags would train, else the only run of
    this data set, else an error listing the candidates."""
    paths = config_lib.RunPaths.for_run(config)
    if os.path.exists(paths.model_json):
        return paths
    root = os.path.dirname(paths.run_dir)
    candidates = sorted(
        name for name in (os.listdir(root) if os.path.isdir(root) else [])
        if name.startswith(config.dataset + "_")
        and os.path.exists(config_lib.RunPaths.for_run(config, name).model_json))
    if len(candidates) == 1:
        return config_lib.RunPaths.for_run(config, candidates[0])
    if not candidates:
        raise FileNotFoundError(
            f"No trained run for --dataset={config.dataset} in {root}: train one first"
            " (add --train), or point --checkpoint_dir at a checkpoint folder.")
    raise FileNotFoundError(
        f"Several runs of {config.dataset} in {root}: {', '.join(candidates)}."
        " Name one with --out_name.")


def load_generator(config, log=print):
    """Test mode's generator, restored from the run's latest checkpoint (ours or
    the original's); no data set is needed. Returns (generator, model_config,
    paths, checkpoint path)."""
    original = original_checkpoint_in(config)
    if original:
        paths = config_lib.RunPaths.continuing_original(config, os.path.dirname(original))
        if checkpoints.latest_checkpoint(paths.checkpoint_dir) is None:
            model_config = tf1_checkpoint.infer_model_config(
                original, config.output_height, config.output_width).validate()
            if model_config.z_dim != config.z_dim:
                raise tf1_checkpoint.CheckpointMismatchError(
                    f"{original} was trained with z_dim={model_config.z_dim}, but"
                    f" --z_dim={config.z_dim}; pass --z_dim={model_config.z_dim}.")
            generator, _ = carpedm20.build_models(model_config)
            tf1_checkpoint.load_into_models(original, generator)
            log(f" [*] Load SUCCESS: original TF1 checkpoint {original}")
            return generator, model_config, paths, original
    elif (config.given_checkpoint_dir and not os.path.exists(
            config_lib.RunPaths.for_run(config).model_json)
          and os.path.exists(os.path.join(config.given_checkpoint_dir, "model.json"))):
        paths = config_lib.RunPaths.of_folder(config, config.given_checkpoint_dir)
    else:
        paths = find_run(config)
    model_config = _read_model_config(paths.model_json)
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    if latest is None:
        raise FileNotFoundError(f"{paths.checkpoint_dir} has no checkpoint; train first.")
    generator = build_generator(model_config)
    tf.train.Checkpoint(generator=generator).restore(latest).expect_partial() \
        .assert_existing_objects_matched()
    log(f" [*] Load SUCCESS: {latest}")
    return generator, model_config, paths, latest


def test_batch(config, model_config):
    """Test mode's fixed inputs: z from --seed (0 if unset), and labels cycling
    0, 1, ..., 9, 0, ... for conditional models."""
    rng = tf.random.Generator.from_seed(config.seed or 0)
    z = latent.sample_latent(rng, config.z_dist, config.batch_size, model_config.z_dim)
    y = None
    if model_config.conditional:
        y = tf.one_hot(tf.range(config.batch_size) % model_config.y_dim, model_config.y_dim)
    return z, y


def test(config, log=print):
    """Test mode: restores the run's generator and writes a sample grid; then, as
    asked, exports, visualizes, generates, scores and compares."""
    if config.evaluate_npz:
        return evaluate_npz(config, log)
    generator, model_config, paths, latest = load_generator(config, log)
    sample = tf.function(lambda z, y: generator(z, y, training=False))
    iteration = tf1_checkpoint.iteration_of(latest)
    export_root = os.path.dirname(latest)
    if config.export:
        directory = export.export_saved_model(
            generator, model_config, os.path.join(export_root, f"export_b{config.batch_size}"))
        log(f" [*] SavedModel of the sampler: {directory}")
    if config.freeze:
        path = export.export_frozen_graph(
            generator, model_config,
            os.path.join(export_root, f"frozen_b{config.batch_size}",
                         f"model.b{config.batch_size}-{iteration:06d}_frz.pb"))
        log(f" [*] Frozen sampler graph: {path}")
    z, y = test_batch(config, model_config)
    path = images.save_grid(sample(z, y).numpy(),
                            os.path.join(paths.sample_dir, f"test_{iteration:08d}.png"),
                            model_config.output_range)
    log(f" [*] Wrote {path}")
    if config.visualize:
        visualizer = visualize.Visualizer(sample, model_config, config.z_dist,
                                          config.batch_size, paths.sample_dir, config.seed or 0)
        chosen = visualize.OPTIONS if config.visualize_option == "all" else [
            config.visualize_option]
        for option in chosen:
            if option in ("class_grid", "label_interpolation") and not model_config.conditional:
                continue
            written = visualizer.run(option)
            log(f" [*] Visualization {option}: {len(written)} files in {paths.sample_dir}")
    if config.generate:
        generated, labels = generation.generate(sample, model_config, config.generate,
                                                config.z_dist, config.batch_size, config.seed or 0)
        npz = generation.save_npz(
            os.path.join(paths.sample_dir, f"generated_{config.generate}.npz"), generated,
            labels, model_config.output_range)
        log(f" [*] Generated {config.generate} images: {npz}")
        if config.generate_png:
            directory = generation.save_pngs(
                os.path.join(paths.sample_dir, f"generated_{config.generate}"), generated,
                labels, model_config.output_range)
            log(f" [*] ... and as PNG files in {directory}")
    if config.evaluate:
        results = score(config, sample, model_config, log)
        _write_results(results, os.path.join(paths.sample_dir, "metrics.json"), log)
    if config.compare_with:
        compare_with_original(config, sample, model_config, paths, log)
    return path


def _classifier(config, log):
    directory = idx_dataset_directory(config, log)
    cache = config.classifier_cache or metrics.DEFAULT_CACHE_DIR
    model, accuracy = metrics.load_or_train_classifier(directory, cache, log=log)
    log(f" [*] Classifier accuracy on the real test split: {accuracy:.4f}")
    return model, accuracy, directory


def score(config, sample, model_config, log):
    """The metrics of `config.metrics_samples` images of `sample` (balanced labels
    for conditional models; label accuracy only where there are labels). Images of
    another size than the classifier's 28x28 (the family's 32x32) are resized to
    it, as the scripts resized the real digits up."""
    if model_config.c_dim != 1:
        raise ValueError("--evaluate scores grayscale MNIST-style models.")
    classifier, accuracy, directory = _classifier(config, log)
    generated, labels = generation.generate(sample, model_config, config.metrics_samples,
                                            config.z_dist, config.batch_size, config.seed or 0)
    generated = metrics.to_classifier_size(generated)
    return metrics.evaluate(classifier, generated, labels, model_config.output_range, directory,
                            test_accuracy=accuracy)


def evaluate_npz(config, log):
    """Scores the images (and labels) of --evaluate_npz."""
    path = config_lib.expand_path(config.evaluate_npz)
    what = ("an .npz with `images` [N, 28, 28, 1] (and optionally `labels` [N] and"
            " `value_range`), as --generate writes")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "images" not in arrays:
                raise ValueError(f"--evaluate_npz={path} holds {', '.join(arrays.files) or 'no'}"
                                 f" arrays but no `images`; it must be {what}.")
            generated = arrays["images"]
            labels = arrays["labels"] if "labels" in arrays else None
            value_range = tuple(arrays["value_range"]) if "value_range" in arrays else (0.0, 1.0)
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        # ValueError: pickled arrays (refused, never loaded unsafely) or garbage.
        if "--evaluate_npz" in str(error):
            raise
        raise ValueError(f"--evaluate_npz={path} cannot be read as a plain .npz of arrays"
                         f" ({error}); it must be {what}.") from error
    if generated.ndim != 4 or generated.shape[-1] != 1:
        raise ValueError(f"{config.evaluate_npz} holds images of shape {generated.shape[1:]};"
                         " the metrics score grayscale [N, H, W, 1] images (28x28, or resized"
                         " to it).")
    generated = metrics.to_classifier_size(generated)
    classifier, accuracy, directory = _classifier(config, log)
    results = metrics.evaluate(classifier, generated, labels, value_range, directory,
                               test_accuracy=accuracy)
    return _write_results(results, os.path.splitext(config.evaluate_npz)[0] + "_metrics.json",
                          log)


def _write_results(results, path, log):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_atomically(path, json.dumps(results, indent=2, sort_keys=True))
    for line in format_metrics({"images": results}).splitlines():
        log(line)
    log(f" [*] Metrics written to {path}")
    return results


def _weakest(results):
    rows = [r for r in results["label_accuracy_by_class"] if r["accuracy"] is not None]
    worst = min(rows, key=lambda r: r["accuracy"])
    taken_for = worst["most_often_taken_for"]
    return (f"{worst['label']}: {worst['accuracy']:.4f}"
            + (f" (as {taken_for})" if taken_for is not None else ""))


def format_metrics(named_results):
    """A table: one column per run, each metric beside its real-data figure."""
    names = list(named_results)
    rows = [("metric", *names, "real data")]
    first = named_results[names[0]]
    for key in ("label_accuracy", "classifier_score", "frechet_distance"):
        if all(key in r for r in named_results.values()):
            rows.append((key, *(f"{r[key]:.4f}" for r in named_results.values()),
                         f"{first['real'][key]:.4f}"))
    if all("label_accuracy_by_class" in r for r in named_results.values()):
        rows.append(("weakest label", *(_weakest(r) for r in named_results.values()),
                     _weakest(first["real"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def _original_logs(config):
    if config.compare_logs:
        return config_lib.expand_path(config.compare_logs)
    folder = os.path.normpath(config_lib.expand_path(config.compare_with))
    for candidate in (os.path.join(folder, "logs"), os.path.join(os.path.dirname(folder), "logs"),
                      "logs"):
        if os.path.isdir(candidate):
            return candidate
    return None


def compare_with_original(config, sample, model_config, paths, log):
    """Our run beside an original TF1 run: both generators on the same z and labels,
    both runs' losses on one plot, both runs' metrics in one table."""
    original = checkpoints.latest_checkpoint(config_lib.expand_path(config.compare_with))
    if original is None or not tf1_checkpoint.is_tf1_checkpoint(original):
        raise FileNotFoundError(f"--compare_with={config.compare_with} holds no checkpoint of"
                                " the original TF1 code.")
    original_config = tf1_checkpoint.infer_model_config(
        original, model_config.output_height, model_config.output_width)
    if original_config.image_shape != model_config.image_shape or (
            original_config.z_dim, original_config.y_dim) != (model_config.z_dim,
                                                              model_config.y_dim):
        raise ValueError(f"The original run ({original_config}) and ours ({model_config}) don't"
                         " make the same kind of images from the same z; compare like with like.")
    original_generator, _ = carpedm20.build_models(original_config)
    tf1_checkpoint.load_into_models(original, original_generator)
    original_sample = tf.function(lambda z, y: original_generator(z, y, training=False))
    z, y = test_batch(config, model_config)
    ours = images.merge(images.to_uint8(sample(z, y).numpy(), model_config.output_range),
                        *images.grid_shape(config.batch_size))
    theirs = images.merge(images.to_uint8(original_sample(z, y).numpy(),
                                          original_config.output_range),
                          *images.grid_shape(config.batch_size))
    gap = np.full((ours.shape[0], 8, ours.shape[2]), 255, np.uint8)
    side_by_side = os.path.join(paths.sample_dir, "compare_samples.png")
    images.save_grid(np.concatenate([ours, gap, theirs], axis=1)[None], side_by_side,
                     (0, 255), shape=(1, 1))
    log(f" [*] Ours (left) and the original (right), same z and labels: {side_by_side}")
    runs = {"dcgan-tf": curves.read_scalars(paths.log_dir)}
    logs = _original_logs(config)
    if logs:
        runs["original"] = curves.read_scalars(logs)
    plot = curves.plot_losses(runs, os.path.join(paths.sample_dir, "compare_losses.png"),
                              "dcgan-tf vs the original")
    log(f" [*] Losses of both runs{'' if logs else ' (no original logs/ found)'}: {plot}")
    if config.conditional and model_config.image_shape == (28, 28, 1):
        results = {"dcgan-tf": score(config, sample, model_config, log),
                   "original": score(config, original_sample, original_config, log)}
        path = os.path.join(paths.sample_dir, "compare_metrics.json")
        _write_atomically(path, json.dumps(results, indent=2, sort_keys=True))
        for line in format_metrics(results).splitlines():
            log(line)
        log(f" [*] Metrics of both: {path}")


def run(config, log=print):
    """Runs train or test mode; failures the user can fix end the process with
    their message and status 1 (no traceback); a SIGINT / SIGTERM during
    training ends it with 128 + the signal's number, after a checkpoint."""
    config.validate()
    try:
        return train(config, log) if config.train else test(config, log)
    except training.TrainingInterrupted as interrupted:
        print(f" [*] {interrupted}", file=sys.stderr)
        raise SystemExit(128 + interrupted.signum) from interrupted
    except (ValueError, FileNotFoundError, training.NonFiniteLossError,
            training.OutputWriteError) as error:
        print(f"[!] {error}", file=sys.stderr)
        raise SystemExit(1) from error
    except PermissionError as error:  # e.g. test mode writing into a read-only samples folder
        print(f"[!] Cannot write {error.filename}: {error.strerror}. Make it writable, or pass"
              " another --sample_dir / --checkpoint_dir / --out_dir; nothing else was changed.",
              file=sys.stderr)
        raise SystemExit(1) from error
