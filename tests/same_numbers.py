"""The same-numbers snapshot: tiny runs of every system through main.py's own
code path (`app.run` on a Config), recorded as numbers that only rounding can
change: each iteration's logged scalars (exact float32, from the TensorBoard
events), and per checkpoint key its dtype, shape, sum and sum of squares
(float64), with the saved checkpoint's key list, which is what an older run
needs to resume.

The snapshot in tests/data/same_numbers/ was recorded from the code at 14c74ed,
before the trainer was recomposed into one GAN (issue 19): the recomposition
must change no number. On the CPU that recorded it the comparison is exact;
kernels of other CPUs sum in other orders (tests/test_same_numbers.py says
what is compared there). A change that is meant to move the rounding, and
nothing else, re-records the cases it moves, once the equivalence tests (the
original's graphs, the golden runs) pass at their tolerances: the family's
convolutional cases were re-recorded when their padding moved from the
convolution to tf.pad / SAME (issue 21: oneDNN's gradient kernels instead of
Eigen's; the same zeros, other sums). A CPU of another kind gets its own
file, recorded from code whose numbers the files already there pin (the
2-core AMD EPYC with AVX2 only, whose TensorFlow runs Eigen's kernels: at
0b3f7c1).

    python tests/same_numbers.py record tests/data/same_numbers          # this CPU's file
    python tests/same_numbers.py record tests/data/same_numbers acgan    # only these cases
"""

import json
import os
import sys
import tempfile

import numpy as np

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS_DIR), TESTS_DIR]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dcgan_tf import startup  # noqa: E402

startup.choose_onednn()  # recorded with the kernels main.py runs on

import tensorflow as tf  # noqa: E402

import fakes  # noqa: E402
from dcgan_tf import app  # noqa: E402
from dcgan_tf import config as config_lib  # noqa: E402

ITERATIONS, BATCH = 3, 8
TINY_DCGAN = dict(z_dim=6, gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16)
MNIST_DCGAN = dict(dataset="mnist", input_height=28, output_height=28, **TINY_DCGAN)
FOLDER_DCGAN = dict(dataset="faces", input_fname_pattern="*.png", input_height=20,
                    output_height=16, crop=True, **TINY_DCGAN)
LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan_gp", "hinge", "fgan")


def _cases():
    """{name: Config fields}: carpedm20's DCGAN conditional and not, with its own
    loss and with every --loss; each family model with its own objective, and
    with another --loss; bfloat16, --original_loss_eval and --xla."""
    cases = {"dcgan": MNIST_DCGAN, "dcgan_folder": FOLDER_DCGAN}
    for loss in LOSSES:
        cases[f"dcgan_{loss}"] = dict(MNIST_DCGAN, loss=loss)
        cases[f"dcgan_folder_{loss}"] = dict(FOLDER_DCGAN, loss=loss)
    # G's turn twice in three batches (batch 0 and 2).
    cases["dcgan_wgan_n_critic_2"] = dict(MNIST_DCGAN, loss="wgan", n_critic=2)
    cases["dcgan_folder_wgan_gp_n_critic_2"] = dict(FOLDER_DCGAN, loss="wgan_gp", n_critic=2)
    cases["dcgan_bfloat16"] = dict(MNIST_DCGAN, mixed_precision=True)
    cases["dcgan_folder_bfloat16_wgan_gp"] = dict(FOLDER_DCGAN, mixed_precision=True,
                                                  loss="wgan_gp")
    cases["dcgan_original_loss_eval"] = dict(MNIST_DCGAN, original_loss_eval=True)
    cases["dcgan_folder_xla"] = dict(FOLDER_DCGAN, xla=True)
    for model in ("gan", "cgan", "acgan", "wgan", "wgan_gp", "lsgan"):
        cases[model] = dict(dataset="mnist", model=model)
    cases["wgan_n_critic_2"] = dict(dataset="mnist", model="wgan", n_critic=2)
    cases["gan_hinge"] = dict(dataset="mnist", model="gan", loss="hinge")
    cases["cgan_fgan"] = dict(dataset="mnist", model="cgan", loss="fgan", divergence="js")
    cases["acgan_wgan_gp"] = dict(dataset="mnist", model="acgan", loss="wgan_gp", n_critic=2)
    cases["lsgan_wgan"] = dict(dataset="mnist", model="lsgan", loss="wgan", n_critic=2)
    cases["acgan_nonsaturating"] = dict(dataset="mnist", model="acgan", loss="nonsaturating")
    return cases


