"""dcgan-tf: the carpedm20/DCGAN-tensorflow command line, on TensorFlow 2.

    python main.py --dataset mnist --input_height=28 --output_height=28 --train
    python main.py --dataset celebA --input_height=108 --train --crop

Flags are read here only: they become one frozen Config, validated before
anything runs, and passed down. They are defined and parsed before TensorFlow
is imported (main() imports it), so --help and a mistyped flag answer at once.
"""

import dataclasses
import importlib
import logging
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ log, warnings and up

from absl import app  # absl and these two modules import nothing from TensorFlow
from absl import flags
from absl import logging as absl_logging

from dcgan_tf import choices
from dcgan_tf import startup

startup.choose_onednn()  # the CPU kernels, before TensorFlow reads the choice

# The original's flags: same names, meanings and defaults, except where noted.
flags.DEFINE_integer("epoch", 25, "Epoch to train [25]")
flags.DEFINE_float("learning_rate", 0.0002, "Learning rate of for adam [0.0002]")
flags.DEFINE_float("beta1", 0.5, "Momentum term of adam [0.5]")
flags.DEFINE_float("train_size", math.inf, "The size of train images [inf]")
flags.DEFINE_integer("batch_size", 64, "The size of batch images [64]")
flags.DEFINE_integer("input_height", 108,
                     "The size of image to use (will be center cropped). [108]")
flags.DEFINE_integer("input_width", None, "The size of image to use (will be center cropped)."
                     " If None, same value as input_height [None]")
flags.DEFINE_integer("output_height", 64, "The size of the output images to produce [64]")
flags.DEFINE_integer("output_width", None, "The size of the output images to produce."
                     " If None, same value as output_height [None]")
flags.DEFINE_string("dataset", "celebA", "The name of dataset [celebA, mnist, lsun, ...]")
flags.DEFINE_string("input_fname_pattern", "*.jpg",
                    "Glob pattern of filename of input images [*.jpg]")
flags.DEFINE_string("data_dir", "./data", "path to datasets [e.g. $HOME/data]")
flags.DEFINE_string("out_dir", "", "Root directory for all outputs of a run, laid out as"
                    " the original's; empty: checkpoints/<run> and samples/<run> [empty]")
flags.DEFINE_string("out_name", "", "Folder name of the run; generated from the flags"
                    " (no timestamp, so the same command resumes) if left blank []")
flags.DEFINE_string("checkpoint_dir", "checkpoints", "Folder for checkpoints [checkpoints]")
flags.DEFINE_string("sample_dir", "samples", "Folder for samples [samples]")
flags.DEFINE_boolean("train", False, "True for training, False for testing [False]")
flags.DEFINE_boolean("crop", False, "Center crop input_height x input_width, then resize [False]")
flags.DEFINE_boolean("visualize", False, "True for visualizing, False for nothing [False]")
flags.DEFINE_boolean("export", False, "Export the sampler as a SavedModel [False]")
flags.DEFINE_boolean("freeze", False, "Export the sampler as a frozen GraphDef [False]")
flags.DEFINE_integer("max_to_keep", 1, "maximum number of checkpoints to keep (0: all, as the"
                     " original's TF1 Saver)")
flags.DEFINE_integer("sample_freq", 200, "sample every this many iterations")
flags.DEFINE_integer("ckpt_freq", 200, "save checkpoint every this many iterations")
flags.DEFINE_integer("z_dim", 100, "dimensions of z")
flags.DEFINE_enum("z_dist", "uniform_signed", list(choices.Z_DISTRIBUTIONS),
                  "'normal01' or 'uniform_unsigned' or uniform_signed")
flags.DEFINE_boolean("G_img_sum", False, "Save generator image summaries in log")
# Ours.
flags.DEFINE_integer("gf_dim", 64, "Generator filters in the first conv layer [64]")
flags.DEFINE_integer("df_dim", 64, "Discriminator filters in the first conv layer [64]")
flags.DEFINE_integer("gfc_dim", 1024, "Generator units of the dense layer (conditional) [1024]")
flags.DEFINE_integer("dfc_dim", 1024, "Discriminator units of the dense layer (conditional) [1024]")
flags.DEFINE_integer("seed", None, "Random seed; a new run without one draws one and records it")
flags.DEFINE_boolean("original_loss_eval", False,
                     "Re-evaluate the three losses after each iteration, as the original does"
                     " (moves batch-norm moving averages like it; slower) [False]")
flags.DEFINE_boolean("download", True, "Download MNIST / Fashion-MNIST when missing [True]")
flags.DEFINE_boolean("xla", False, "Compile each training iteration with XLA (jit_compile) [False]")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute: one device; mirrored over all local GPUs (or logical CPUs);"
                  " multi_worker over the cluster in TF_CONFIG. --batch_size stays global [default]")
