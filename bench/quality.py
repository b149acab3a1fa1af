"""The reproduction claim: ours and the original TF1 graph, trained with the
original's settings on the same data for the same epochs, scored by the same
classifier (label accuracy, classifier score, Frechet distance; 10,000 balanced
samples each), several runs each so that the run-to-run spread is known.

    python bench/quality.py --dataset mnist --epochs 1 --runs 2
    python bench/quality.py --dataset fashion_mnist --epochs 1 --runs 2

Ours trains through main.py's own code path (dcgan_tf.commands.train). The original
trains in its own graph (../shared/reference/carpedm20-tf1), iterating the same
seed-547 order of the merged train and test splits with numpy z, one D update,
two G updates and the three loss evaluations per iteration, as its code does;
its TF1 checkpoint is then loaded into our generator class only to sample it. Results are appended to
bench/quality_results.json; the README and bench/RESULTS.md quote them.
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dcgan_tf import config as config_lib  # noqa: E402
from dcgan_tf import data  # noqa: E402
from dcgan_tf import generation  # noqa: E402
from dcgan_tf import metrics  # noqa: E402
from dcgan_tf.networks import carpedm20  # noqa: E402
from dcgan_tf import tf1_checkpoint  # noqa: E402
from dcgan_tf.commands import train  # noqa: E402
from original_graph import OriginalGraph  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared")
REFERENCE = os.path.join(SHARED, "reference", "carpedm20-tf1")
DATA_DIRS = {"mnist": os.path.join(SHARED, "data"), "fashion_mnist": "/usr/share/datasets"}


def dataset_dir(dataset):
    return data.idx_dataset_dir(DATA_DIRS[dataset], dataset) if dataset == "mnist" else \
        data.DEBIAN_FASHION_MNIST_DIR


def train_original(dataset, epochs, seed, workdir, log):
    images, labels = data.load_idx_dataset(dataset_dir(dataset))
    graph = OriginalGraph(REFERENCE, "mnist", seed=seed)
    graph.initialize()
    rng = np.random.default_rng(seed)
    batches = len(images) // 64
    for epoch in range(epochs):
        for idx in range(batches):
            chunk = slice(idx * 64, (idx + 1) * 64)
            real = images[chunk].astype(np.float32) / 255.0
            y = np.eye(10, dtype=np.float32)[labels[chunk]]
            z = rng.uniform(-1, 1, (64, 100)).astype(np.float32)
            graph.iteration(real, z, y)
            # the original's three loss evaluations after each iteration (training
            # mode: they move the batch-norm averages its sampler uses)
            graph.run("Mean_1:0", z=z, y=y), graph.run("Mean:0", real=real, z=z, y=y)
            graph.run("Mean_2:0", z=z, y=y)
            if idx % 100 == 0:
                log(f"  original epoch {epoch} batch {idx}/{batches}")
    path = graph.save(os.path.join(workdir, "original", "model.b64"), epochs * batches)
    generator, _ = carpedm20.build_models(tf1_checkpoint.infer_model_config(path, 28))
    tf1_checkpoint.load_into_models(path, generator)
    return generator


def train_ours(dataset, epochs, seed, workdir, log, out_name="ours", **flags):
    config = config_lib.Config(dataset=dataset, input_height=28, output_height=28, train=True,
                               epoch=epochs, data_dir=DATA_DIRS[dataset], seed=seed,
                               out_dir=os.path.join(workdir, out_name), sample_freq=10**9,
                               ckpt_freq=500, download=False, **flags)
    return train.run(config.validate(), log=every_100th_iteration(log)).generator


def every_100th_iteration(log):
    """Passes on everything but the per-iteration lines, of which every 100th."""
    def filtered(line):
        if " Epoch:" not in line or int(line[1:9]) % 100 == 0:
            log(line)
    return filtered


IMPLEMENTATIONS = {
    "ours": train_ours,
    "ours_original_loss_eval": lambda *args: train_ours(
        *args, out_name="ours_original_loss_eval", original_loss_eval=True),
    "original": train_original,
}


def score(generator, dataset, classifier, accuracy, samples, seed):
    config = carpedm20.ModelConfig(28, 28, 1, y_dim=10)
    sample = tf.function(lambda z, y: generator(z, y, training=False))
    generated, labels = generation.generate(sample, config, samples, "uniform_signed", 500, seed)
    return metrics.evaluate(classifier, generated, labels, config.output_range,
                            dataset_dir(dataset), test_accuracy=accuracy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATA_DIRS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--which", default="ours,original",
                        help=f"comma-separated, of {', '.join(IMPLEMENTATIONS)}")
    parser.add_argument("--first_run", type=int, default=0,
                        help="number of the first run (its seed is 100 + run): add runs to "
                             "earlier ones without repeating their seeds")
    parser.add_argument("--keep", default="",
                        help="keep each trained model under this folder "
                             "(<dataset>_e<epochs>_run<k>/<implementation>), for --generate")
    parser.add_argument("--results", default=os.path.join(REPO, "bench", "quality_results.json"))
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    classifier, accuracy = metrics.load_or_train_classifier(dataset_dir(args.dataset), log=log)
    log(f"classifier test accuracy on real {args.dataset}: {accuracy:.4f}")
    results = json.load(open(args.results)) if os.path.exists(args.results) else []
    for run in range(args.first_run, args.first_run + args.runs):
        for which in args.which.split(","):
            with tempfile.TemporaryDirectory() as scratch:
                workdir = (os.path.join(args.keep, f"{args.dataset}_e{args.epochs}_run{run}")
                           if args.keep else scratch)
                start = time.time()
                trainer = IMPLEMENTATIONS[which]
                generator = trainer(args.dataset, args.epochs, 100 + run, workdir, log)
                minutes = (time.time() - start) / 60
                figures = score(generator, args.dataset, classifier, accuracy, args.samples,
                                seed=run)
            entry = {"dataset": args.dataset, "implementation": which, "epochs": args.epochs,
                     "run": run, "train_minutes": round(minutes, 1), **figures}
            if args.keep:
                entry["model"] = os.path.relpath(os.path.join(workdir, which), REPO)
            results.append(entry)
            log(json.dumps(entry))
            with open(args.results, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
