"""Native checkpoints: one tf.train.Checkpoint with everything needed to resume.

Files are named as the original names its own (`model.b64-1200.index`), with
`max_to_keep` kept. TensorFlow writes a checkpoint's files before it updates
the `checkpoint` index file, so a run killed mid-save still points at the last
complete checkpoint.
"""

import glob
import os
import re

import tensorflow as tf


def checkpoint_prefix(batch_size):
    """The original's file name stem: 'model.b<batch_size>'."""
    return f"model.b{batch_size}"


class CheckpointKeeper:
    """Saves and restores one run's checkpoints in `directory`."""

    def __init__(self, objects, directory, max_to_keep, batch_size):
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep,
            checkpoint_name=checkpoint_prefix(batch_size))

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def restore_latest(self):
        """Restores the newest checkpoint; False when there is none. Every value in the
        checkpoint must find its variable, or this raises (a different model)."""
        if self.latest is None:
            return False
        self.restore(self.latest)
        return True

    def restore(self, path):
        """Restores the checkpoint at `path` (another folder's, for a worker that saves
        elsewhere); every value in it must find its variable."""
        self.checkpoint.restore(path).assert_consumed()

    def save(self, iteration):
        return self.manager.save(checkpoint_number=iteration)


def latest_checkpoint(directory):
    """The newest checkpoint in `directory`, or None.

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
