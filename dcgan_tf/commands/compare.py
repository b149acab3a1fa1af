"""--compare_with: our run beside an original TF1 run: both generators on the
same z and labels, both runs' losses on one plot, both runs' metrics in one table."""

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Original:
    """An original TF1 run as --compare_with and --compare_logs name it."""
    checkpoint: str
    model_config: carpedm20.ModelConfig
    logs: str | None  # its TensorBoard folder, where one was found
    losses: dict  # curves.read_scalars of `logs`; {} without


def _original_losses(config):
    """(folder, losses) of the original run: --compare_logs, which must hold
    them (a folder without plotted ours alone under "both runs"), else the
    first of logs/ beside or above the checkpoint folder, then ./logs (where
    the original wrote them); (None, {}) where none exists."""
    if config.compare_logs:
        folder = config_lib.expand_path(config.compare_logs)
        losses = curves.read_scalars(folder) if os.path.isdir(folder) else {}
        if any(len(steps) for steps, _ in losses.values()):
            return folder, losses
        what = ("does not exist" if not os.path.exists(folder) else "is a file"
                if not os.path.isdir(folder) else
                f"holds no {' or '.join(curves.LOSS_TAGS)} summaries (no TensorBoard event file"
                " of a run's losses)")
        raise FileNotFoundError(f"--compare_logs={config.compare_logs} {what}; pass the original"
                                " run's logs/ folder, or leave the flag out to look beside"
                                " --compare_with.")
    folder = os.path.normpath(config_lib.expand_path(config.compare_with))
    for candidate in (os.path.join(folder, "logs"), os.path.join(os.path.dirname(folder), "logs"),
                      "logs"):
        if os.path.isdir(candidate):
            return candidate, curves.read_scalars(candidate)
    return None, {}


def original_of(config, model_config):
    """The original TF1 run --compare_with names (an Original), checked, and its
    losses read, before test mode writes anything."""
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
    return Original(original, original_config, *_original_losses(config))


def compare_with_original(config, sample, run, original_run, log):
    """Our run beside an original TF1 run (original_of's): both generators on the
    same z and labels, both runs' losses on one plot, both runs' metrics in one
    table."""
    model_config, paths = run.model_config, run.paths
    original, original_config = original_run.checkpoint, original_run.model_config
    original_generator, _ = carpedm20.build_models(original_config)
    tf1_checkpoint.load_into_models(original, original_generator)
    original_sample = tf.function(lambda z, y: original_generator(z, y, training=False),
                                  autograph=False)
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
    if any(len(steps) for steps, _ in original_run.losses.values()):
        losses["original"] = original_run.losses
    plot = curves.plot_losses(losses, os.path.join(paths.sample_dir, "compare_losses.png"),
                              "dcgan-tf vs the original")
    if "original" in losses:
        log(f" [*] Losses of both runs (the original's from {original_run.logs}): {plot}")
    else:
        where = f"in {original_run.logs}" if original_run.logs else "found (no logs/ folder)"
        log(f" [!] Losses of ours alone, no original losses {where}; --compare_logs names the"
            f" original run's logs/ folder: {plot}")
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
    else:  # the Inception network's figures are one --evaluate per run
        log(" [*] No metrics of both: --compare_with scores conditional MNIST-style runs (the"
            " digit classifier's figures); score each run of an image folder with --evaluate"
            f" (ours: this command's flags; the original's: --checkpoint_dir {config.compare_with}"
            " --evaluate).")
