"""The golden numbers of DiffAugment: the authors' own implementation
(mit-han-lab/data-efficient-gans, DiffAugment_tf.py, TensorFlow) run on fixed
images, each random number it draws recorded, and its output kept, so
tests/test_stabilizers.py can feed ours the same numbers and compare.

    python bench/diffaugment_golden.py --authors /path/to/data-efficient-gans/DiffAugment_tf.py

The authors' file is read from where you have it (a clone of their
repository); nothing of it is copied here. Its code is TensorFlow 2 compatible,
so it runs in this environment. Writes tests/data/diffaugment_golden.npz:
for each case, the input `x` [B, H, W, C] in [-1, 1], the policy, the draws in
the order the code drew them, and its output.
"""

import argparse
import importlib.util
import json
import os
import sys

import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "data", "diffaugment_golden.npz")
# (policy, batch, height, width, channels): each transform alone and all three,
# square and not, gray and colour.
CASES = [("color", 4, 8, 8, 3), ("translation", 4, 16, 12, 1), ("cutout", 4, 16, 12, 1),
         ("cutout", 4, 9, 7, 3), ("color,translation,cutout", 6, 28, 28, 1)]


class RecordingRandom:
    """tf.random as the authors' code sees it: uniform draws from a seeded
    generator, each recorded."""

    def __init__(self, seed):
        self.generator = tf.random.Generator.from_seed(seed)
        self.drawn = []

    def uniform(self, shape, minval=0, maxval=None, dtype=tf.float32):
        if dtype.is_integer:
            value = self.generator.uniform(shape, minval, maxval, dtype=dtype)
        else:
            value = self.generator.uniform(shape, minval, 1.0 if maxval is None else maxval)
        self.drawn.append(value.numpy())
        return value


class RecordingTensorFlow:
    """The `tf` the authors' module calls: TensorFlow, but tf.random recorded."""

    def __init__(self, random):
        self.random = random

    def __getattr__(self, name):
        return getattr(tf, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors", required=True, help="their DiffAugment_tf.py")
    parser.add_argument("--output", default=GOLDEN)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("authors_diffaugment", args.authors)
    authors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(authors)
    arrays, index = {}, []
    for number, (policy, batch, height, width, channels) in enumerate(CASES):
        x = np.random.default_rng(number).uniform(-1, 1, (batch, height, width, channels))
        random = RecordingRandom(seed=100 + number)
        authors.tf = RecordingTensorFlow(random)
        output = authors.DiffAugment(tf.constant(x, tf.float32), policy=policy).numpy()
        arrays[f"case{number}/x"] = x.astype(np.float32)
        arrays[f"case{number}/output"] = output
        for i, drawn in enumerate(random.drawn):
            arrays[f"case{number}/draw{i}"] = drawn
        index.append({"policy": policy, "draws": len(random.drawn)})
    arrays["index"] = np.asarray(json.dumps(index))
    np.savez_compressed(args.output, **arrays)
    print(args.output, index)


if __name__ == "__main__":
    sys.exit(main())
