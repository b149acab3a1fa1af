"""Where an iteration's time goes, op type by op type: a full trace (TF1 step
stats) of the original graph's D update and two G updates, which run the same
kernels in the same order as our step (the equivalence tests show the same
numbers to the bit).

    python bench/profile_ops.py --model mnist
"""

import argparse
import collections
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from dcgan_tf import startup  # noqa: E402

startup.choose_onednn()  # profiled on the kernels main.py runs on

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from original_graph import OriginalGraph, random_batch  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(REPO), "shared", "reference", "carpedm20-tf1")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist", choices=["mnist", "celebA"])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args(argv)
    graph = OriginalGraph(REFERENCE, args.model, seed=1)
    graph.initialize()
    rng = np.random.default_rng(0)
    totals = collections.Counter()
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    for i in range(args.iterations + 1):
        real, z, y = random_batch(rng, args.model)
        for op, feed in (("Adam", dict(real=real, z=z, y=y)), ("Adam_1", dict(z=z, y=y)),
                         ("Adam_1", dict(z=z, y=y))):
            metadata = tf.compat.v1.RunMetadata()
            graph.session.run(op, graph.feed(**feed), options=options, run_metadata=metadata)
            if i == 0:
                continue  # warm-up
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    kind = node.timeline_label.split("(")[0].split("= ")[-1].strip() or \
                        node.node_name
                    totals[kind] += node.all_end_rel_micros
    total = sum(totals.values())
    print(f"{args.model}: op time per iteration {total / args.iterations / 1000:.0f} ms"
          " (summed over ops; ops overlap on 2 cores)")
    for kind, micros in totals.most_common(12):
        print(f"  {kind:28s} {100 * micros / total:5.1f}%")


if __name__ == "__main__":
    main()
