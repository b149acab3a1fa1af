"""Native checkpoints: one tf.train.Checkpoint with everything needed to resume.

Files are named as the original names its own (`model.b64-1200.index`). A new
checkpoint is read back whole before any older one is deleted, so an intact
one always exists (the cost: one checkpoint more on disk while a save is
verified). Reading finds the newest checkpoint that reads back whole; a
damaged one is skipped with a warning naming its files, and set aside (its
files renamed `*.damaged`, never deleted) by the training that holds the run.
"""

import glob
import os
import re
import shutil

import tensorflow as tf
from tensorflow.python.util import deprecation

from dcgan_tf import files

DAMAGED_SUFFIX = ".damaged"
STAGING = ".saving-"  # a save in progress: <run>/.saving-<iteration>/


class DamagedCheckpointsError(ValueError):
    """A folder holds checkpoint files, but none of them reads back whole."""


class NonFiniteStateError(ValueError):
    """Weights, batch-norm statistics or optimizer state hold NaN or inf."""


def non_finite(variables_by_owner):
    """{owner: [names of its variables holding NaN or inf]} of {owner: [variables]}
    (floating-point variables only), owners with none left out."""
    found = {}
    for owner, variables in variables_by_owner.items():
        bad = [variable.name.split(":")[0] for variable in variables
               if variable.dtype.is_floating
               and not bool(tf.reduce_all(tf.math.is_finite(variable)))]
        if bad:
            found[owner] = bad
    return found


def describe_non_finite(found, shown=4):
    """'generator: g_bn0/moving_variance, g_bn1/moving_variance' for `non_finite`'s
    result; a name many tensors share (an optimizer's slots) once, counted."""
    parts = []
    for owner, names in found.items():
        counted = {name: names.count(name) for name in dict.fromkeys(names)}
        listed = [f"{name} ({count} tensors)" if count > 1 else name
                  for name, count in counted.items()]
        more = f" and {len(listed) - shown} more" if len(listed) > shown else ""
        parts.append(f"{owner}: {', '.join(listed[:shown])}{more}")
    return "; ".join(parts)


def check_finite(checkpoint, variables_by_owner, log=None):
    """Refuses a restored checkpoint whose variables hold NaN or inf (written
    before training checked its state): every output of it would be wrong."""
    found = non_finite(variables_by_owner)
    if found:
        raise NonFiniteStateError(
            f"{checkpoint} holds NaN or inf ({describe_non_finite(found)}): every image its"
            " generator makes would be wrong, so it is not used. It was written by a training"
            " that did not check its state; train the run again (--out_name for a new run),"
            " with a lower --learning_rate if it diverged.")


def checkpoint_prefix(batch_size):
    """The original's file name stem: 'model.b<batch_size>'."""
    return f"model.b{batch_size}"


def iteration_of(prefix):
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def files_of(prefix):
    """The files a checkpoint is made of: its index and its data shards."""
    return sorted(glob.glob(glob.escape(prefix) + ".index")
                  + glob.glob(glob.escape(prefix) + ".data-?????-of-?????"))


def gone(prefix):
    """Whether a checkpoint's files are no longer all there: its index, or one of
    its data shards, is missing (a training dropped it, keeping its newest
    --max_to_keep)."""
    there = files_of(prefix)
    shards = [path for path in there if path != prefix + ".index"]
    if len(shards) == len(there) or not shards:
        return True
    return len(shards) < int(shards[0].rsplit("-of-", 1)[1])


def damage(prefix):
    """Why the checkpoint at `prefix` does not read back whole, or None: every
    tensor is read (the bundle's checksums are checked on each read)."""
    if not os.path.exists(prefix + ".index"):
        return "its .index file is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, OSError, IndexError) as error:
        return getattr(error, "message", str(error)).splitlines()[0]
    return None


