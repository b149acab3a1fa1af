"""How far rounding alone carries main.py's iteration from the original TF1
graph's over a few iterations, against how far a port error carries it: the
measurement behind the loss bounds of tests/test_equivalence_original.py.

    python bench/equivalence_envelope.py celebA 5

For each case: our GAN from the original's start (as the test starts it), run
beside the original graph on the test's batches; printed, each iteration's
largest loss difference and the median weight difference at the end. Cases:
as the test runs it; our start perturbed by 1e-7 relative (three draws: what
another CPU's rounding can do); a learning rate 5% off; beta1 0.55 for 0.5
(port errors the bound must catch). Needs ../shared/reference/carpedm20-tf1.
"""

import os
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

import make  # noqa: E402
import test_equivalence_original as equivalence  # noqa: E402
from conftest import REFERENCE_DIR  # noqa: E402
from dcgan_tf import gan as gan_lib  # noqa: E402
from dcgan_tf import tf1_checkpoint  # noqa: E402
from original_graph import OriginalGraph  # noqa: E402

CASES = [("as tested", {}, 0), ("start perturbed 1e-7, draw 1", {}, 1),
         ("start perturbed 1e-7, draw 2", {}, 2), ("start perturbed 1e-7, draw 3", {}, 3),
         ("learning rate +5%", {"learning_rate": 2.1e-4}, 0), ("beta1 0.55", {"beta1": 0.55}, 0)]


def main(name, iterations):
    original = OriginalGraph(REFERENCE_DIR, name, seed=1)
    original.initialize()
    folder = tempfile.mkdtemp()
    path = original.save(os.path.join(folder, "model.b64"), step=1)
    everything = original.save_everything(os.path.join(folder, "everything", "model.b64-1"))
    model_config = tf1_checkpoint.infer_model_config(path, equivalence.OUTPUT_SIZE[name])
    for label, flags, draw in CASES:
        gan = make.gan(model_config, batch_size=64, **flags)
        original.restore_everything(everything)
        tf1_checkpoint.load_into_gan(everything, gan)
        if draw:
            rng = np.random.default_rng(draw)
            for v in gan.generator.trainable_variables + gan.discriminator.trainable_variables:
                noise = 1 + 1e-7 * rng.standard_normal(v.shape)
                v.assign((v.numpy() * noise).astype(np.float32))
        gaps = []
        for real, z, y in equivalence.batches(name, iterations):
            theirs = original.iteration(real, z, y)
            ours = gan.step(real, y, gan_lib.Draws(z), 0)
            gaps.append(max(abs(float(ours[k]) - theirs[k]) for k in ("d_loss", "g_loss")))
        mine, after = equivalence.our_variables(gan), original.values()
        weights = np.concatenate([np.abs(value - mine[n].numpy()).ravel()
                                  for n, value in after.items()
                                  if "/Adam" not in n and "moving_" not in n])
        print(f"{label:30s} loss differences by iteration:",
              " ".join(f"{gap:.3g}" for gap in gaps),
              f"| median weight difference {np.median(weights):.3g}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "celebA",
         int(sys.argv[2]) if len(sys.argv) > 2 else 5)
