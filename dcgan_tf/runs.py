"""One run's folder: where it writes (RunPaths), the flags it was started with
(FLAGS.json) and every invocation's (flags_history.jsonl), how it was trained
(model.json: run_record), its seed, and how test mode finds it. Every file of ours is
written whole or not at all.
"""

import dataclasses
import json
import math
import os
import random
import time

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import files
from dcgan_tf import run_record
from dcgan_tf import tf1_checkpoint

_expand = config_lib.expand_path


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where one run writes.

    Default: checkpoints, TensorBoard logs and FLAGS.json in
    <checkpoint_dir>/<run>/, samples in <sample_dir>/<run>/.
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


def recorded_seed(paths):
    """The seed a run was started with (its record, or an older run's FLAGS.json),
    or None."""
    if os.path.exists(paths.model_json):
        return run_record.read(paths.model_json, paths.flags_json).seed
    if os.path.exists(paths.flags_json):
        seed = run_record.read_flags(paths.flags_json).get("seed")
        if seed is not None and not 0 <= seed < 2**32:
            raise run_record.DamagedRunFileError(
                f"{paths.flags_json} records \"seed\": {seed!r}, which no run can have"
                " (--seed is in [0, 2**32)). Pass the run's --seed, or fix the file.")
        return seed
    return None


