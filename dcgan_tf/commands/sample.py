"""Test mode's actions on a trained run's generator (no data set needed): the
sample grid, --export (SavedModel) and --freeze (frozen GraphDef),
--visualize, and --generate."""

import dataclasses
import os

import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import export
from dcgan_tf import files
from dcgan_tf import generation
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf import memory
from dcgan_tf import networks
from dcgan_tf import run_lock
from dcgan_tf import run_record
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf import tf1_checkpoint
from dcgan_tf import visualize
from dcgan_tf.commands import experiments
from dcgan_tf.experiments import latent_space


@dataclasses.dataclass
class TrainedRun:
    """What test mode restored: the generator, the run's record (how it was
    trained: run_record), where the run lives, the checkpoint the generator
    came from, and the config test mode runs with (the flags given, the
    record's values for the rest); and, read from the same checkpoint at the
    same time, D where an action reads it (else None) and where the run's
    epochs stood (checkpoints.epoch_position; None for an original's)."""

    generator: object
    record: object
    paths: object
    checkpoint: str
    config: object
    discriminator: object = None
    epoch_position: tuple = None

    @property
    def model_config(self):
        return self.record.networks

    @property
    def system_name(self):
        return self.record.model

    @property
    def system(self):
        return systems.SYSTEMS[self.record.model]

    @property
    def iteration(self):
        return tf1_checkpoint.iteration_of(self.checkpoint)

    def recorded_seed(self):
        """The seed the run trained with, None where it is not known (an original
        TF1 run)."""
        return self.record.seed

    def provenance(self):
        """Where an output of this run comes from, for the files that keep it: the
        seed the run trained with (None where not known) apart from the one test
        mode's draws took (--seed; 0 where none is typed)."""
        return {"run": os.path.abspath(self.paths.run_dir),
                "checkpoint": os.path.abspath(self.checkpoint),
                "iteration": self.iteration, "model": self.record.model,
                "loss": self.record.loss, "z_dist": self.config.z_dist,
                "run_seed": self.recorded_seed(), "draw_seed": self.config.seed or 0,
                "generator": self.generator_kind}

    @property
    def generator_kind(self):
        """"average" where test mode samples G's average (--ema_decay), else "trained"."""
        return "average" if samples_average(self.record, self.config) else "trained"

    def source(self):
        """provenance() in one line, for pictures."""
        return (f"dcgan-tf: run {os.path.abspath(self.paths.run_dir)}, checkpoint"
                f" {os.path.basename(self.checkpoint)} (iteration {self.iteration}),"
                f" {self.generator_kind} G, --z_dist {self.config.z_dist}, draws of"
                f" --seed {self.config.seed or 0} (the run's seed: {self.recorded_seed()})")


# Where test mode writes what a run's trained G makes, when the run keeps an
# average of it (which test mode samples by default): a folder of the run's
# samples, and a suffix of its exports.
RAW_GENERATOR = "raw_generator"


def samples_average(record, config):
    """Whether test mode samples the run's average of G: where it keeps one,
    unless --raw_generator asks for the trained G."""
    return record.averaged and not config.raw_generator


def build_networks(record, config):
    """The generator and the discriminator a run's record describes (their
    weights come from the checkpoint)."""
    system = systems.compose(record.model, record.loss, config)
    return networks.build(system.networks, record.networks, record.seed or 0,
                          raw_scores=system.raw_scores, critic_norm=system.critic_norm)


def _original_record(config, original, typed=frozenset()):
    """An original TF1 run's record: its networks read off the checkpoint (a
    shape flag typed must fit them; one not typed takes the checkpoint's); its
    prior, data set and batch size are not recorded there (the flags' stand)."""
    model_config = run_record.networks_of_original(original, config, typed, "sample it")
    return run_record.RunRecord(model="dcgan", loss="", networks=model_config,
                                z_dist=config.z_dist, dataset=config.dataset,
                                batch_size=config.batch_size,
                                assumed=("z_dist", "dataset", "batch_size"))


