"""Side by side, in one run on one machine: the original TF1 training loop and
ours, per iteration, for conditional MNIST 28x28 and unconditional 64x64, batch 64.

The original's loop (model.py train) per iteration: sess.run([d_optim, d_sum]),
sess.run([g_optim, g_sum]) twice, writer.add_summary after each, then three
loss evaluations (errD_fake, errD_real, errG). Ours: what `main.py --train`
does per iteration (one tf.function with D once and G twice, TensorBoard
summaries, the log line's numbers). The two alternate in blocks so that both
see the same machine load; we report medians and their ratio.

Also: this machine's large-matmul GFLOP/s (fp32, bf16), our iteration's
GFLOP/s (TensorFlow's own float-op count of the traced step) as a fraction of
it, the image-folder pipeline's images/s against what 64x64 training consumes,
and the peak resident memory of a short MNIST training run.

    python bench/speed.py                     # both models
    python bench/speed.py --models mnist --rounds 4 --block 5 --xla --mixed_precision
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dcgan_tf import startup  # noqa: E402

startup.choose_onednn()  # ours and the original on main.py's kernels, as main.py chooses them

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchlib import machine  # noqa: E402

from dcgan_tf import config as config_lib  # noqa: E402
from dcgan_tf import data  # noqa: E402
from dcgan_tf import precision  # noqa: E402
from dcgan_tf import systems  # noqa: E402
from dcgan_tf import tf1_checkpoint  # noqa: E402
from dcgan_tf import training  # noqa: E402
from dcgan_tf.commands import train  # noqa: E402
from original_graph import OriginalGraph  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared")
REFERENCE = os.path.join(SHARED, "reference", "carpedm20-tf1")
MNIST = os.path.join(SHARED, "data", "mnist")
SIZES = {"mnist": 28, "celebA": 64}


def batches(name, count, rng):
    if name == "mnist":
        images, labels = data.load_idx_dataset(MNIST)
        for i in range(count):
            chunk = slice((64 * i) % (len(images) - 64), (64 * i) % (len(images) - 64) + 64)
            yield (images[chunk].astype(np.float32) / 255.0,
                   np.eye(10, dtype=np.float32)[labels[chunk]])
    else:
        for _ in range(count):
            yield rng.uniform(-1, 1, (64, 64, 64, 3)).astype(np.float32), None


class OriginalLoop:
    """The original's per-iteration work on its own graph."""

    def __init__(self, name, log_dir):
        self.graph = OriginalGraph(REFERENCE, name, seed=1)
        self.graph.initialize()
        with self.graph.graph.as_default():
            self.writer = tf.compat.v1.summary.FileWriter(log_dir, self.graph.graph)
        self.rng = np.random.default_rng(0)
        self.counter = 1

    def iteration(self, real, y):
        g = self.graph
        z = self.rng.uniform(-1, 1, (64, 100)).astype(np.float32)
        _, summary = g.run(["Adam", "Merge_1/MergeSummary:0"], real=real, z=z, y=y)
        self.writer.add_summary(summary, self.counter)
        for _ in range(2):
            _, summary = g.run(["Adam_1", "Merge/MergeSummary:0"], z=z, y=y)
            self.writer.add_summary(summary, self.counter)
        err_d_fake = g.run("Mean_1:0", z=z, y=y)
        err_d_real = g.run("Mean:0", real=real, z=z, y=y)
        err_g = g.run("Mean_2:0", z=z, y=y)
        self.line = "d_loss: %.8f, g_loss: %.8f" % (err_d_fake + err_d_real, err_g)
        self.counter += 1


class OurLoop:
    """What training.train does per iteration (minus sample/checkpoint cadence):
    the logged step (iteration and summaries in one tf.function), then the log
    line's numbers."""

    def __init__(self, name, log_dir, path, xla=False, original_loss_eval=None,
                 mixed_precision=False):
        model_config = tf1_checkpoint.infer_model_config(path, SIZES[name])
        if original_loss_eval is None:
            original_loss_eval = config_lib.Config().original_loss_eval  # main.py's default
        config = config_lib.Config(batch_size=64, seed=0, xla=xla,
                                   mixed_precision=mixed_precision,
                                   original_loss_eval=original_loss_eval)
        self.trainer = train.make_gan(config, systems.compose("dcgan", "", config), model_config)
        writer = tf.summary.create_file_writer(log_dir)
        self.step = training.LoggedSteps(self.trainer, writer, model_config.output_range, False)

    def iteration(self, real, y):
        # A stack of one: the DCGAN trains one iteration per call (--steps_per_call's auto).
        result = self.step(real[None], None if y is None else y[None])
        self.line = "[%8d] d_loss: %.8f, g_loss: %.8f" % (
            int(self.trainer.iteration), result["d_loss"][0], result["g_loss"][0])


def step_flops(trainer, name):
    """TensorFlow's float-op count of one traced iteration (forward and backward
    of D once and G twice)."""
    from tensorflow.python.profiler import model_analyzer, option_builder  # noqa: PLC0415

    size, channels = (28, 1) if name == "mnist" else (64, 3)
    specs = [tf.TensorSpec([64, size, size, channels], tf.float32),
             tf.TensorSpec([64, 10], tf.float32) if name == "mnist" else None]
    graph = trainer.train_step.get_concrete_function(*specs).graph
    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return model_analyzer.profile(graph, options=options).total_float_ops


