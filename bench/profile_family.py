"""Where a family model's iteration goes, op type by op type: main.py's training
call (training.LoggedSteps, a stack of batches per call, as --steps_per_call
runs the MLPs) traced by TensorFlow's profiler, op times summed per type and
divided by the iterations. Ops on the two cores overlap, so the op times can
add up to more than the wall time per iteration, which is printed first.

    python bench/profile_family.py --model wgan
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dcgan_tf import startup  # noqa: E402

startup.choose_onednn()  # profiled on the kernels main.py runs on

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import make  # noqa: E402

from benchlib import machine  # noqa: E402

from dcgan_tf import distribute  # noqa: E402
from dcgan_tf import training  # noqa: E402
from dcgan_tf.networks import pytorch_gan  # noqa: E402


# Events of the executor itself, not ops: they contain the ops' times.
NOT_OPS = ("Process", "Run", "Record", "StartRegion", "StopRegion")


def op_times(trace_dir):
    """{op type: (executions, microseconds)} from the profiler's XSpace files."""
    totals = collections.defaultdict(lambda: [0, 0.0])
    for path in glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            names = {key: meta.name for key, meta in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    kind = name.rsplit(":", 1)[-1].strip()  # "op name:OpType"
                    if ":" in name and kind not in NOT_OPS and not kind.startswith("__"):
                        kind = totals[kind]
                        kind[0] += 1
                        kind[1] += event.duration_ps / 1e6
    return totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wgan", choices=["gan", "cgan", "wgan", "wgan_gp"])
    parser.add_argument("--steps_per_call", type=int, default=50)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args(argv)
    distribute.set_op_threads(0, small_ops=True)  # as main.py runs the MLPs
    classes = 10 if args.model == "cgan" else 0
    gan = make.gan(pytorch_gan.FamilyModelConfig(args.model, 28, 1, 100, classes),
                   model=args.model, batch_size=64)
    rng = np.random.default_rng(0)
    reals = tf.constant(rng.uniform(-1, 1, (args.steps_per_call, 64, 28, 28, 1)), tf.float32)
    ys = (tf.constant(np.eye(classes)[rng.integers(0, classes, (args.steps_per_call, 64))],
                      tf.float32) if classes else None)
    with tempfile.TemporaryDirectory() as folder:
        steps = training.LoggedSteps(gan, tf.summary.create_file_writer(folder), (-1, 1), False)
        for _ in range(3):  # tracing and the first calls
            steps(reals, ys)
        start = time.perf_counter()
        for _ in range(args.calls):
            float(steps(reals, ys)["d_loss"][-1])
        iterations = args.calls * args.steps_per_call
        print(f"{args.model}: {(time.perf_counter() - start) / iterations * 1e3:.2f} ms per"
              f" iteration (wall), {machine()}")
        tf.profiler.experimental.start(os.path.join(folder, "trace"))
        float(steps(reals, ys)["d_loss"][-1])
        tf.profiler.experimental.stop()
        totals = op_times(os.path.join(folder, "trace"))
    per = args.steps_per_call
    kinds = sorted(totals.items(), key=lambda item: -item[1][1])
    print(f"per iteration: {sum(c for c, _ in totals.values()) / per:.0f} op executions,"
          f" {sum(t for _, t in totals.values()) / per / 1e3:.2f} ms of op time")
    for kind, (count, micros) in kinds[:25]:
        print(f"  {kind:32s} {count / per:6.1f} per iteration {micros / per:9.1f} us")


if __name__ == "__main__":
    main()