def epoch_position(prefix):
    """(epoch, batch within it) where the checkpoint at `prefix` stands: the
    batches its run's epochs took so far; None for a checkpoint without them
    (the original TF1 code's)."""
    reader = tf.train.load_checkpoint(prefix)
    keys = ("epoch/.ATTRIBUTES/VARIABLE_VALUE", "epoch_batch/.ATTRIBUTES/VARIABLE_VALUE")
    if not all(reader.has_tensor(key) for key in keys):
        return None
    return tuple(int(reader.get_tensor(key)) for key in keys)


def _prefixes_in(directory):
    """Every checkpoint prefix with a file in `directory`, newest first."""
    names = set()
    for path in glob.glob(os.path.join(glob.escape(directory), "*")):
        match = re.match(r"(.+?)\.(index|data-\d{5}-of-\d{5})$", os.path.basename(path))
        if match:
            names.add(os.path.join(directory, match.group(1)))
    return sorted(names, key=lambda p: (iteration_of(p), p), reverse=True)


def _set_aside_in(directory):
    """The files of damaged checkpoints set aside in `directory`, sorted."""
    return sorted(glob.glob(os.path.join(glob.escape(directory), "*" + DAMAGED_SUFFIX)))


def holds_any(directory):
    """Whether `directory` holds checkpoint files of ours, intact, damaged or set
    aside (a start that saved none left it without)."""
    return bool(_prefixes_in(directory) or _set_aside_in(directory))


def set_aside(prefix):
    """Renames a checkpoint's files to `*.damaged`; returns the new names."""
    moved = []
    for path in files_of(prefix):
        os.replace(path, path + DAMAGED_SUFFIX)
        moved.append(path + DAMAGED_SUFFIX)
    return moved


def newest_intact(directory, warn, set_aside_damaged=False):
    """The newest checkpoint in `directory` that reads back whole, or None when
    the folder holds no checkpoint at all. Damaged ones are skipped with a
    warning (and set aside with `set_aside_damaged`, for the training that
    holds the run); a folder whose checkpoint files are all damaged is an
    error, never a new start over them."""
    damaged = []
    for prefix in _prefixes_in(directory):
        reason = damage(prefix)
        if reason is None:
            if damaged and set_aside_damaged:
                _record_state(directory, prefix, [prefix])
            return prefix
        if not files_of(prefix):
            continue  # deleted while read (a training dropped its oldest): not damage
        names = ", ".join(os.path.basename(p) for p in files_of(prefix))
        if set_aside_damaged and os.path.exists(prefix + ".index"):
            moved = set_aside(prefix)
            warn(f" [!] Checkpoint {prefix} is damaged ({reason}): set aside as"
                 f" {', '.join(os.path.basename(p) for p in moved)}; trying an older one.")
        else:
            warn(f" [!] Checkpoint {prefix} is damaged ({reason}; files {names}): using an"
                 " older one.")
        damaged.append(prefix)
    left = _set_aside_in(directory)
    if damaged or left:
        raise DamagedCheckpointsError(
            f"{directory} holds checkpoint files but none reads back whole"
            f" ({', '.join(os.path.basename(p) for p in (damaged or left))}): the run cannot"
            " resume from them, and starting over would train in their place. Restore an"
            " intact copy from a backup, or move the damaged files away, or pass --out_name"
            " to start a new run.")
    return None


def intact_at(directory, iteration):
    """The checkpoint of `iteration` in `directory`, checked to read back whole;
    ValueError naming the iterations kept (--max_to_keep), or the damage."""
    found = [p for p in _prefixes_in(directory) if iteration_of(p) == iteration]
    if not found:
        kept = sorted({iteration_of(p) for p in _prefixes_in(directory)})
        raise ValueError(
            f"{directory} keeps no checkpoint of iteration {iteration}; it keeps those of"
            f" iteration{'s' if len(kept) > 1 else ''} {', '.join(map(str, kept)) or 'none'}"
            " (training keeps the newest --max_to_keep; 0 keeps them all). Pass one of those"
            " to --checkpoint_iteration, or 0 for the newest.")
    reason = damage(found[0])
    if reason is not None:
        raise DamagedCheckpointsError(f"Checkpoint {found[0]} is damaged ({reason}); pass another"
                                      " --checkpoint_iteration, or 0 for the newest intact one.")
    return found[0]


