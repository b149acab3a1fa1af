"""Training curves: d_loss and g_loss read from TensorBoard event files (ours,
written by tf.summary, or the original's, written by TF1) and plotted to a PNG."""

import glob
import os

import numpy as np
import tensorflow as tf

from dcgan_tf import data
from dcgan_tf import files

LOSS_TAGS = ("d_loss", "g_loss")


def read_scalars(log_dir, tags=LOSS_TAGS):
    """{tag: (steps, values)} from every event file in `log_dir`, sorted by step.
    Handles TF1's `simple_value` and TF2's tensor summaries alike; an event file
    cut short (a killed run, a full disk) gives the records before the cut."""
    points = {tag: {} for tag in tags}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in _events_of(path):
            for value in event.summary.value:
                if value.tag not in points:
                    continue
                if value.HasField("simple_value"):
                    number = value.simple_value
                else:
                    number = float(tf.make_ndarray(value.tensor))
                points[value.tag][event.step] = number
    return {tag: (np.array(sorted(found)), np.array([found[s] for s in sorted(found)]))
            for tag, found in points.items()}


def _events_of(path):
    records = iter(data.untuned(tf.data.TFRecordDataset(path)))  # its end waits for no tuner
    while True:
        try:
            record = next(records)
        except (StopIteration, tf.errors.DataLossError):
            return
        yield tf.compat.v1.Event.FromString(record.numpy())


def plot_losses(runs, path, title="Training losses"):
    """Plots {label: scalars} (from read_scalars) into one PNG: d_loss and g_loss
    of every run against iterations."""
    import matplotlib  # noqa: PLC0415 (plotting only here)

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4))
    for axis, tag in zip(axes, LOSS_TAGS):
        for label, scalars in runs.items():
            steps, values = scalars[tag]
            if len(steps):
                axis.plot(steps, values, linewidth=0.8, label=label)
        axis.set_title(tag)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
        if len(runs) > 1:
            axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with files.written_whole(path) as partial:
        figure.savefig(partial, dpi=100, format="png")
    pyplot.close(figure)
    return path
