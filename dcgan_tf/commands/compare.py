"""--compare_with: our run beside an original TF1 run: both generators on the
same z and labels, both runs' losses on one plot, both runs' metrics in one table."""

import json
import os

import numpy as np
import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import curves
from dcgan_tf import files
from dcgan_tf import images
from dcgan_tf import tf1_checkpoint
from dcgan_tf.commands import evaluate
from dcgan_tf.commands import sample as sample_command
from dcgan_tf.networks import carpedm20


def _original_logs(config):
    if config.compare_logs:
        return config_lib.expand_path(config.compare_logs)
    folder = os.path.normpath(config_lib.expand_path(config.compare_with))
    for candidate in (os.path.join(folder, "logs"), os.path.join(os.path.dirname(folder), "logs"),
                      "logs"):
        if os.path.isdir(candidate):
            return candidate
    return None


def original_of(config, model_config):
    """The original TF1 run --compare_with names, checked before test mode
    writes anything: (its latest checkpoint, its ModelConfig)."""
    folder = config_lib.expand_path(config.compare_with)
    original = checkpoints.latest_checkpoint(folder) if os.path.isdir(folder) else None
    if original is None or not tf1_checkpoint.is_tf1_checkpoint(original):
        what = ("does not exist" if not os.path.exists(folder) else
                "is a run of this program, not of the original TF1 code (test mode samples"
                " it with --checkpoint_dir)" if os.path.exists(os.path.join(folder, "model.json"))
                else "holds no checkpoint of the original TF1 code")
        raise FileNotFoundError(f"--compare_with={config.compare_with} {what}; pass the folder"
                                " of an original run's checkpoint (the one holding its"
                                " `checkpoint` file).")
    try:
        original_config = tf1_checkpoint.infer_model_config(
            original, model_config.output_height, model_config.output_width)
    except tf1_checkpoint.CheckpointMismatchError:  # not at our size: its own, said below
        original_config = tf1_checkpoint.infer_model_config(original)
    if original_config.image_shape != model_config.image_shape or (
            original_config.z_dim, original_config.y_dim) != (model_config.z_dim,
                                                              model_config.y_dim):
        raise ValueError(f"The original run ({original_config}) and ours ({model_config}) don't"
                         " make the same kind of images from the same z; compare like with like.")
    return original, original_config


def compare_with_original(config, sample, run, log):
    """Our run beside an original TF1 run: both generators on the same z and labels,
    both runs' losses on one plot, both runs' metrics in one table."""
    model_config, paths = run.model_config, run.paths
    original, original_config = original_of(config, model_config)
    original_generator, _ = carpedm20.build_models(original_config)
    tf1_checkpoint.load_into_models(original, original_generator)
    original_sample = tf.function(lambda z, y: original_generator(z, y, training=False))
    z, y = sample_command.test_batch(config, model_config)
    ours = images.merge(images.to_uint8(sample(z, y).numpy(), model_config.output_range),
                        *images.grid_shape(config.batch_size))
    theirs = images.merge(images.to_uint8(original_sample(z, y).numpy(),
                                          original_config.output_range),
                          *images.grid_shape(config.batch_size))
    gap = np.full((ours.shape[0], 8, ours.shape[2]), 255, np.uint8)
    side_by_side = os.path.join(paths.sample_dir, "compare_samples.png")
    images.save_grid(np.concatenate([ours, gap, theirs], axis=1)[None], side_by_side,
                     (0, 255), shape=(1, 1), source=f"{run.source()}; original {original}")
    log(f" [*] Ours (left) and the original (right), same z and labels: {side_by_side}")
    losses = {"dcgan-tf": curves.read_scalars(paths.log_dir)}
    logs = _original_logs(config)
    if logs:
        losses["original"] = curves.read_scalars(logs)
    plot = curves.plot_losses(losses, os.path.join(paths.sample_dir, "compare_losses.png"),
                              "dcgan-tf vs the original")
    log(f" [*] Losses of both runs{'' if logs else ' (no original logs/ found)'}: {plot}")
    if config.conditional and model_config.image_shape == (28, 28, 1):
        results = {"dcgan-tf": {**evaluate.score(config, sample, model_config, log),
                                "source": run.provenance()},
                   "original": {**evaluate.score(config, original_sample, original_config, log),
                                "source": {"checkpoint": os.path.abspath(original)}}}
        path = os.path.join(paths.sample_dir, "compare_metrics.json")
        files.write_text(path, json.dumps(results, indent=2, sort_keys=True))
        for line in evaluate.format_metrics(results).splitlines():
            log(line)
        log(f" [*] Metrics of both: {path}")
