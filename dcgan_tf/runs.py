"""One run's folder: where it writes (RunPaths), the flags it was started with
(FLAGS.json) and every invocation's (flags_history.jsonl), the model it trains
(model.json), its seed, and how test mode finds it. Every file of ours is
written whole or not at all.
"""

import dataclasses
import json
import os
import random
import time

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import files
from dcgan_tf import tf1_checkpoint
from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan

_expand = config_lib.expand_path


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
            run_dir = os.path.join(_expand(config.out_dir), run_name)
            return cls(run_dir=run_dir,
                       checkpoint_dir=os.path.join(run_dir, _expand(config.checkpoint_dir)),
                       sample_dir=os.path.join(run_dir, _expand(config.sample_dir)),
                       log_dir=os.path.join(run_dir, "logs"))
        run_dir = os.path.join(_expand(config.checkpoint_dir), run_name)
        return cls(run_dir=run_dir, checkpoint_dir=run_dir,
                   sample_dir=os.path.join(_expand(config.sample_dir), run_name),
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
            return os.path.join(_expand(config.out_dir), name, _expand(config.sample_dir))
        return os.path.join(_expand(config.sample_dir), name)

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


def make_output_dirs(paths):
    for directory in (paths.checkpoint_dir, paths.sample_dir, paths.log_dir):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise files.folder_not_created(directory, error) from error
        if not os.access(directory, os.W_OK):
            raise files.OutputWriteError(
                f"The output folder {directory} is not writable. Pass a writable"
                " --checkpoint_dir/--sample_dir/--out_dir.")


class DamagedRunFileError(ValueError):
    """A file this program wrote into a run folder no longer reads back."""


def read_json_object(path, what):
    """A JSON object of ours (FLAGS.json, model.json); a damaged one is an error
    naming the file, what it holds and how to get it back."""
    try:
        with open(path, "rb") as f:
            values = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        values = error
    if not isinstance(values, dict):
        cause = values if isinstance(values, Exception) else f"a JSON {type(values).__name__}"
        raise DamagedRunFileError(
            f"{path} is damaged ({cause}; it should hold {what} as one JSON object). Restore it"
            " from a backup or from another copy of the run, or move the run folder away and"
            " pass --out_name to start a new run.")
    return values


def read_flags(path):
    """The flags a run was started with (its FLAGS.json)."""
    return read_json_object(path, "the flags the run was started with")


def with_run_seed(config, paths):
    """The seed a run was started with (recorded in its FLAGS.json), or a new one."""
    if config.seed is not None:
        return config
    if os.path.exists(paths.flags_json):
        seed = read_flags(paths.flags_json).get("seed")
        if seed is not None:
            if not isinstance(seed, int) or not 0 <= seed < 2**32:
                raise DamagedRunFileError(
                    f"{paths.flags_json} records \"seed\": {seed!r}, which no run can have"
                    " (--seed is in [0, 2**32)). Pass the run's --seed, or fix the file.")
            return dataclasses.replace(config, seed=seed)
    return dataclasses.replace(config, seed=random.SystemRandom().randrange(2**31))


def record_flags(config, paths, log):
    """FLAGS.json keeps the flags the run was started with; every invocation,
    the first included, appends its flags to flags_history.jsonl with the
    iteration it starts from. A resumed run with other flags says which: they
    take effect from that iteration on (the model's shape can't change)."""
    flags = json.loads(config.to_json())
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    start = tf1_checkpoint.iteration_of(latest) if latest else 0
    changed = {}
    if os.path.exists(paths.flags_json):
        first = read_flags(paths.flags_json)
        # Flags a run's FLAGS.json lacks (added by a later version) are not changes.
        changed = {name: [first[name], value] for name, value in flags.items()
                   if name in first and first[name] != value and name != "given_flags"}
        if changed:
            log(f" [*] Resuming after iteration {start} with flags that differ from the run's"
                f" (FLAGS.json): " + ", ".join(f"--{name} {old!r} -> {new!r}"
                                               for name, (old, new) in changed.items()))
    else:
        files.write_text(paths.flags_json, config.to_json())
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_iteration": start,
             "changed_from_FLAGS.json": changed, "flags": flags}
    files.append_line(os.path.join(paths.run_dir, "flags_history.jsonl"),
                      json.dumps(entry, sort_keys=True))


def read_model_config(path):
    """The model.json of a run: carpedm20's ModelConfig, or a family model's."""
    values = read_json_object(path, "the shapes of the run's networks")
    try:
        if "model" in values:
            return pytorch_gan.FamilyModelConfig(**values)
        return carpedm20.ModelConfig(**values)
    except TypeError as error:
        raise DamagedRunFileError(
            f"{path} does not describe a model of this program ({error}). Restore it from a"
            " backup or another copy of the run.") from error


def model_name(model_config):
    """The --model a model config belongs to."""
    return getattr(model_config, "model", "dcgan")


def model_loss(model_config):
    """The --loss a model config was built for ('' for carpedm20's, which keeps
    what the loss changes in the config itself: its critic_norm)."""
    return getattr(model_config, "loss", "")


def original_checkpoint_in(config):
    """The original TF1 checkpoint that --checkpoint_dir names directly, or None."""
    if config.given_checkpoint_dir is None or config.model != "dcgan":
        return None
    latest = checkpoints.latest_checkpoint(config.given_checkpoint_dir)
    if latest and tf1_checkpoint.is_tf1_checkpoint(latest):
        return latest
    return None


def find_run(config):
    """Test mode's run: the one the same flags would train, else the only run of
    this data set, else an error listing the candidates."""
    paths = RunPaths.for_run(config)
    if os.path.exists(paths.model_json):
        return paths
    if checkpoints.latest_checkpoint(paths.checkpoint_dir):
        raise DamagedRunFileError(
            f"{paths.checkpoint_dir} holds checkpoints but no model.json (it says which"
            " networks they hold; training writes it when it starts). Restore it from a"
            " backup, or rerun this run's training command (its flags are in"
            f" {paths.flags_json}) with --epoch at the epoch it reached: that rewrites"
            " model.json and trains no further.")
    root = os.path.dirname(paths.run_dir)
    candidates = sorted(
        name for name in (os.listdir(root) if os.path.isdir(root) else [])
        if name.startswith(config.dataset + "_")
        and os.path.exists(RunPaths.for_run(config, name).model_json))
    if len(candidates) == 1:
        return RunPaths.for_run(config, candidates[0])
    if not candidates:
        raise FileNotFoundError(
            f"No trained run for --dataset={config.dataset} in {root}: train one first"
            " (add --train), or point --checkpoint_dir at a checkpoint folder.")
    raise FileNotFoundError(
        f"Several runs of {config.dataset} in {root}: {', '.join(candidates)}."
        " Name one with --out_name.")
