"""Which of the metrics classifier's layers precision, recall, density and
coverage should be computed on (issue 23): each candidate layer scored on sets
whose answer is known.

    python bench/embeddings.py --dataset mnist          # writes bench/embeddings_results.json
    python bench/embeddings.py --report                 # its table

Candidates: the 128 features after their ReLU (what the Frechet distance uses),
the same before it, the last convolutional block's output (7 x 7 x 64,
flattened) and the 10 logits. Sets, each 10,000 images (or the test split's
size) against the real test split: real training images (all four figures
should be high), uniform noise and black images (nothing like the data:
precision and density should be near 0), the other data set's images
(Fashion-MNIST scored as MNIST and back: precision and recall near 0), and
one real image repeated (recall and coverage near 0).
"""

import argparse
import json
import os
import sys

import numpy as np

from benchlib import REPO, SHARED_DATA

sys.path.insert(0, REPO)

RESULTS = os.path.join(REPO, "bench", "embeddings_results.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--cache", default="")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        print(report(json.load(open(RESULTS))))
        return
    from dcgan_tf import data  # noqa: PLC0415
    from dcgan_tf import fidelity  # noqa: PLC0415
    from dcgan_tf import metrics  # noqa: PLC0415

    directory = data.idx_dataset_dir(SHARED_DATA, args.dataset)
    other = "fashion_mnist" if args.dataset == "mnist" else "mnist"
    classifier, accuracy = metrics.load_or_train_classifier(
        directory, args.cache or metrics.DEFAULT_CACHE_DIR)
    test, _ = metrics.load_split(directory, "test")
    train, _ = metrics.load_split(directory, "train")
    other_test, _ = metrics.load_split(data.idx_dataset_dir(SHARED_DATA, other), "test")
    rng = np.random.default_rng(0)
    n = min(args.count, len(test))
    sets = {
        "real training images": train[:n] / 255.0,
        "uniform noise": rng.uniform(0, 1, (n, 28, 28, 1)),
        "black images": np.zeros((n, 28, 28, 1)),
        f"{other} images": other_test[:n] / 255.0,
        "one real image repeated": np.repeat(train[:1] / 255.0, n, axis=0),
    }
    reference = metrics.embeddings(classifier, test[:n] / 255.0)
    rows = {}
    for name, images in sets.items():
        embedded = metrics.embeddings(classifier, images.astype(np.float32))
        for layer, features in embedded.items():
            precision, recall = fidelity.precision_recall(reference[layer], features)
            density, coverage = fidelity.density_coverage(reference[layer], features)
            rows.setdefault(layer, {})[name] = {
                "precision": precision, "recall": recall, "density": density,
                "coverage": coverage}
            print(f"{layer:22s} {name:26s} P {precision:.3f} R {recall:.3f} D {density:.3f}"
                  f" C {coverage:.3f}", flush=True)
    results = json.load(open(RESULTS)) if os.path.exists(RESULTS) else {}
    results[args.dataset] = {"classifier_test_accuracy": accuracy, "count": n, "layers": rows}
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=1)


def report(results):
    """One Markdown table: each data set's classifier, layer and set."""
    lines = ["| classifier | layer | set | precision | recall | density | coverage |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for dataset, measured in results.items():
        for layer, sets in measured["layers"].items():
            for name, f in sets.items():
                lines.append(f"| {dataset} | {layer} | {name} | {f['precision']:.3f} |"
                             f" {f['recall']:.3f} | {f['density']:.3f} | {f['coverage']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