def matmul_gflops(dtype, n=2048, repeats=10):
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)
    best = float("inf")
    for _ in range(repeats + 2):
        start = time.perf_counter()
        tf.matmul(a, a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def pipeline_images_per_second(count=768):
    """celebA-like JPEGs (218x178), --crop 108 -> 64: the pipeline alone."""
    from PIL import Image  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        for i in range(count):
            array = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
            Image.fromarray(array).save(f"{folder}/{i:05d}.jpg", quality=90)
        files, _ = data.list_image_files(folder, "*.jpg")
        source = data.ImageFolderData(files, 3, True, 108, 108, 64, 64, seed=0)
        for _ in source.epoch_dataset(0, 128, 64):  # warm up
            pass
        start = time.perf_counter()
        seen = sum(int(batch.shape[0]) for batch in source.epoch_dataset(1, count, 64))
        return seen / (time.perf_counter() - start)


def mnist_peak_rss_mib():
    """Peak RSS of `main.py --train` on the shared MNIST (held as uint8): the
    process's own high-water mark (VmHWM, reset by exec), read as it exits. (A
    forked child's ru_maxrss would also count this benchmark's own memory.)"""
    report = ("import atexit, runpy, sys\n"
              "def hwm():\n"
              "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
              "    print('VmHWM', line.split()[1], file=sys.stderr)\n"
              "atexit.register(hwm)\n"
              "sys.argv = sys.argv[1:]\n"
              "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-c", report, os.path.join(REPO, "main.py"), "--dataset", "mnist",
             "--input_height=28", "--output_height=28", "--train", "--epoch=1",
             "--train_size=640", f"--data_dir={os.path.dirname(MNIST)}", f"--out_dir={out}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"main.py failed with status {done.returncode}: {done.stderr}")
    kib = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VmHWM")]
    return int(kib[-1]) / 1024


def compare(name, rounds, block, xla, mixed_precision, log):
    with tempfile.TemporaryDirectory() as tmp:
        loops = {"original": OriginalLoop(name, os.path.join(tmp, "orig"))}
        path = loops["original"].graph.save(os.path.join(tmp, "ckpt", "model.b64"), 1)
        loops["ours"] = OurLoop(name, os.path.join(tmp, "ours"), path)
        other = not config_lib.Config().original_loss_eval
        loops[f"ours --{'' if other else 'no'}original_loss_eval"] = OurLoop(
            name, os.path.join(tmp, "other"), path, original_loss_eval=other)
        if xla:
            loops["ours --xla"] = OurLoop(name, os.path.join(tmp, "xla"), path, xla=True)
        if mixed_precision:
            loops["ours --mixed_precision"] = OurLoop(name, os.path.join(tmp, "mixed"), path,
                                                      mixed_precision=True)
        for label, loop in loops.items():
            if label != "original":
                tf1_checkpoint.load_into_gan(path, loop.trainer)
        feed = list(batches(name, rounds * block + 2, np.random.default_rng(0)))
        for loop in loops.values():  # warm up: graph building, tracing, compiling
            for real, y in feed[:2]:
                loop.iteration(real, y)
        times = {label: [] for label in loops}
        for r in range(rounds):
            for label, loop in loops.items():
                for real, y in feed[2 + r * block: 2 + (r + 1) * block]:
                    start = time.perf_counter()
                    loop.iteration(real, y)
                    times[label].append(time.perf_counter() - start)
            log(f"  {name} round {r + 1}/{rounds}: " + ", ".join(
                f"{label} {1000 * statistics.median(t[-block:]):.0f} ms"
                for label, t in times.items()))
        flops = step_flops(loops["ours"].trainer, name)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return medians, flops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,celebA")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--block", type=int, default=5, help="iterations per block")
    parser.add_argument("--xla", action="store_true", help="also time ours with --xla")
    parser.add_argument("--mixed_precision", action="store_true",
                        help="also time ours with --mixed_precision")
    args = parser.parse_args(argv)
    if not os.path.isdir(REFERENCE):
        sys.exit(f"{REFERENCE} is absent: the benchmark needs ../shared beside the project.")
    log = lambda line: print(line, flush=True)  # noqa: E731
    peaks = {"fp32": matmul_gflops(tf.float32), "bf16": matmul_gflops(tf.bfloat16)}
    log(f"large matmul: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s"
        f" (native bfloat16 on this CPU: {precision.cpu_has_native_bf16()};"
        f" --mixed_precision computes in {precision.compute_dtype(True)})")
    rows = []
    for name in args.models.split(","):
        medians, flops = compare(name, args.rounds, args.block, args.xla, args.mixed_precision,
                                 log)
        achieved = flops / medians["ours"] / 1e9
        rows.append((name, medians, flops, achieved))
        for label in medians:
            if label != "original":
                log(f"{name}: {label} {1000 * medians[label]:.0f} ms/iter vs original"
                    f" {1000 * medians['original']:.0f} ms/iter: ratio"
                    f" {medians[label] / medians['original']:.3f}")
        log(f"{name}: ours {flops / 1e9:.2f} GFLOP/iter (TensorFlow's count) = {achieved:.1f}"
            f" GFLOP/s = {achieved / peaks['fp32']:.0%} of this machine's fp32 matmul rate")
    pipeline = pipeline_images_per_second()
    log(f"image-folder pipeline (218x178 JPEG, crop 108 -> 64): {pipeline:.0f} images/s")
    for name, medians, _, _ in rows:
        if name == "celebA":
            consumed = 64 / medians["ours"]
            log(f"64x64 training consumes {consumed:.1f} images/s: pipeline is"
                f" {pipeline / consumed:.0f}x that")
    log(f"peak RSS of a short MNIST training run (main.py): {mnist_peak_rss_mib():.0f} MiB")
    log(f"machine: {machine()}, TensorFlow {tf.__version__}, Python"
        f" {platform.python_version()}")


if __name__ == "__main__":
    main()