flags.DEFINE_boolean("sync_bn", False, "With --strategy: batch-norm statistics of the global batch,"
                     " all-reduced over replicas (default: per replica) [False]")
flags.DEFINE_boolean("mixed_precision", False, "Train in bfloat16 (CPU) or float16 with loss"
                     " scaling (GPU); variables, batch norm and Adam stay float32 [False]")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices, for"
                     " --strategy mirrored without GPUs [0: leave as is]")
flags.DEFINE_integer("intra_op_threads", 0, "CPU threads each op splits its work over [0:"
                     " TensorFlow's (one per core), but 1 for the family's MLP networks, whose"
                     " small ops run faster one per core at a time]")
flags.DEFINE_integer("steps_per_call", 0, "Training iterations run in one call of the traced"
                     " step; the log, samples and checkpoints land where they would one at a"
                     " time, with the same numbers [0: 50 for the family's MLP networks, whose"
                     " iterations take milliseconds; 1 for the others]")
# Ours, the family: --model picks a system; each brings its script's defaults
# (learning rate, betas, batch size, z_dim, epochs, image size, sample cadence),
# and a flag given here wins. The scripts' own names where the original has none.
flags.DEFINE_enum("model", "dcgan", list(choices.MODELS),
                  "dcgan (carpedm20's, the default) or a PyTorch-GAN system: gan, cgan, acgan,"
                  " wgan, wgan_gp, lsgan [dcgan]")
flags.DEFINE_float("beta2", 0.999, "Adam's beta2 (the family's Adam systems) [0.999]")
flags.DEFINE_integer("n_critic", 1, "D's updates per turn of G: G's turn comes when the batch"
                     " index is a multiple of this (Goodfellow et al.'s k) [1; the Wasserstein"
                     " models and losses: 5]")
flags.DEFINE_float("clip_value", 0.01, "wgan: D's weights clipped to [-c, c] after each"
                   " update [0.01]")
flags.DEFINE_float("lambda_gp", 10.0, "wgan_gp: weight of the gradient penalty [10]")
flags.DEFINE_integer("n_classes", 10, "cgan, acgan: number of classes [10]")
# Ours, the objectives: any of them on the DCGAN's networks.
flags.DEFINE_enum("loss", "", [""] + list(choices.LOSSES),
                  "The objective: minimax, nonsaturating, lsgan, wgan, wgan_gp, hinge, fgan"
                  " [empty: the model's own; dcgan's is nonsaturating, bit for bit]")
flags.DEFINE_string("ls_abc", "0,1,1", "--loss lsgan: targets a (fake), b (real), c (G's)"
                    " [0,1,1; the paper's other choice: -1,1,0]")
flags.DEFINE_enum("divergence", "kl", list(choices.DIVERGENCES),
                  "--loss fgan: the f-divergence [kl]")
# Ours, when a GAN collapses: stabilizers, parts of any --model and --loss.
flags.DEFINE_boolean("stabilized", False, "The combination measured best on carpedm20's"
                     " networks (docs/stabilizers.md): the two time scales, --d_learning_rate"
                     " 0.0004 --g_learning_rate 0.0001 (each flag given wins) [False]")
flags.DEFINE_boolean("spectral_norm", False, "D's dense and conv weights divided by their"
                     " largest singular value (power iteration, one step per D update); D's"
                     " batch norms go (Miyato et al. 2018) [False]")
flags.DEFINE_float("ema_decay", 0.0, "An exponential moving average of G's weights, updated"
                   " after each G update, sampled by test mode (0: off; e.g. 0.999) [0]")
flags.DEFINE_integer("ema_start", 1000, "--ema_decay: G updates before averaging begins (the"
                     " average is a copy of G until then) [1000]")
flags.DEFINE_string("diffaugment", "", "DiffAugment (Zhao et al. 2020) on every image D sees,"
                    " real and fake, in both updates: any of color,translation,cutout [empty:"
                    " off]")
flags.DEFINE_float("r1_gamma", 0.0, "R1: gamma / 2 * E||grad D(x)||^2 on real images added to"
                   " D's loss (Mescheder et al. 2018) [0: off]")
flags.DEFINE_integer("r1_every", 1, "--r1_gamma: the penalty every this many D updates, scaled"
                     " by it (lazy R1) [1]")
flags.DEFINE_float("d_learning_rate", None, "D's learning rate (the two time-scale rule,"
                   " Heusel et al. 2017) [--learning_rate]")
flags.DEFINE_float("g_learning_rate", None, "G's learning rate [--learning_rate]")
flags.DEFINE_integer("g_updates", None, "G's updates in each of its turns [the model's: dcgan"
                     " 2, the family 1]")