CASES = _cases()


def make_data(root):
    """The data every case reads: MNIST-format digits (24 training images, so
    the family's training split gives 3 batches of 8) and a folder of 24 images."""
    fakes.make_mnist(os.path.join(root, "mnist"), n_train=24, n_test=8, seed=7)
    fakes.make_image_folder(os.path.join(root, "faces"), count=24, size=(20, 20), seed=7)
    return root


def config_of(name, data_dir, out_dir):
    fields = dict(CASES[name], data_dir=data_dir, out_dir=out_dir, out_name=name,
                  batch_size=BATCH, train_size=ITERATIONS * BATCH, epoch=1, seed=0,
                  sample_freq=1000, ckpt_freq=1000, train=True)
    return config_lib.of_command_line(fields, fields)


def event_scalars(log_dir):
    """{tag: [value of step 1, 2, ...]} exactly as written (float32)."""
    points = {}
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith("events.out.tfevents."):
            continue
        for record in tf.data.TFRecordDataset(os.path.join(log_dir, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                points.setdefault(value.tag, {})[event.step] = float(
                    tf.make_ndarray(value.tensor))
    return {tag: [steps[s] for s in sorted(steps)] for tag, steps in sorted(points.items())}


def checkpoint_numbers(prefix):
    """{key: [dtype, shape, sum, sum of squares]} of every saved value (float64 sums
    in a fixed order: the same numbers give the same sums)."""
    reader = tf.train.load_checkpoint(prefix)
    numbers = {}
    for key, shape in sorted(tf.train.list_variables(prefix)):
        if key == "_CHECKPOINTABLE_OBJECT_GRAPH":
            numbers[key] = ["object graph", [], 0.0, 0.0]
            continue
        value = np.asarray(reader.get_tensor(key))
        as_float = value.astype(np.float64).ravel()
        numbers[key] = [str(value.dtype), list(shape), float(np.sum(as_float)),
                        float(np.sum(as_float * as_float))]
    return numbers


def record(name, root):
    """One case's numbers: train it, then read its events and its checkpoint."""
    data_dir = os.path.join(root, "data")
    if not os.path.isdir(data_dir):
        make_data(data_dir)
    config = config_of(name, data_dir, os.path.join(root, "out"))
    app.run(config, log=lambda line: None)
    run_dir = os.path.join(root, "out", name)
    checkpoint = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return {"scalars": event_scalars(os.path.join(run_dir, "logs")),
            "checkpoint": os.path.basename(checkpoint),
            "numbers": checkpoint_numbers(checkpoint)}


def cpu_fingerprint():
    """What decides the kernels' rounding: the CPU model, its vector extensions,
    the threads an op splits its work over (oneDNN's reductions sum per thread:
    one thread gives other numbers than two), TensorFlow's version, and which
    kernels ran where TF_ENABLE_ONEDNN_OPTS chose them (by a user or by
    startup.choose_onednn); elsewhere TensorFlow's default for the extensions
    listed decides."""
    extensions = sorted(f for f in startup.cpu_flags()
                        if f.startswith(("avx512", "amx", "avx2", "fma")))
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    fingerprint = {"cpu": startup.cpu_model(), "extensions": extensions, "threads": threads,
                   "tensorflow": tf.__version__}
    if "TF_ENABLE_ONEDNN_OPTS" in os.environ:
        fingerprint["onednn"] = {True: "on", False: "off", None: "unknown"}[startup.onednn_on()]
    return fingerprint


def fingerprint_name(fingerprint):
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    return f"{fingerprint['cpu'].replace(' ', '_')}-{digest}.json"


def main(argv):
    if len(argv) < 2 or argv[0] != "record" or not set(argv[2:]) <= set(CASES):
        raise SystemExit(__doc__)
    os.makedirs(argv[1], exist_ok=True)
    fingerprint = cpu_fingerprint()
    path = os.path.join(argv[1], fingerprint_name(fingerprint))
    cases = {}
    if argv[2:]:  # re-record these cases in this CPU's file, keeping the others
        with open(path) as f:
            cases = json.load(f)["cases"]
    with tempfile.TemporaryDirectory() as root:
        for name in argv[2:] or CASES:
            cases[name] = record(name, root)
            print(f"{name}: {len(cases[name]['numbers'])} checkpoint keys", flush=True)
    with open(path, "w") as f:
        json.dump({"fingerprint": fingerprint, "cases": cases}, f, indent=1, sort_keys=True)
    print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