def locate(config, typed=frozenset(), log=print, shapes_as_given=False):
    """Test mode's run: (its paths, its record, the original TF1 checkpoint its
    generator comes from, or None). An original TF1 folder that --checkpoint_dir
    names (continued by us: its tf2/ run), a run folder it names, or the run the
    flags name (runs.find_run). `shapes_as_given`: the config's output size and
    z_dim stand as typed (it obeyed the run already, or was made in code); an
    original's widths are its checkpoint's."""
    original = runs.original_checkpoint_in(config)
    if original:
        paths = runs.RunPaths.continuing_original(config, os.path.dirname(original))
        if checkpoints.latest_checkpoint(paths.checkpoint_dir) is None:
            given = ({"output_height", "output_width", "z_dim"} if shapes_as_given
                     else typed)
            return paths, _original_record(config, original, given), original
        return paths, run_record.read(paths.model_json, paths.flags_json), None
    if (config.given_checkpoint_dir and not os.path.exists(
            runs.RunPaths.for_run(config).model_json)
            and os.path.exists(os.path.join(config.given_checkpoint_dir, "model.json"))):
        paths = runs.RunPaths.of_folder(config, config.given_checkpoint_dir)
        return paths, run_record.read(paths.model_json, paths.flags_json), None
    paths, record = runs.find_run(config, typed, log)
    return paths, record, None


def obeying_the_run(config, typed, log=print):
    """Test mode's config: the flags typed, the run's record for the others (the
    run named by --out_name from here on, where it was found another way)."""
    unread = config_lib.training_flags_of(config, typed)
    if unread:
        log(" [*] No --train: test mode samples the run and trains nothing; it does not read "
            + ", ".join(run_record.as_typed(name, getattr(config, name)) for name in unread)
            + " (training's flags). Add --train to train on.")
    paths, record, original = locate(config, typed, log)
    if original:
        if "z_dist" not in typed:
            log(f" [*] An original TF1 checkpoint does not record its prior: sampling --z_dist"
                f" {config.z_dist} (the original's default); pass the --z_dist it trained with"
                " if it differs.")
        # Its networks' shapes are the checkpoint's where no flag says them.
        return dataclasses.replace(config, **{
            name: getattr(record.networks, name) for name in run_record.CARPEDM20_SHAPE_FLAGS
            if name not in typed}).validate()
    config = run_record.obeyed(config, typed, record, paths.run_dir, resuming=False, log=log)
    config = runs.reading_where_it_trained(config, typed, paths)
    if paths.run_dir == runs.RunPaths.for_run(config, os.path.basename(paths.run_dir)).run_dir:
        config = dataclasses.replace(config, out_name=os.path.basename(paths.run_dir))
    return config.validate()


def load_run(config, log=print):
    """Test mode's run, its generator restored from the latest intact checkpoint
    (ours or the original's; no data set is needed), or from the one of
    --checkpoint_iteration; `config` is the one test mode runs with
    (obeying_the_run's, for main.py's commands). D too, where an action asked
    for reads it (experiments.reads_trained_discriminator).

    Everything test mode reads of the checkpoint is read here, at once: a
    training that holds the run keeps only its newest --max_to_keep, so a
    checkpoint read minutes later (after --evaluate, say) may be gone."""
    paths, record, original = locate(config, log=log, shapes_as_given=True)
    memory.check_sampling_fits(systems.compose(record.model, record.loss, config).networks,
                               record.networks, config.batch_size)
    generator, discriminator = build_networks(record, config)
    if not experiments.reads_trained_discriminator(config):
        discriminator = None
    if original and config.checkpoint_iteration:
        raise ValueError(f"--checkpoint_iteration picks among the checkpoints of this program's"
                         f" runs; {os.path.dirname(original)} is the original TF1 code's, whose"
                         f" newest ({os.path.basename(original)}) test mode samples. Drop"
                         " --checkpoint_iteration.")
    if original:
        tf1_checkpoint.load_into_models(original, generator, discriminator)
        log(f" [*] Load SUCCESS: original TF1 checkpoint {original}")
        return TrainedRun(generator, record, paths, original, config, discriminator)
    if config.raw_generator and not record.averaged:
        raise ValueError(f"--raw_generator samples a run's trained G instead of its average,"
                         f" and the run in {paths.run_dir} keeps no average (it trained without"
                         " --ema_decay): its G is the trained one. Drop --raw_generator.")
    # A run that keeps an average of G is sampled through it (README).
    which = "ema_generator" if samples_average(record, config) else "generator"
    objects = {which: generator}
    if discriminator is not None:
        objects["discriminator"] = discriminator
    for attempt in range(3):
        # Test mode only reads (a training may hold the run): damaged checkpoints
        # are skipped, not set aside.
        latest = (checkpoints.intact_at(paths.checkpoint_dir, config.checkpoint_iteration)
                  if config.checkpoint_iteration else
                  checkpoints.newest_intact(paths.checkpoint_dir, log))
        if latest is None:
            trainer = run_lock.training_now(paths.run_dir)
            raise FileNotFoundError(
                f"{paths.checkpoint_dir} has no checkpoint yet: the run is being trained, and its"
                " training saves one every --ckpt_freq iterations (and when it stops); sample"
                f" it then. Training it: {trainer}." if trainer else
                f"{paths.checkpoint_dir} has no checkpoint; train first.")
        try:
            tf.train.Checkpoint(**objects).restore(latest).expect_partial() \
                .assert_existing_objects_matched()
            position = checkpoints.epoch_position(latest)
            break
        except tf.errors.OpError:
            # A training dropped it meanwhile (a file it had, gone: NotFound, or an
            # unknown error where the index was read before its data went): a
            # newer one is there. Any other error is the checkpoint's own.
            if attempt == 2 or not checkpoints.gone(latest):
                raise
    checkpoints.check_finite(latest, {name: each.variables for name, each in objects.items()},
                             log)
    log(f" [*] Load SUCCESS: {latest}")
    apart = outputs_apart(config, record)
    if apart:
        paths = dataclasses.replace(paths, sample_dir=os.path.join(paths.sample_dir, *apart))
    if config.checkpoint_iteration:
        log(f" [*] Sampling the checkpoint of iteration {config.checkpoint_iteration}, as asked"
            f" (--checkpoint_iteration): its outputs go to {paths.sample_dir} (exports:"
            f" *_iteration_{config.checkpoint_iteration}*), apart from the newest's")
    if record.averaged and config.raw_generator:
        log(f" [*] Sampling the trained G, as asked (--raw_generator): its outputs go to"
            f" {paths.sample_dir} (exports: *_{RAW_GENERATOR}), apart from the average's")
    elif record.averaged:
        log(f" [*] Sampling G's average (--ema_decay {record.stabilizers['ema_decay']:g});"
            " --raw_generator samples the trained G")
    return TrainedRun(generator, record, paths, latest, config, discriminator, position)