def starts(paths):
    """Every start of the run, as flags_history.jsonl keeps them: {"start_iteration",
    "flags", "data" (what its data set held; not in older lines), ...} each.
    A damaged line is an error naming it."""
    history = os.path.join(paths.run_dir, "flags_history.jsonl")
    if not os.path.exists(history):
        return []
    entries = []
    with open(history, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:  # a line cut short, or values no start writes
                entry = json.loads(line)
                if not isinstance(entry["start_iteration"], int):
                    raise TypeError(f"it starts at {entry['start_iteration']!r}")
                if entry["flags"]["train_size"] is not None:  # null: every image
                    float(entry["flags"]["train_size"])
                contents = entry.get("data", {"examples": 0, "sha256": ""})
                if not (isinstance(contents["examples"], int)
                        and isinstance(contents["sha256"], str)):
                    raise TypeError(f"its data is {contents!r}")
                for folder in (entry.get("data_dir", ""), entry["flags"].get("data_dir", "")):
                    if not isinstance(folder, str):
                        raise TypeError(f"its data folder is {folder!r}")
            except (ValueError, KeyError, TypeError) as error:
                raise run_record.damaged(
                    history, f"line {number} is not a start's flags: {error!r}",
                    "It says which images each start trained on; restore it, or delete"
                    " the damaged line if no start of the run passed --train_size or"
                    " trained on other data.") from error
            entries.append(entry)
    return entries


def starts_that_trained(paths):
    """The starts whose training the run's state holds: a start that a later
    one began at or before (it saved nothing past it: stopped by a NaN or an
    error, or its checkpoints were deleted) is left out."""
    entries = starts(paths)
    return [entry for number, entry in enumerate(entries)
            if all(later["start_iteration"] > entry["start_iteration"]
                   for later in entries[number + 1:])]


def largest_train_size(paths, record):
    """The most images per epoch any start of the run drew (--train_size; inf:
    every image): of every start in flags_history.jsonl, and of the record."""
    def images_per_epoch(size):
        return math.inf if size is None else float(size)

    sizes = [images_per_epoch(record.settings.get("train_size"))]
    sizes += [images_per_epoch(entry["flags"]["train_size"])
              for entry in starts_that_trained(paths)]
    return max(sizes)


def data_changed(paths, contents, last_start_only=False):
    """How the data set the run's starts trained on differs from `contents` (a
    data reader's), as a phrase, or None: of any such start, or of its last
    that recorded one. Starts before this was recorded are taken as the same."""
    recorded = [entry for entry in starts_that_trained(paths) if "data" in entry]
    differing = [entry for entry in (recorded[-1:] if last_start_only else recorded)
                 if entry["data"] != contents]
    if not differing:
        return None
    entry = differing[-1]
    then, now = entry["data"]["examples"], contents["examples"]
    held = (f"{then:,} images then, {now:,} now" if then != now else
            f"{then:,} images then and now, but not the same ones")
    return (f"its start at iteration {entry['start_iteration']} trained on another data set:"
            f" {held} (flags_history.jsonl)")


def reading_where_it_trained(config, typed, paths):
    """`config` reading its data set where the run's last start trained on it
    (flags_history.jsonl), where no --data_dir is typed and the data set is
    there: a run trained with --data_dir ../datasets resumes, and test mode
    scores or probes it, on the same images without the flag (the default,
    ./data, held another copy, or none: an error, or a download)."""
    trained = starts_that_trained(paths)
    if "data_dir" in typed or not trained:
        return config
    last = trained[-1]
    as_typed = config_lib.expand_path(last["flags"].get("data_dir", ""))
    folder = last.get("data_dir", os.path.abspath(as_typed))  # older lines: from here
    unknown = not as_typed and "data_dir" not in last
    if unknown or os.path.abspath(config_lib.expand_path(config.data_dir)) == folder:
        return config
    dataset_folder = (data.idx_dataset_dir(folder, config.dataset)
                      if data.is_idx_dataset(config.dataset)
                      else os.path.join(folder, config.dataset))
    if not os.path.isdir(dataset_folder):
        return config  # moved or gone: the flags' folder, whose errors name it
    # As typed where that still names it (FLAGS.json then sees no change).
    kept = (last["flags"]["data_dir"] if as_typed and os.path.abspath(as_typed) == folder
            else folder)
    return dataclasses.replace(config, data_dir=kept)


def with_run_seed(config, paths):
    """The seed a run was started with, or a new one."""
    if config.seed is not None:
        return config
    seed = recorded_seed(paths)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    return dataclasses.replace(config, seed=seed)


def record_flags(config, paths, log, data_contents=None):
    """FLAGS.json keeps the flags the run was started with (a start over a folder
    without a checkpoint writes it anew: the start that wrote it saved
    nothing); every invocation, the first included, appends its flags to
    flags_history.jsonl with the iteration it starts from. A resumed run with
    other flags says which: they take effect from that iteration on (the
    model's shape can't change). `data_contents` (the data reader's) is kept
    with them: which examples the start trained on."""
    flags = json.loads(config.to_json())
    latest = checkpoints.latest_checkpoint(paths.checkpoint_dir)
    start = tf1_checkpoint.iteration_of(latest) if latest else 0
    changed = {}
    if latest and os.path.exists(paths.flags_json):
        first = run_record.read_flags(paths.flags_json)
        # Flags a run's FLAGS.json lacks (added by a later version) are not changes.
        changed = {name: [first[name], value] for name, value in flags.items()
                   if name in first and first[name] != value}
        if changed:
            log(f" [*] Resuming after iteration {start} with flags that differ from the run's"
                " (FLAGS.json): " + ", ".join(run_record.change_as_typed(name, old, new)
                                              for name, (old, new) in changed.items()))
    else:
        files.write_text(paths.flags_json, config.to_json())
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_iteration": start,
             "changed_from_FLAGS.json": changed, "flags": flags,
             "data_dir": os.path.abspath(config_lib.expand_path(config.data_dir))}
    if data_contents is not None:
        entry["data"] = data_contents
    files.append_line(os.path.join(paths.run_dir, "flags_history.jsonl"),
                      json.dumps(entry, sort_keys=True))


def continues_original(paths):
    """Whether the run at `paths` continues an original TF1 run (its tf2/ folder:
    the iterations before ours were the original code's)."""
    parent, name = os.path.split(os.path.normpath(paths.run_dir))
    latest = checkpoints.latest_checkpoint(parent) if name == "tf2" else None
    return bool(latest and tf1_checkpoint.is_tf1_checkpoint(latest))