# Ours, test mode.
flags.DEFINE_enum("visualize_option", "1", list(choices.VISUALIZATIONS) + ["all"],
                  "Which of the original's visualizations --visualize runs (it hard-coded 1),"
                  " or class_grid / label_interpolation for conditional models, or the DCGAN"
                  " paper's walk / arithmetic / guided_backprop, or all [1]")
flags.DEFINE_integer("generate", 0, "Write this many generated images (and balanced labels)"
                     " to <samples>/generated_<N>.npz [0: off]")
flags.DEFINE_boolean("generate_png", False, "With --generate, also write one PNG per image")
flags.DEFINE_boolean("evaluate", False, "Score the run's generator: label accuracy, classifier"
                     " score, Frechet distance, precision / recall, density / coverage and KID"
                     " (MNIST-style: its classifier; image folders: the FID Inception network)")
flags.DEFINE_string("evaluate_npz", "", "Score the images (and labels) of this .npz instead")
flags.DEFINE_string("inception", "", "The FID Inception network (classify_image_graph_def.pb or"
                    " inception-2015-12-05.tgz) for --evaluate: image folders are scored on it;"
                    " MNIST-style data also, when given [empty: the cache's, fetched there for"
                    " image folders]")
flags.DEFINE_string("inception_stats", "", "Published reference statistics (.npz with mu and"
                    " sigma) to take the FID against, instead of the data's own [empty]")
flags.DEFINE_integer("metrics_samples", 10000, "Samples generated for --evaluate [10000]")
flags.DEFINE_string("classifier_cache", "", "Where the metrics' classifier is cached"
                    " [~/.cache/dcgan-tf]")
flags.DEFINE_string("compare_with", "", "An original TF1 run's checkpoint folder: write both"
                    " generators side by side, both runs' losses, and both runs' metrics")
flags.DEFINE_string("compare_logs", "", "The original run's TensorBoard logs/ folder"
                    " [found beside --compare_with]")

# Ours, test mode: the DCGAN paper's experiments on a trained run.
flags.DEFINE_integer("walk_points", 9, "--visualize_option walk: the random points of z each"
                     " walk passes through [9, the paper's]")
flags.DEFINE_enum("walk_interpolation", "auto", list(choices.WALK_INTERPOLATIONS),
                  "--visualize_option walk: linear, or spherical (normal priors only) [auto:"
                  " spherical for --z_dist normal01, else linear]")
flags.DEFINE_string("arithmetic", "", "--visualize_option arithmetic: "
                    + choices.ARITHMETIC_HELP + " [empty: only the numbered grid]")
flags.DEFINE_boolean("linear_probe", False, "The paper's classification with D's features: a"
                     " linear L2-SVM on each D layer max-pooled to 4x4, beside raw pixels, D's"
                     " initial weights and a supervised net of D's architecture [False]")
flags.DEFINE_string("probe_labels", "10,100,1000", "--linear_probe: labelled training images"
                    " per class, each count a probe (or all) [10,100,1000]")
flags.DEFINE_string("probe_dataset", "", "--linear_probe: the labelled data: mnist,"
                    " fashion_mnist, or a folder under --data_dir of train/<class>/ and"
                    " test/<class>/ images [the run's --dataset, if labelled]")
flags.DEFINE_boolean("raw_generator", False, "Test mode on a run with --ema_decay: sample the"
                     " trained G, not its average (outputs in <samples>/raw_generator/)"
                     " [False]")
flags.DEFINE_integer("checkpoint_iteration", 0, "Test mode: sample the run's checkpoint of"
                     " this iteration, one training kept (--max_to_keep) [0: the newest]")
flags.DEFINE_integer("nearest_neighbours", 0, "Memorisation: this many samples with their"
                     " nearest training images (pixels; the classifier's features), against"
                     " unseen real images' distances [0: off]")

FLAGS = flags.FLAGS