def _record_state(directory, newest, kept):
    """The `checkpoint` file TensorFlow's tools read: the newest and those kept.
    (TensorFlow's one writer of it is marked deprecated in favour of
    CheckpointManager, which cannot stage and verify; its warning is for us,
    not for the user's console.)"""
    with deprecation.silence():
        tf.compat.v1.train.update_checkpoint_state(
            directory, os.path.basename(newest), [os.path.basename(p) for p in kept])


class CheckpointKeeper:
    """Saves and restores one run's checkpoints in `directory`: each new one is
    read back whole before the oldest beyond `max_to_keep` is deleted (0 keeps
    them all, as the original's TF1 Saver did)."""

    def __init__(self, objects, directory, max_to_keep, batch_size):
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.directory, self.max_to_keep = directory, max_to_keep or None
        self.name = checkpoint_prefix(batch_size)
        self.latest = None

    def restore(self, path):
        """Restores the checkpoint at `path` (another folder's, for a worker that saves
        elsewhere); every value in it must find its variable."""
        try:
            self.checkpoint.restore(path).assert_consumed()
        except (ValueError, AssertionError, tf.errors.OpError) as error:
            cause = getattr(error, "message", None) or str(error)
            raise ValueError(
                f"{path} does not fit what these flags build ({cause.splitlines()[0]}). Pass"
                " the flags the run was trained with (its FLAGS.json), or --out_name to start"
                " a new run.") from None
        self.latest = path

    def save(self, iteration):
        """Writes the checkpoint of `iteration` into a staging folder, reads it
        back whole, moves it into the run folder (data first, index last), then
        drops the oldest of this run's beyond max_to_keep. On any failure the
        staging folder is removed (no debris on a full disk) and nothing older
        is touched. Returns its path."""
        prefix = os.path.join(self.directory, f"{self.name}-{iteration}")
        staging = os.path.join(self.directory, f"{STAGING}{iteration}")
        staged = os.path.join(staging, os.path.basename(prefix))
        try:
            os.makedirs(staging, exist_ok=True)
            self.checkpoint.save_counter.assign_add(1)  # counted as CheckpointManager counts
            self.checkpoint.write(staged)
            reason = damage(staged)
            if reason is not None:
                raise OSError(f"the checkpoint written does not read back whole ({reason})")
            for path in files_of(staged):
                os.replace(path, os.path.join(self.directory, os.path.basename(path)))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        ours = [p for p in _prefixes_in(self.directory)
                if os.path.basename(p).startswith(self.name + "-")]
        kept = ours[:self.max_to_keep]
        _record_state(self.directory, prefix, list(reversed(kept)))
        for old in ours[len(kept):]:
            for path in reversed(files_of(old)):  # the index first: readers skip it whole
                files.remove(path)
        self.latest = prefix
        return prefix


def remove_staging_debris(directory):
    """Staging folders a killed save left behind (never a complete checkpoint:
    that is moved out before its folder goes)."""
    for path in glob.glob(os.path.join(glob.escape(directory), STAGING + "*")):
        shutil.rmtree(path, ignore_errors=True)


def latest_checkpoint(directory):
    """The newest checkpoint in `directory`, or None, without reading it.

    Also finds the original's: TF1's Saver wrote absolute paths into the
    `checkpoint` index file, which break once a run folder is moved or copied
    to another machine, so the file name is looked up in `directory` itself,
    and failing that the highest-numbered `*.index` file there is taken."""
    if not os.path.isdir(directory):
        return None
    state = tf.train.get_checkpoint_state(directory)
    if state and state.model_checkpoint_path:
        local = os.path.join(directory, os.path.basename(state.model_checkpoint_path))
        if os.path.exists(local + ".index"):
            return local
    numbered = []
    for index in glob.glob(os.path.join(directory, "*.index")):
        match = re.search(r"-(\d+)\.index$", index)
        numbered.append((int(match.group(1)) if match else -1, index[:-len(".index")]))
    return max(numbered)[1] if numbered else None
