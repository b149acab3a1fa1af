"""The one frozen config a run is driven by, built from the flags in main.py.

`of_command_line` makes it from the flags' values and the names of the flags
typed (the --model's and --loss's defaults fill the others; a flag typed that
nothing reads is refused), and only there is what was typed known.
`validate()` rejects every bad value with a message that names the fix,
before any data is read or any graph is traced. (Test mode's own flags are
checked by the actions that read them, once the run's record is known.)
"""

import dataclasses
import json
import math
import os

from dcgan_tf import data
from dcgan_tf import distribute
from dcgan_tf import fidelity
from dcgan_tf import latent
from dcgan_tf import systems
from dcgan_tf.stabilizers import diffaugment


def expand_path(path):
    """`~` and `$VARS` expanded, as the original's `expand_path` does to every folder flag."""
    return os.path.expandvars(os.path.expanduser(path))


@dataclasses.dataclass(frozen=True)
class Config:
    """The original's flags (same names and meaning) plus the few we add."""

    # The original's flags.
    epoch: int = 25
    learning_rate: float = 0.0002
    beta1: float = 0.5
    train_size: float = math.inf
    batch_size: int = 64
    input_height: int = 108
    input_width: int = None
    output_height: int = 64
    output_width: int = None
    dataset: str = "celebA"
    input_fname_pattern: str = "*.jpg"
    data_dir: str = "./data"
    out_dir: str = ""
    out_name: str = ""
    checkpoint_dir: str = "checkpoints"
    sample_dir: str = "samples"
    train: bool = False
    crop: bool = False
    visualize: bool = False
    export: bool = False
    freeze: bool = False
    max_to_keep: int = 1
    sample_freq: int = 200
    ckpt_freq: int = 200
    z_dim: int = 100
    z_dist: str = "uniform_signed"
    G_img_sum: bool = False
    # Ours: model widths (the original hard-codes them), the seed, and the
    # original's post-iteration loss evaluations as an explicit choice.
    gf_dim: int = 64
    df_dim: int = 64
    gfc_dim: int = 1024
    dfc_dim: int = 1024
    seed: int = None
    original_loss_eval: bool = False
    download: bool = True
    xla: bool = False
    strategy: str = "default"
    sync_bn: bool = False
    logical_cpus: int = 0
    intra_op_threads: int = 0
    steps_per_call: int = 0
    mixed_precision: bool = False
    # Ours, the family (--model): PyTorch-GAN's scripts' options under their names.
    model: str = "dcgan"
    beta2: float = 0.999
    n_critic: int = 1
    clip_value: float = 0.01
    lambda_gp: float = 10.0
    n_classes: int = 10
    # Ours, the objectives (--loss; empty: the model's own).
    loss: str = ""
    ls_abc: str = "0,1,1"
    divergence: str = "kl"
    # Ours, the stabilizers (stabilizers/, systems.compose): parts of any system.
    spectral_norm: bool = False
    ema_decay: float = 0.0
    ema_start: int = 1000
    diffaugment: str = ""
    r1_gamma: float = 0.0
    r1_every: int = 1
    d_learning_rate: float = None
    g_learning_rate: float = None
    g_updates: int = None
    stabilized: bool = False
    # Ours, test mode: what to do with a trained generator.
    visualize_option: str = "1"
    generate: int = 0
    generate_png: bool = False
    evaluate: bool = False
    evaluate_npz: str = ""
    metrics_samples: int = 10000
    classifier_cache: str = ""
    inception: str = ""
    inception_stats: str = ""
    compare_with: str = ""
    compare_logs: str = ""
    # Ours, test mode: the DCGAN paper's experiments (experiments/).
    walk_points: int = 9
    walk_interpolation: str = "auto"
    arithmetic: str = ""
    linear_probe: bool = False
    probe_labels: str = "10,100,1000"
    probe_dataset: str = ""
    nearest_neighbours: int = 0
    raw_generator: bool = False
    checkpoint_iteration: int = 0

    def __post_init__(self):
        # A folder's name as a shell completes it ("faces/") names the folder.
        if len(self.dataset) > 1 and self.dataset.endswith(os.sep):
            object.__setattr__(self, "dataset", self.dataset.rstrip(os.sep) or os.sep)
        # The original's "None means the same as height" defaults.
        if self.input_width is None:
            object.__setattr__(self, "input_width", self.input_height)
        if self.output_width is None:
            object.__setattr__(self, "output_width", self.output_height)

    @property
    def conditional(self):
        """Whether the run's generator takes labels: the family's conditional models,
        and carpedm20's on a labelled (MNIST-style) data set."""
        labels = systems.SYSTEMS[self.model].labels if self.model in systems.SYSTEMS else "none"
        return labels == "required" or (labels == "from_data" and data.is_idx_dataset(self.dataset))

    @property
    def ls_targets(self):
        """--ls_abc as floats (a, b, c)."""
        return tuple(float(value) for value in self.ls_abc.split(","))

    @property
    def train_examples_limit(self):
        """train_size as an int, or None for all."""
        return None if math.isinf(self.train_size) else int(self.train_size)

    @property
    def given_checkpoint_dir(self):
        """--checkpoint_dir as a folder that may hold a checkpoint itself (an original
        TF1 run, or a run folder of ours), or None where it is only a subfolder name.

        Without --out_dir that is always so. With --out_dir the original joins
        `os.path.join(out_dir, checkpoint_dir)`, which keeps an absolute path as
        given: so does this, and `~` counts as absolute, as it did after the
        original's expand_path."""
        path = expand_path(self.checkpoint_dir)
        if self.out_dir and not os.path.isabs(path):
            return None
        return path

    def run_name(self):
        """--out_name, or a name made from what fixes the model and its data. The
        original prefixed a timestamp, so its test mode could never find the run;
        ours names the same run for the same command, so a rerun resumes."""
        if self.out_name:
            return self.out_name
        system = systems.SYSTEMS[self.model]
        # The prior, where it is not the recipe's own (the family's runs before
        # --z_dist applied to them all trained on theirs, and keep their names).
        prior = "" if self.z_dist == system.defaults.get("z_dist") else f".{self.z_dist}"
        # A --loss other than the model's own names its own run; so do stabilizers.
        loss = systems.run_name_part(self.loss, self)
        if self.stabilized and self.loss and self.loss == systems.STABILIZED.get("loss"):
            loss = ""  # --stabilized's own loss: its name says it
        return (system.run_name.format(**dict(dataclasses.asdict(self), prior=prior, loss=loss))
                + systems.stabilizers_name_part(self))

    def validate(self):
        """Raises ValueError naming the fix for any flag value that can't work: the
        checks every run shares, then the run's system's (systems.check_config)
        and distribution's (distribute.check_config)."""
        positive = ("epoch", "batch_size", "input_height", "input_width", "output_height",
                    "output_width", "sample_freq", "ckpt_freq", "z_dim",
                    "gf_dim", "df_dim", "gfc_dim", "dfc_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_to_keep < 0:
            raise ValueError(f"--max_to_keep must be at least 0 (0 keeps every checkpoint), got"
                             f" {self.max_to_keep}.")
        if not self.train_size >= 1:
            raise ValueError(f"--train_size must be at least 1, got {self.train_size:g}.")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ValueError(f"--seed must be in [0, 2**32), got {self.seed}; omit it to draw one"
                             " (recorded in the run's FLAGS.json).")
        if not 0 < self.learning_rate < math.inf:
            raise ValueError(f"--learning_rate must be a positive number, got"
                             f" {self.learning_rate}.")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"--beta1 must be in [0, 1), got {self.beta1}.")
        if self.steps_per_call < 0:
            raise ValueError(f"--steps_per_call must be at least 0 (0: chosen by the networks),"
                             f" got {self.steps_per_call}.")
        if self.generate < 0:
            raise ValueError(f"--generate must be at least 0 (0: off), got {self.generate}.")
        if self.metrics_samples < fidelity.MIN_SAMPLES:
            raise ValueError(f"--metrics_samples must be at least {fidelity.MIN_SAMPLES} (recall's"
                             f" {fidelity.PRECISION_RECALL_K} nearest neighbours among the"
                             f" samples), got {self.metrics_samples}.")
        if (self.inception or self.inception_stats) and not (self.evaluate or self.evaluate_npz):
            raise ValueError("--inception and --inception_stats are read by --evaluate and"
                             " --evaluate_npz, which this command does not run; add one, or"
                             " drop them.")
        if self.train and (self.visualize or self.generate or self.evaluate or self.export
                           or self.freeze or self.compare_with or self.evaluate_npz
                           or self.linear_probe or self.nearest_neighbours):
            raise ValueError("--visualize, --generate, --evaluate, --compare_with, --export,"
                             " --freeze, --linear_probe and --nearest_neighbours are test-mode"
                             " actions: run them without --train.")
        self._validate_stabilizers()
        if self.walk_points < 2:
            raise ValueError(f"--walk_points must be at least 2 (a walk goes from point to"
                             f" point), got {self.walk_points}.")
        if self.nearest_neighbours < 0:
            raise ValueError(f"--nearest_neighbours must be at least 0 (the samples compared;"
                             f" 0: off), got {self.nearest_neighbours}.")
        if self.z_dist not in latent.Z_DISTRIBUTIONS:
            raise ValueError(f"Unknown --z_dist={self.z_dist!r}; use one of"
                             f" {', '.join(latent.Z_DISTRIBUTIONS)}.")
        if not self.dataset:
            raise ValueError("--dataset is empty; name a folder under --data_dir, or mnist.")
        if self.dataset in (".", ".."):
            raise ValueError(f"--dataset={self.dataset} names no folder under --data_dir; pass"
                             " --data_dir the folder that holds the data set, and --dataset its"
                             " name.")
        if os.sep in self.dataset.strip(os.sep):
            parent, name = os.path.split(os.path.normpath(self.dataset))
            raise ValueError(f"--dataset={self.dataset} is a path; --dataset names a folder under"
                             f" --data_dir: pass --data_dir={parent} --dataset={name}.")
        if self.crop and data.is_idx_dataset(self.dataset):
            raise ValueError(f"--crop does not apply to {self.dataset} (its digits are 28x28"
                             " already); drop --crop.")
        systems.check_config(self)
        distribute.check_config(self)
        if os.sep in self.run_name() or self.run_name() in (".", ".."):
            if self.out_name:
                raise ValueError(f"--out_name={self.out_name!r} must be a plain folder name.")
            raise ValueError(f"--dataset={self.dataset!r} names no folder under --data_dir (the"
                             f" run would be named {self.run_name()!r}); pass a folder's name.")
        return self

    def _validate_stabilizers(self):
        """The stabilizers' values (stabilizers/)."""
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"--ema_decay must be in [0, 1) (0: off; 0.999 averages about the"
                             f" last thousand G updates), got {self.ema_decay}.")
        if self.ema_start < 0:
            raise ValueError(f"--ema_start must be at least 0 (G updates before the average"
                             f" starts), got {self.ema_start}.")
        if self.diffaugment:
            diffaugment.parse(self.diffaugment)
        if not 0 <= self.r1_gamma < math.inf:
            raise ValueError(f"--r1_gamma must be a number >= 0 (0: off), got {self.r1_gamma}.")
        if self.r1_every < 1:
            raise ValueError(f"--r1_every must be at least 1 (the penalty every k-th D update,"
                             f" k times as strong), got {self.r1_every}.")
        for name in ("d_learning_rate", "g_learning_rate"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise ValueError(f"--{name} must be a positive number (or unset: --learning_rate),"
                                 f" got {value}.")
        if self.g_updates is not None and self.g_updates < 1:
            raise ValueError(f"--g_updates must be at least 1 (G's updates in each of its turns),"
                             f" got {self.g_updates}.")
        if self.checkpoint_iteration < 0:
            raise ValueError(f"--checkpoint_iteration must be at least 0 (0: the newest), got"
                             f" {self.checkpoint_iteration}.")
        if self.train and self.checkpoint_iteration:
            raise ValueError("--checkpoint_iteration is for test mode (it samples an older"
                             " checkpoint of a run); training resumes from the newest. Drop it,"
                             " or drop --train.")
        if self.train and self.raw_generator:
            raise ValueError("--raw_generator is for test mode (it samples a run's trained G"
                             " instead of its average); drop it with --train.")

    def visualizes(self, option):
        """Whether --visualize runs `option` (asked by name, or by all)."""
        return self.visualize and self.visualize_option in (option, "all")

    @property
    def reads_classifier_cache(self):
        """Whether this command may read or fill --classifier_cache (the metrics'
        classifier, the Inception network)."""
        return bool(self.evaluate or self.compare_with or self.evaluate_npz
                    or self.nearest_neighbours)

    def to_json(self):
        values = dataclasses.asdict(self)
        values["train_size"] = None if math.isinf(self.train_size) else self.train_size
        return json.dumps(values, indent=4, sort_keys=True)


# Test mode's flags that only an action reads: (the action, whether this
# command runs it). A flag typed without its action would be silently ignored.
def _actions_reading(config):
    scores = config.evaluate or bool(config.compare_with)
    walks = config.visualizes("walk")
    return {"generate_png": ("--generate", bool(config.generate)),
            "metrics_samples": ("--evaluate or --compare_with", scores),
            "classifier_cache": ("--evaluate, --evaluate_npz, --compare_with or"
                                 " --nearest_neighbours", config.reads_classifier_cache),
            "compare_logs": ("--compare_with", bool(config.compare_with)),
            "walk_points": ("--visualize --visualize_option walk", walks),
            "walk_interpolation": ("--visualize --visualize_option walk", walks),
            "arithmetic": ("--visualize --visualize_option arithmetic",
                           config.visualizes("arithmetic")),
            "visualize_option": ("--visualize", config.visualize),
            "probe_labels": ("--linear_probe", config.linear_probe),
            "probe_dataset": ("--linear_probe", config.linear_probe)}


# Flags only training reads: typed in test mode, they are said to be unread (a
# training command with --train left out trains nothing; the log says so).
# The stabilizers' are checked against the run's record there all the same.
TRAINING_ONLY_FLAGS = (
    "epoch", "train_size", "sample_freq", "ckpt_freq", "max_to_keep", "G_img_sum",
    "original_loss_eval", "xla", "strategy", "sync_bn", "logical_cpus", "intra_op_threads",
    "steps_per_call", "mixed_precision", "learning_rate", "beta1", "beta2", "d_learning_rate",
    "g_learning_rate", "g_updates", "n_critic", "clip_value", "lambda_gp", "ls_abc",
    "divergence", "stabilized", "ema_start", "diffaugment", "r1_gamma", "r1_every")


def training_flags_of(config, typed):
    """The flags typed that test mode does not read (TRAINING_ONLY_FLAGS; the
    linear probe's supervised baseline reads --learning_rate and --beta1)."""
    read = ("learning_rate", "beta1") if config.linear_probe else ()
    return [name for name in TRAINING_ONLY_FLAGS if name in typed and name not in read]


def with_defaults(config, typed):
    """`config` with its --model's script defaults, then --stabilized's parts (its
    loss among them), then its --loss's, wherever no flag was typed (a flag
    typed wins)."""
    defaults = {}
    if config.model in systems.SYSTEMS:
        defaults.update(systems.SYSTEMS[config.model].defaults)
    if config.stabilized:
        defaults.update(systems.STABILIZED)
    loss = defaults.get("loss", config.loss) if "loss" not in typed else config.loss
    if loss in systems.LOSSES:
        defaults.update(systems.LOSSES[loss].defaults)
    defaults = {name: value for name, value in defaults.items() if name not in typed}
    if "output_height" in defaults and "output_width" not in typed:
        defaults["output_width"] = defaults["output_height"]
    return dataclasses.replace(config, **defaults) if defaults else config


# A stabilizer's flag that only means something with another: (what it needs,
# whether this command has it).
def _parts_reading(config):
    return {"ema_start": ("--ema_decay", config.ema_decay > 0),
            "r1_every": ("--r1_gamma", config.r1_gamma > 0)}


def check_typed(config, typed):
    """Raises ValueError for a flag typed that this command would ignore: one the
    run's system does not read (systems.check_typed), one read by a test-mode
    action the command does not run, or a stabilizer's setting without it."""
    systems.check_typed(config, typed)
    for flag, (needs, there) in _parts_reading(config).items():
        if flag in typed and not there:
            raise ValueError(f"--{flag} sets {needs}'s part, which this command does not turn"
                             f" on; add {needs}, or drop --{flag}.")
    for flag, (action, running) in _actions_reading(config).items():
        if flag in typed and not running:
            raise ValueError(f"--{flag} is read by {action}, which this command does not"
                             f" run; add it, or drop --{flag}.")


def of_command_line(values, typed):
    """The Config of a command line: `values` (every field's, as the flags hold
    them) and `typed` (the names of the flags typed): the --model's and --loss's
    defaults where none was typed, every flag typed checked to be read, every
    value validated."""
    config = with_defaults(Config(**values), frozenset(typed)).validate()
    check_typed(config, frozenset(typed))
    return config
