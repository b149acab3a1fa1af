"""What several test files share: main.py in a child process, the tiny
flags most runs take, and small stand-ins (an Inception-shaped graph, Adam's
travel bound). Fixtures live in conftest.py."""

import os
import io
import subprocess
import sys
import threading
import time

import numpy as np
import tensorflow as tf

import adam_bounds
import fakes
from conftest import REPO_DIR

# carpedm20's networks at tiny widths: a conditional MNIST step in milliseconds.
TINY_FLAGS = ["--z_dim=8", "--gf_dim=4", "--df_dim=4", "--gfc_dim=16", "--dfc_dim=16"]
TINY_MODEL = dict(z_dim=8, gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16)
# Smaller still, where only the run's behaviour matters, not its numbers.
SMALLEST_FLAGS = ["--z_dim=4", "--gf_dim=2", "--df_dim=2", "--gfc_dim=8", "--dfc_dim=8"]
# Every stabilizer at once, each away from its default (issue 32).
ALL_STABILIZERS = ["--spectral_norm", "--ema_decay=0.9", "--ema_start=1",
                   "--diffaugment=color,translation,cutout", "--r1_gamma=1", "--r1_every=2",
                   "--d_learning_rate=0.0004", "--g_learning_rate=0.0001", "--g_updates=1"]


def main_py(*argv, **popen):
    """main.py in a child process whose log lines arrive as they are printed
    (-u), whatever the caller's environment says about buffering; `popen` goes
    to subprocess.Popen (cwd=..., and so on)."""
    env = dict(os.environ, PYTHONPATH=REPO_DIR, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-u", os.path.join(REPO_DIR, "main.py"), *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def main_py_done(*argv, timeout=300, **popen):
    """main_py run to its end: a CompletedProcess (returncode, stdout, stderr)."""
    process = main_py(*argv, **popen)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def mnist_flags(tmp_path, *extra):
    """Training flags of a tiny conditional DCGAN on a fake MNIST of 150 digits in
    tmp_path/data (made once), writing to tmp_path/out."""
    if not (tmp_path / "data" / "mnist").exists():
        fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=150, n_test=10)
    return ["--dataset", "mnist", "--input_height=28", "--output_height=28", "--train",
            "--batch_size=8", f"--data_dir={tmp_path / 'data'}", f"--out_dir={tmp_path / 'out'}",
            "--seed=1", *SMALLEST_FLAGS, *extra]


def wait_for_iteration(process, iteration, timeout=120):
    """Reads the log until iteration `iteration` or a later one (a restarted run may
    begin past it); returns the first iteration logged."""
    deadline = time.time() + timeout
    first = None
    for line in process.stdout:
        if " Epoch:" in line:
            first = int(line[1:9]) if first is None else first
            if int(line[1:9]) >= iteration:
                return first
        assert time.time() < deadline
    raise AssertionError(f"training ended before iteration {iteration}: {process.stderr.read()}")


def first_iteration(output):
    return int(next(line for line in output.splitlines() if " Epoch:" in line)[1:9])


def checkpoint_values(prefix):
    """Every value a checkpoint saved, by key (its object graph left out)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def largest_travel(optimizer, updates, beta1, beta2):
    """How far `updates` steps of the optimizer from its start can move a weight,
    in learning rates (tests/adam_bounds.py)."""
    if optimizer == "torch_rmsprop":
        return updates * adam_bounds.largest_rmsprop_step(0.99)
    return adam_bounds.largest_adam_travel(1, updates, beta1, beta2)


def small_inception_graph(path):
    """A GraphDef shaped like the FID graph: a decoded image (a constant here) into
    ExpandDims, a bilinear resize, a convolution, and pool_3 [N, 1, 1, 2048]."""
    graph = tf.Graph()
    rng = np.random.default_rng(5)
    with graph.as_default():
        decoded = tf.constant(np.zeros((8, 8, 3), np.float32), name="Cast")
        images = tf.expand_dims(decoded, 0, name="ExpandDims")
        resized = tf.compat.v1.image.resize_bilinear(images, [16, 16], name="ResizeBilinear")
        normalized = (resized - 128.0) / 128.0
        conv = tf.nn.relu(tf.nn.conv2d(normalized, rng.normal(0, 0.3, (3, 3, 3, 16)).astype(
            np.float32), 2, "SAME"))                                     # [N, 8, 8, 16]
        pooled = tf.reduce_mean(conv, axis=[1, 2], keepdims=True)        # [N, 1, 1, 16]
        lifted = tf.nn.conv2d(pooled, rng.normal(0, 1, (1, 1, 16, 2048)).astype(np.float32),
                              1, "VALID")
        tf.identity(lifted, name="pool_3")
    with open(path, "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())
    return path


def fetched_twice_at_once(fetch, server, patience=5):
    """Runs `fetch(stream)` in two threads as two processes started together
    would: the second starts while the server holds the first's transfer half
    sent (a 'gated' route), and the transfer goes on once the second says it
    waits for the first, or after `patience` seconds. Returns each thread's
    result (or the exception it raised) and what it wrote to its stream."""
    outcomes = [None, None]
    streams = [io.StringIO(), io.StringIO()]

    def run(which):
        try:
            outcomes[which] = fetch(streams[which])
        except Exception as error:  # noqa: BLE001 (the test compares it)
            outcomes[which] = error

    threads = [threading.Thread(target=run, args=(which,)) for which in (0, 1)]
    threads[0].start()
    assert server.half_sent.wait(60)
    threads[1].start()
    deadline = time.monotonic() + patience
    while "waiting for it to finish" not in streams[1].getvalue() and (
            time.monotonic() < deadline):
        time.sleep(0.01)
    server.gate.set()
    for thread in threads:
        thread.join(120)
    return outcomes, [stream.getvalue() for stream in streams]