def original_checkpoint_in(config):
    """The original TF1 checkpoint that --checkpoint_dir names directly, or None.
    A family model is refused one: it would train or look for its own runs
    beside it, not continue or sample it."""
    if config.given_checkpoint_dir is None:
        return None
    latest = checkpoints.latest_checkpoint(config.given_checkpoint_dir)
    if not (latest and tf1_checkpoint.is_tf1_checkpoint(latest)):
        return None
    if config.model != "dcgan":
        raise ValueError(
            f"--checkpoint_dir {config.given_checkpoint_dir} holds an original TF1 run of"
            f" carpedm20's DCGAN, which --model {config.model} (another system) can neither"
            " continue nor sample. Drop --model to use it, or pass another --checkpoint_dir.")
    return latest


def find_run(config, typed=frozenset(), log=print):
    """Test mode's run and its record: the run these flags name (--out_name, or
    the name the same flags would train under), else the one run of this data
    set whose record fits every flag given (said in the log, with why), else an
    error listing the runs there and how each was trained."""
    paths = RunPaths.for_run(config)
    if os.path.exists(paths.model_json):
        return paths, run_record.read(paths.model_json, paths.flags_json)
    if checkpoints.latest_checkpoint(paths.checkpoint_dir):
        raise run_record.DamagedRunFileError(
            f"{paths.checkpoint_dir} holds checkpoints but no model.json (it says how the run"
            " was trained and which networks they hold; training writes it when it starts)."
            " Restore it from a backup, or rerun this run's training command (its flags are"
            f" in {paths.flags_json}) with --epoch at the epoch it reached: that rewrites"
            " model.json and trains no further.")
    root = os.path.dirname(paths.run_dir)
    runs_here = _runs_of_dataset(config, root)
    if config.out_name:
        raise FileNotFoundError(
            f"--out_name {config.out_name} names no trained run in {root}"
            + (f"; the runs of {config.dataset} there: {', '.join(runs_here)}." if runs_here
               else ".") + " Train it first (add --train), or name another.")
    fitting = {name: record for name, record in runs_here.items()
               if not run_record.contradictions(config, typed, record, resuming=False)}
    if len(fitting) == 1:
        (name, record), = fitting.items()
        log(f" [*] Using the run {name}: no run is named {config.run_name()} (what these flags"
            f" would train), and it is the one run of {config.dataset} in {root} that they fit"
            f" ({record.describe()})")
        return RunPaths.for_run(config, name), record
    listed = "; ".join(f"{name} ({record.describe()})" for name, record in runs_here.items())
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"No trained run for --dataset={config.dataset}: {root} does not exist. Train one"
            " first (add --train), or point --checkpoint_dir at a checkpoint folder that"
            " exists.")
    if not runs_here:
        raise FileNotFoundError(
            f"No trained run for --dataset={config.dataset} in {root}: train one first"
            " (add --train), or point --checkpoint_dir at a checkpoint folder.")
    if not fitting:
        raise FileNotFoundError(
            f"No run of {config.dataset} in {root} was trained as these flags ask: {listed}."
            " Name one with --out_name (test mode takes the rest from its record), or train"
            " one first.")
    raise FileNotFoundError(
        f"Several runs of {config.dataset} in {root} fit these flags: "
        + "; ".join(f"{name} ({record.describe()})" for name, record in fitting.items())
        + ". Name one with --out_name.")


def _runs_of_dataset(config, root):
    """{run folder name: its record} of the runs of config.dataset under `root`
    (by their record; by their name where an older record does not know it).
    Folders whose model.json does not read are left out: they are not named."""
    found = {}
    for name in sorted(os.listdir(root) if os.path.isdir(root) else []):
        paths = RunPaths.for_run(config, name)
        if not os.path.isfile(paths.model_json):
            continue
        try:
            record = run_record.read(paths.model_json, paths.flags_json)
        except ValueError:
            continue
        known = "dataset" not in record.assumed
        if (record.dataset == config.dataset if known
                else name.startswith(config.dataset + "_")):
            found[name] = record
    return found
