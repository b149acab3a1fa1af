"""Test mode's actions on a trained run's generator (no data set needed): the
sample grid, --export (SavedModel) and --freeze (frozen GraphDef),
--visualize, and --generate."""

import os

import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import export
from dcgan_tf import generation
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf import networks
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf import tf1_checkpoint
from dcgan_tf import visualize
from dcgan_tf.networks import carpedm20


def build_generator(model_config, config):
    """The generator a run's model.json describes (test mode needs no D)."""
    system = systems.compose(runs.model_name(model_config), runs.model_loss(model_config), config)
    return networks.build(system.networks, model_config, raw_scores=system.raw_scores,
                          critic_norm=system.critic_norm)[0]


def load_generator(config, log=print):
    """Test mode's generator, restored from the run's latest checkpoint (ours or
    the original's); no data set is needed. Returns (generator, model_config,
    paths, checkpoint path)."""
    original = runs.original_checkpoint_in(config)
    if original:
        paths = runs.RunPaths.continuing_original(config, os.path.dirname(original))
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
            runs.RunPaths.for_run(config).model_json)
          and os.path.exists(os.path.join(config.given_checkpoint_dir, "model.json"))):
        paths = runs.RunPaths.of_folder(config, config.given_checkpoint_dir)
    else:
        paths = runs.find_run(config)
    model_config = runs.read_model_config(paths.model_json)
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    if latest is None:
        raise FileNotFoundError(f"{paths.checkpoint_dir} has no checkpoint; train first.")
    generator = build_generator(model_config, config)
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


def write_grid(config, sample, model_config, paths, latest):
    """Test mode's grid of the fixed test batch: <samples>/test_<iteration>.png."""
    z, y = test_batch(config, model_config)
    return images.save_grid(
        sample(z, y).numpy(),
        os.path.join(paths.sample_dir, f"test_{tf1_checkpoint.iteration_of(latest):08d}.png"),
        model_config.output_range)


def export_sampler(config, generator, model_config, latest, log):
    """--export and --freeze, beside the checkpoint they were made from."""
    root = os.path.dirname(latest)
    if config.export:
        directory = export.export_saved_model(
            generator, model_config, os.path.join(root, f"export_b{config.batch_size}"))
        log(f" [*] SavedModel of the sampler: {directory}")
    if config.freeze:
        iteration = tf1_checkpoint.iteration_of(latest)
        path = export.export_frozen_graph(
            generator, model_config,
            os.path.join(root, f"frozen_b{config.batch_size}",
                         f"model.b{config.batch_size}-{iteration:06d}_frz.pb"))
        log(f" [*] Frozen sampler graph: {path}")


def run_visualizations(config, sample, model_config, paths, log):
    """--visualize: --visualize_option's visualizations (all: those that apply)."""
    visualizer = visualize.Visualizer(sample, model_config, config.z_dist, config.batch_size,
                                      paths.sample_dir, config.seed or 0)
    chosen = visualize.OPTIONS if config.visualize_option == "all" else [
        config.visualize_option]
    for option in chosen:
        if option in ("class_grid", "label_interpolation") and not model_config.conditional:
            continue
        written = visualizer.run(option)
        log(f" [*] Visualization {option}: {len(written)} files in {paths.sample_dir}")


def write_generated(config, sample, model_config, paths, log):
    """--generate N (and --generate_png): N images with balanced labels."""
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