# How --help shows the flags, the original's first (in its order); the flags
# page (docs/flags.md) groups them the same way, and a test holds both to it.
FLAG_GROUPS = (
    ("The original's flags", (
        "epoch", "learning_rate", "beta1", "train_size", "batch_size", "input_height",
        "input_width", "output_height", "output_width", "dataset", "input_fname_pattern",
        "data_dir", "out_dir", "out_name", "checkpoint_dir", "sample_dir", "train", "crop",
        "visualize", "export", "freeze", "max_to_keep", "sample_freq", "ckpt_freq", "z_dim",
        "z_dist", "G_img_sum")),
    ("Networks, seed, data", (
        "gf_dim", "df_dim", "gfc_dim", "dfc_dim", "seed", "original_loss_eval", "download")),
    ("Speed, devices, precision", (
        "xla", "strategy", "sync_bn", "mixed_precision", "logical_cpus", "intra_op_threads",
        "steps_per_call")),
    ("The family: --model", ("model", "beta2", "n_critic", "clip_value", "lambda_gp",
                             "n_classes")),
    ("The objectives: --loss", ("loss", "ls_abc", "divergence")),
    ("When a GAN collapses: stabilizers", (
        "stabilized", "spectral_norm", "ema_decay", "ema_start", "diffaugment", "r1_gamma",
        "r1_every", "d_learning_rate", "g_learning_rate", "g_updates")),
    ("Test mode", (
        "visualize_option", "generate", "generate_png", "evaluate", "evaluate_npz",
        "metrics_samples", "classifier_cache", "inception", "inception_stats", "compare_with",
        "compare_logs", "raw_generator", "checkpoint_iteration")),
    ("The DCGAN paper's experiments (test mode)", (
        "walk_points", "walk_interpolation", "arithmetic", "linear_probe", "probe_labels",
        "probe_dataset", "nearest_neighbours")),
)
HELP_FLAGS = ("-h", "--help", "-?", "--helpshort")


def grouped_help():
    """main.py's flags as --help shows them: FLAG_GROUPS' groups, each flag with
    its help and default (absl's --helpfull lists every module's, as absl does)."""
    lines = [__doc__.strip(), ""]
    for title, names in FLAG_GROUPS:
        lines.append(f"{title}:")
        for name in names:
            flag = FLAGS[name]
            switch = f"--[no]{name}" if flag.boolean else f"--{name}"
            lines.append(f"  {switch}: {flag.help}")
            lines.append(f"    (default: {flag.default_as_str or 'unset'})")
        lines.append("")
    lines.append("absl's own flags (--verbosity, --helpfull, ...): python main.py --helpfull")
    return "\n".join(lines)


def start_tensorflow():
    """Imports TensorFlow and the library, once the flags are parsed: the
    runtime's start-up notices (no CUDA here, and so on) held back, any other
    line it writes shown (--verbosity shows everything), Keras's unused extras
    left out; Ctrl-C meanwhile exits 130 saying nothing was written. Returns
    where training computes (startup.describe_devices)."""
    try:
        with startup.held_native_stderr(enabled=not startup.verbosity_asked(sys.argv)):
            with startup.keras_extras_held_back():  # a third of TensorFlow's import
                import tensorflow as tf  # noqa: PLC0415

            importlib.import_module("dcgan_tf.app")  # the library, its notices held too

            return startup.describe_devices(tf)
    except KeyboardInterrupt:
        print(" [*] Interrupted while starting: nothing was written.", file=sys.stderr)
        raise SystemExit(130) from None


def command_line():
    """(every flag's value, the names of the flags typed): what was typed is
    known here only, and handed to the library as an argument."""
    from dcgan_tf import config as config_lib  # noqa: PLC0415 (imports TensorFlow)

    names = [field.name for field in dataclasses.fields(config_lib.Config)]
    typed = frozenset(name for name in names if FLAGS[name].present)
    return {name: FLAGS[name].value for name in names}, typed


def main(argv):
    if len(argv) > 1:  # one line, not absl's usage text, which would bury it
        print(f"[!] Unexpected arguments: {' '.join(argv[1:])}. Every setting is a flag"
              " (--name=value); a value with spaces needs quotes. (python main.py --helpshort"
              " lists the flags)", file=sys.stderr)
        raise SystemExit(1)
    if not FLAGS["verbosity"].present:  # warnings and up, unless --verbosity says
        # TensorFlow logs both through absl and through its own Python logger.
        absl_logging.set_verbosity(absl_logging.WARNING)
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
    devices = start_tensorflow()
    from dcgan_tf import app as dcgan_app  # noqa: PLC0415 (imported by start_tensorflow)
    from dcgan_tf import config as config_lib  # noqa: PLC0415

    values, typed = command_line()
    try:
        config = config_lib.of_command_line(values, typed)
    except ValueError as error:
        # The message names the fix; the usage text would bury it.
        print(f"[!] {error}\n    (python main.py --helpshort lists the flags)", file=sys.stderr)
        raise SystemExit(1) from error
    print(f" [*] Devices: {devices}")
    try:
        dcgan_app.run(config, typed=typed)
    except KeyboardInterrupt:
        # Training turns Ctrl-C into a saved checkpoint, test mode into a stop
        # that removes what it was writing (app.run); this is any other moment
        # (reading the run's record): files already written are complete.
        print(" [*] Interrupted (Ctrl-C): stopped; files written before are complete.",
              file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    if any(arg in HELP_FLAGS for arg in sys.argv[1:]):
        print(grouped_help())
        raise SystemExit(0)
    app.run(main)
