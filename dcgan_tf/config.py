"""The one frozen config a run is driven by, built from the flags in main.py.

`validate()` rejects every bad combination with a message that names the fix,
before any data is read or any graph is traced. `RunPaths` lays out where a
run writes; see the README's "Output layout".
"""

import dataclasses
import json
import math
import os

from dcgan_tf import data
from dcgan_tf import distribute
from dcgan_tf import latent
from dcgan_tf import objectives
from dcgan_tf import systems
from dcgan_tf import visualize


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
    mixed_precision: bool = False
    # Ours, the family (--model): PyTorch-GAN's scripts' options under their names.
    model: str = "dcgan"
    beta2: float = 0.999
    n_critic: int = 5
    clip_value: float = 0.01
    lambda_gp: float = 10.0
    n_classes: int = 10
    # Ours, the objectives (--loss; empty: the model's own).
    loss: str = ""
    ls_abc: str = "0,1,1"
    divergence: str = "kl"
    # The flags given on the command line (main.py fills it): a --model's
    # defaults give way to them, and a flag that doesn't apply is an error.
    given_flags: tuple = ()
    # Ours, test mode: what to do with a trained generator.
    visualize_option: str = "1"
    generate: int = 0
    generate_png: bool = False
    evaluate: bool = False
    evaluate_npz: str = ""
    metrics_samples: int = 10000
    classifier_cache: str = ""
    compare_with: str = ""
    compare_logs: str = ""

    def __post_init__(self):
        # The original's "None means the same as height" defaults.
        if self.input_width is None:
            object.__setattr__(self, "input_width", self.input_height)
        if self.output_width is None:
            object.__setattr__(self, "output_width", self.output_height)

    @property
    def family(self):
        """True for PyTorch-GAN's systems (every --model but dcgan)."""
        return self.model != "dcgan"

    @property
    def system(self):
        return systems.SYSTEMS.get(self.model)

    @property
    def conditional(self):
        if self.family:
            return self.system is not None and self.system.conditional
        return data.is_idx_dataset(self.dataset)

    @property
    def loss_setting(self):
        return systems.LOSSES.get(self.loss)

    @property
    def ls_targets(self):
        """--ls_abc as floats (a, b, c)."""
        return tuple(float(value) for value in self.ls_abc.split(","))

    def with_model_defaults(self):
        """This config with the --model's script defaults, then the --loss's, wherever
        the command line gave no value (a flag given wins)."""
        defaults = {}
        if self.family and self.system is not None:
            defaults.update(self.system.defaults)
        if self.loss_setting is not None:
            defaults.update(self.loss_setting.defaults)
        defaults = {name: value for name, value in defaults.items()
                    if name not in self.given_flags}
        if not defaults:
            return self
        if "output_height" in defaults and "output_width" not in self.given_flags:
            defaults["output_width"] = defaults["output_height"]
        return dataclasses.replace(self, **defaults)

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
        # A --loss other than the model's own names its own run.
        loss = "" if not self.loss else "." + (f"fgan_{self.divergence}" if self.loss == "fgan"
                                               else self.loss)
        if self.family:
            return (f"{self.dataset}_{self.model}.s{self.output_width}.z{self.z_dim}"
                    f".b{self.batch_size}{loss}")
        return (f"{self.dataset}_x{self.input_width}.z{self.z_dim}.{self.z_dist}"
                f".y{self.output_width}.b{self.batch_size}{loss}")

    def validate(self):
        """Raises ValueError naming the fix for any flag value that can't work."""
        positive = ("epoch", "batch_size", "input_height", "input_width", "output_height",
                    "output_width", "max_to_keep", "sample_freq", "ckpt_freq", "z_dim",
                    "gf_dim", "df_dim", "gfc_dim", "dfc_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}.")
        if not self.train_size >= 1:
            raise ValueError(f"--train_size must be at least 1, got {self.train_size}.")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning_rate must be positive, got {self.learning_rate}.")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"--beta1 must be in [0, 1), got {self.beta1}.")
        if self.visualize_option not in visualize.OPTIONS + ("all",):
            raise ValueError(f"Unknown --visualize_option={self.visualize_option!r}; use one of"
                             f" {', '.join(visualize.OPTIONS)} or all.")
        if self.generate < 0 or self.metrics_samples < 1:
            raise ValueError("--generate must be >= 0 and --metrics_samples >= 1.")
        if (self.evaluate or self.evaluate_npz) and not data.is_idx_dataset(self.dataset):
            raise ValueError("--evaluate scores MNIST-style models (--dataset mnist or"
                             " fashion_mnist): its classifier is trained on that data set.")
        if self.train and (self.visualize or self.generate or self.evaluate or self.export
                           or self.freeze or self.compare_with or self.evaluate_npz):
            raise ValueError("--visualize, --generate, --evaluate, --compare_with, --export and"
                             " --freeze are test-mode actions: run them without --train.")
        if self.z_dist not in latent.Z_DISTRIBUTIONS:
            raise ValueError(f"Unknown --z_dist={self.z_dist!r}; use one of"
                             f" {', '.join(latent.Z_DISTRIBUTIONS)}.")
        if not self.dataset:
            raise ValueError("--dataset is empty; name a folder under --data_dir, or mnist.")
        if self.model not in systems.MODELS:
            raise ValueError(f"Unknown --model={self.model!r}; use one of"
                             f" {', '.join(systems.MODELS)}.")
        self._validate_model_flags()
        if self.family:
            return self._validate_family()
        if self.conditional and (self.output_height, self.output_width) != (28, 28):
            raise ValueError(
                f"{self.dataset} images are 28x28, but --output_height={self.output_height}"
                f" --output_width={self.output_width}; pass --input_height=28"
                " --output_height=28, as the original's README does.")
        if self.conditional and self.crop:
            raise ValueError(f"--crop does not apply to {self.dataset} (its digits are 28x28"
                             " already); drop --crop.")
        if self.conditional:
            for name in ("output_height", "output_width"):
                if getattr(self, name) % 4:
                    raise ValueError(f"--{name} must be a multiple of 4 for the conditional"
                                     " model.")
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(f"Unknown --strategy={self.strategy!r}; use one of"
                             f" {', '.join(distribute.STRATEGIES)}.")
        if self.sync_bn and self.strategy == "default":
            raise ValueError("--sync_bn synchronizes batch norm over the replicas of --strategy"
                             " mirrored or multi_worker; with one device it has nothing to do."
                             " Drop it, or pass --strategy.")
        if self.xla and self.strategy != "default":
            raise ValueError(f"--xla compiles one device's iteration and cannot span the"
                             f" replicas of --strategy {self.strategy}; drop one of them.")
        if self.logical_cpus < 0:
            raise ValueError(f"--logical_cpus must be >= 0, got {self.logical_cpus}.")
        if os.sep in self.run_name() or self.run_name() in (".", ".."):
            raise ValueError(f"--out_name={self.out_name!r} must be a plain folder name.")
        return self

    def _validate_model_flags(self):
        """A flag given that the chosen --model and --loss do not read is an error."""
        given = set(self.given_flags)
        if self.loss and self.loss not in systems.LOSSES:
            raise ValueError(f"Unknown --loss={self.loss!r}; use one of"
                             f" {', '.join(systems.LOSSES)}.")
        applicable = systems.applicable_flags(self.model, self.loss)
        for flag in systems.OPTIONAL_FLAGS:
            if flag in given and flag not in applicable:
                chosen = f"--model {self.model}" + (f" --loss {self.loss}" if self.loss else "")
                raise ValueError(f"--{flag} does not apply to {chosen} (it is read by"
                                 f" {systems.readers_of(flag)}); drop it.")
        if self.loss == "lsgan":
            try:
                if len(self.ls_targets) != 3:
                    raise ValueError
            except ValueError:
                raise ValueError(f"--ls_abc takes three numbers a,b,c (fake target, real target,"
                                 f" G's target), e.g. 0,1,1 or -1,1,0; got {self.ls_abc!r}.")
        if self.loss == "fgan" and self.divergence not in objectives.DIVERGENCES:
            raise ValueError(f"Unknown --divergence={self.divergence!r}; use one of"
                             f" {', '.join(objectives.DIVERGENCES)}.")
        if self.loss and self.original_loss_eval:
            raise ValueError("--original_loss_eval re-runs the original's own losses; drop it"
                             " with --loss.")
        if not self.family:
            return
        wrong = [f for f in systems.DCGAN_ONLY_FLAGS if f in given]
        if wrong:
            raise ValueError(f"--{wrong[0]} is a flag of carpedm20's DCGAN, which --model"
                             f" {self.model} does not read; drop it (the family's sizes come"
                             " from --output_height, its widths from the script).")

    def _validate_family(self):
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(f"Unknown --strategy={self.strategy!r}; use one of"
                             f" {', '.join(distribute.STRATEGIES)}.")
        if self.output_height != self.output_width:
            raise ValueError(f"--model {self.model} makes square images: pass --output_height"
                             " alone.")
        if self.system.networks.endswith("conv") and self.output_height % 16:
            raise ValueError(f"--model {self.model}'s conv nets halve the image 4 times: its"
                             f" --output_height must be a multiple of 16, got"
                             f" {self.output_height}.")
        if self.system.conditional and not data.is_idx_dataset(self.dataset):
            raise ValueError(f"--model {self.model} is conditional and needs labelled data:"
                             f" --dataset mnist or fashion_mnist (an image folder such as"
                             f" {self.dataset!r} has no labels). Use an unconditional model"
                             " (gan, wgan, wgan_gp, lsgan) for a folder.")
        if self.system.conditional and self.n_classes != data.IDX_CLASSES:
            raise ValueError(f"{self.dataset} has {data.IDX_CLASSES} classes; --n_classes must"
                             f" be {data.IDX_CLASSES}, got {self.n_classes}.")
        if self.beta2 is not None and not 0 <= self.beta2 < 1:
            raise ValueError(f"--beta2 must be in [0, 1), got {self.beta2}.")
        if self.n_critic < 1 or self.clip_value <= 0 or self.lambda_gp < 0:
            raise ValueError("--n_critic must be >= 1, --clip_value > 0 and --lambda_gp >= 0.")
        if self.compare_with:
            raise ValueError("--compare_with compares a run with an original carpedm20 TF1 run;"
                             " it needs --model dcgan.")
        if os.sep in self.run_name() or self.run_name() in (".", ".."):
            raise ValueError(f"--out_name={self.out_name!r} must be a plain folder name.")
        return self

    def to_json(self):
        values = dataclasses.asdict(self)
        values["train_size"] = None if math.isinf(self.train_size) else self.train_size
        return json.dumps(values, indent=4, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where one run writes.

    Default (the design card's layout): checkpoints, TensorBoard logs and
    FLAGS.json in <checkpoint_dir>/<run>/, samples in <sample_dir>/<run>/.
    With --out_dir, as the original: everything under <out_dir>/<run>/, with
    <checkpoint_dir>, <sample_dir> and logs/ inside it; an absolute (or `~`)
    --checkpoint_dir / --sample_dir is used as given, as the original's
    `os.path.join(out_dir, checkpoint_dir)` does.
    """

    run_dir: str
    checkpoint_dir: str
    sample_dir: str
    log_dir: str

    @property
    def flags_json(self):
        return os.path.join(self.run_dir, "FLAGS.json")

    @property
    def model_json(self):
        return os.path.join(self.checkpoint_dir, "model.json")

    @classmethod
    def for_run(cls, config, run_name=None):
        run_name = run_name or config.run_name()
        if config.out_dir:
            run_dir = os.path.join(expand_path(config.out_dir), run_name)
            return cls(run_dir=run_dir,
                       checkpoint_dir=os.path.join(run_dir, expand_path(config.checkpoint_dir)),
                       sample_dir=os.path.join(run_dir, expand_path(config.sample_dir)),
                       log_dir=os.path.join(run_dir, "logs"))
        run_dir = os.path.join(expand_path(config.checkpoint_dir), run_name)
        return cls(run_dir=run_dir, checkpoint_dir=run_dir,
                   sample_dir=os.path.join(expand_path(config.sample_dir), run_name),
                   log_dir=os.path.join(run_dir, "logs"))

    @classmethod
    def of_folder(cls, config, folder):
        """A run folder of ours that --checkpoint_dir names directly (test mode);
        samples go where that run's name would put them."""
        name = os.path.basename(os.path.normpath(folder))
        return cls(run_dir=folder, checkpoint_dir=folder,
                   sample_dir=cls._samples_of(config, name),
                   log_dir=os.path.join(folder, "logs"))

    @staticmethod
    def _samples_of(config, name):
        if config.out_dir:
            return os.path.join(expand_path(config.out_dir), name, expand_path(config.sample_dir))
        return os.path.join(expand_path(config.sample_dir), name)

    @classmethod
    def continuing_original(cls, config, original_dir):
        """A run that continues an original TF1 checkpoint folder: our files go to
        its `tf2/` subfolder (never beside the original's, which stay untouched),
        samples to <sample_dir>/<folder name>."""
        run_dir = os.path.join(original_dir, "tf2")
        name = os.path.basename(os.path.normpath(original_dir))
        return cls(run_dir=run_dir, checkpoint_dir=run_dir,
                   sample_dir=cls._samples_of(config, name),
                   log_dir=os.path.join(run_dir, "logs"))