def outputs_apart(config, record):
    """The subfolders of the samples folder (and, joined, the exports' suffix)
    that keep what test mode samples apart from the outputs it would otherwise
    overwrite: an older checkpoint's from the newest's (--checkpoint_iteration),
    the trained G's from its average's (--raw_generator)."""
    parts = [f"iteration_{config.checkpoint_iteration}"] if config.checkpoint_iteration else []
    return parts + ([RAW_GENERATOR] if record.averaged and config.raw_generator else [])


def test_batch(config, model_config):
    """Test mode's fixed inputs: z from --seed (0 if unset), and labels cycling
    0, 1, ..., 9, 0, ... for conditional models."""
    rng = tf.random.Generator.from_seed(config.seed or 0)
    z = latent.sample_latent(rng, config.z_dist, config.batch_size, model_config.z_dim)
    y = None
    if model_config.conditional:
        y = tf.one_hot(tf.range(config.batch_size) % model_config.y_dim, model_config.y_dim)
    return z, y


def write_grid(config, sample, run):
    """Test mode's grid of the fixed test batch: <samples>/test_<iteration>.png."""
    z, y = test_batch(config, run.model_config)
    return images.save_grid(
        generation.checked_finite(sample(z, y).numpy(), run.checkpoint),
        os.path.join(run.paths.sample_dir, f"test_{run.iteration:08d}.png"),
        run.model_config.output_range, source=run.source())


def export_sampler(config, run, log):
    """--export and --freeze, beside the checkpoint they were made from (each
    with a provenance.json saying which; a run's trained G apart from its
    average, --raw_generator, and an older checkpoint's apart from the newest's,
    --checkpoint_iteration)."""
    root = os.path.dirname(run.checkpoint)
    apart = "".join(f"_{part}" for part in outputs_apart(config, run.record))
    if config.export:
        directory = export.export_saved_model(
            run.generator, run.model_config, config.z_dist,
            os.path.join(root, f"export_b{config.batch_size}{apart}"), run.provenance())
        log(f" [*] SavedModel of the sampler: {directory}")
    if config.freeze:
        path = export.export_frozen_graph(
            run.generator, run.model_config, config.z_dist,
            os.path.join(root, f"frozen_b{config.batch_size}{apart}",
                         f"model.b{config.batch_size}-{run.iteration:06d}_frz.pb"),
            run.provenance())
        log(f" [*] Frozen sampler graph: {path}")


