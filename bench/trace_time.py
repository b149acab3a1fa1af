"""What a training start costs before its first iteration is done: the traced
step's trace (Python building its graph) and its first call (Grappler, the
kernels), for carpedm20's conditional MNIST DCGAN at the tests' tiny widths,
or a family model with conv networks at 16 pixels, batch 8 (a trace costs what its ops cost,
whatever their widths). Every test that trains pays it once per start, as a
user does once per run.

    python bench/trace_time.py --starts 6
    python bench/trace_time.py --starts 6 --model acgan

Each start is a new GAN in this process, as a test's in-process runs are.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests"), os.path.dirname(os.path.abspath(__file__))]

from dcgan_tf import startup  # noqa: E402

startup.choose_onednn()  # the kernels main.py runs on

import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402
import make  # noqa: E402
from helpers import TINY_MODEL  # noqa: E402
from dcgan_tf import training  # noqa: E402
from dcgan_tf.networks import carpedm20  # noqa: E402
from dcgan_tf.networks import pytorch_gan  # noqa: E402

# The networks main.py trains one iteration per call, the call measured here
# (the family's MLPs run a loop of several per call: --steps_per_call).
MODELS = ("dcgan", "acgan", "lsgan")


def one_start(log_dir, model="dcgan"):
    """(trace seconds, first call seconds, the graph ops of the step and of the
    functions it calls)."""
    if model == "dcgan":
        model_config = carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL)
    else:  # the family's network at the tests' 16 pixels, its own widths
        model_config = pytorch_gan.FamilyModelConfig(model, 16, 1,
                                                     n_classes=10 if model == "acgan" else 0)
    gan = make.gan(model_config, model, batch_size=8)
    step = training.LoggedSteps(gan, tf.summary.create_file_writer(log_dir), (-1, 1), False)
    size = 28 if model == "dcgan" else 16
    real = tf.random.uniform([8, size, size, 1])
    y = tf.one_hot(tf.range(8) % 10, 10) if model_config.conditional else None
    started = time.perf_counter()
    traced = step._one.get_concrete_function(real, y)  # noqa: SLF001 (the step main.py calls)
    trace = time.perf_counter() - started
    started = time.perf_counter()
    for value in traced(real, y).values():
        value.numpy()
    graph = traced.graph.as_graph_def()  # the step's graph and the functions it calls
    ops = len(graph.node) + sum(len(function.node_def) for function in graph.library.function)
    return trace, time.perf_counter() - started, ops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=6)
    parser.add_argument("--model", default="dcgan", choices=MODELS,
                        help="carpedm20's DCGAN (the default) or a family model with conv"
                        " networks (--model)")
    args = parser.parse_args(argv)
    print(f"# {benchlib.machine()}, --model {args.model}")
    with tempfile.TemporaryDirectory() as logs:
        starts = [one_start(os.path.join(logs, str(i)), args.model) for i in range(args.starts)]
    for trace, first, ops in starts:
        print(f"trace {trace:.2f} s, first call {first:.2f} s ({ops} graph ops)")
    trace, first = (statistics.mean(column) for column in list(zip(*starts))[:2])
    print(f"mean of {args.starts}: trace {trace:.2f} s, first call {first:.2f} s,"
          f" both {trace + first:.2f} s")


if __name__ == "__main__":
    main()