def check_actions_apply(config, model_config):
    """Test mode's requests that cannot apply to this run's model (or its prior:
    the run's, or the one asked for), or that ask for more memory than there
    is, refused before anything is written."""
    if config.visualize_option not in visualize.OPTIONS + ("all",):
        raise ValueError(f"Unknown --visualize_option={config.visualize_option!r}; use one of"
                         f" {', '.join(visualize.OPTIONS)} or all.")
    if config.visualizes("walk"):
        latent_space.interpolation_for(config.walk_interpolation, config.z_dist)
    if config.visualizes("walk"):
        memory.check_fits(visualize.walk_bytes(model_config, config.walk_points),
                          f"--walk_points {config.walk_points} (a picture of"
                          f" {visualize.WALK_ROWS} walks, each"
                          f" {(config.walk_points - 1) * visualize.WALK_PNG_STEPS + 1} images"
                          " long, and their GIF)", "pass fewer --walk_points (the paper's"
                                                  " walks pass through 9).")
    if config.visualize and config.visualize_option in visualize.CONDITIONAL_OPTIONS \
            and not model_config.conditional:
        raise ValueError(
            f"--visualize_option {config.visualize_option} draws one row per label, and this"
            " run's model is unconditional (it takes no labels). Pass another option (0-4) or"
            " all (which runs those that apply).")
    if config.arithmetic:
        label = latent_space.parse_arithmetic(config.arithmetic, visualize.ARITHMETIC_POOL).label
        if label is not None and not model_config.conditional:
            raise ValueError(f"--arithmetic={config.arithmetic!r} gives a label (@{label}), and"
                             " this run's model is unconditional (it takes none); drop it.")
        if label is not None and label >= model_config.y_dim:
            raise ValueError(f"--arithmetic={config.arithmetic!r}: label {label} is not one of"
                             f" the model's classes 0 to {model_config.y_dim - 1}.")


def run_visualizations(config, sample, run, log):
    """--visualize: --visualize_option's visualizations (all: those that apply);
    guided_backprop reads D and real images (commands/experiments.py)."""
    model_config, directory = run.model_config, run.paths.sample_dir
    every = config.visualize_option == "all"
    visualizer = visualize.Visualizer(
        sample, model_config, config.z_dist, config.batch_size, directory, config.seed or 0,
        walk_points=config.walk_points, walk_interpolation=config.walk_interpolation,
        arithmetic=config.arithmetic, run_seed=run.recorded_seed(), source=run.source(),
        random_sweeps_apart=every)
    chosen = visualize.OPTIONS if every else [config.visualize_option]
    for option in chosen:
        if option in visualize.CONDITIONAL_OPTIONS and not model_config.conditional:
            continue
        if option in visualize.DISCRIMINATOR_OPTIONS:
            experiments.guided_backprop(config, run, log)
            continue
        if every and option == "3":  # its GIFs are option 4's, under the same names
            log(" [*] Visualization 3: option 4's sweeps from z = 0 (test_gif_<dim>.gif), below")
            continue
        written = visualizer.run(option)
        count = len(set(written))  # option 2 may sweep a dimension twice, as the original
        log(f" [*] Visualization {option}: {count} file{'s' if count != 1 else ''} in"
            f" {directory}")
        if option == "arithmetic" and not config.arithmetic:
            log(f" [*] Pick exemplars by number in {written[0]} and pass them, e.g."
                " --arithmetic '3,17,42 - 5,9,11 + 8,21,30' (the paper's A - B + C, each"
                " concept the mean of its exemplars' z)")


def write_generated(config, sample, run, log):
    """--generate N (and --generate_png): N images with balanced labels, and
    where they come from (the .npz's `provenance`)."""
    model_config, paths = run.model_config, run.paths
    npz = os.path.join(paths.sample_dir, f"generated_{config.generate}.npz")
    png_dir = (os.path.join(paths.sample_dir, f"generated_{config.generate}")
               if config.generate_png else None)
    files.check_free_space(
        paths.sample_dir, generation.bytes_needed(model_config, config.generate, png_dir),
        f"--generate {config.generate}{' --generate_png' if png_dir else ''}",
        "free disk space, pass a smaller --generate, or another --sample_dir / --out_dir.")
    generation.write(sample, model_config, config.generate, config.z_dist, config.batch_size,
                     config.seed or 0, npz, png_dir, provenance=run.provenance())
    log(f" [*] Generated {config.generate} image{'s' if config.generate != 1 else ''}: {npz}")
    if png_dir:
        log(f" [*] ... and as PNG files in {png_dir}")
