"""--evaluate and --evaluate_npz: the metrics of a run's generator (or of an
.npz of images), beside the same figures for real data."""

import json
import os
import sys
import zipfile

import numpy as np
import tqdm

from dcgan_tf import config as config_lib
from dcgan_tf import datasets
from dcgan_tf import files
from dcgan_tf import generation
from dcgan_tf import metrics


def _classifier(config, log):
    directory = datasets.idx_dataset_directory(config, log)
    cache = config.classifier_cache or metrics.DEFAULT_CACHE_DIR
    model, accuracy = metrics.load_or_train_classifier(directory, cache, log=log)
    log(f" [*] Classifier accuracy on the real test split: {accuracy:.4f}")
    return model, accuracy, directory


def score(config, sample, model_config, log):
    """The metrics of `config.metrics_samples` images of `sample` (balanced labels
    for conditional models; label accuracy only where there are labels). Images of
    another size than the classifier's 28x28 (the family's 32x32) are resized to
    it, as the scripts resized the real digits up."""
    if model_config.c_dim != 1:
        raise ValueError("--evaluate scores grayscale MNIST-style models.")
    classifier, accuracy, directory = _classifier(config, log)
    # Batch by batch: only the classifier's outputs are kept (138 floats an image).
    probabilities, features = [], []
    batches = generation.generated_batches(sample, model_config, config.metrics_samples,
                                           config.z_dist, config.batch_size, config.seed or 0)
    with tqdm.tqdm(total=config.metrics_samples, unit="img", desc="evaluate", file=sys.stderr,
                   mininterval=1.0) as bar:
        for generated, _ in batches:
            p, f = metrics.classify(classifier, metrics.to_unit_range(
                metrics.to_classifier_size(generated), model_config.output_range))
            probabilities.append(p)
            features.append(f)
            bar.update(len(generated))
    return metrics.evaluate_classified(
        classifier, np.concatenate(probabilities), np.concatenate(features),
        generation.labels_of(model_config, config.metrics_samples, config.seed or 0), directory,
        test_accuracy=accuracy)


def evaluate_npz(config, log):
    """Scores the images (and labels) of --evaluate_npz."""
    path = config_lib.expand_path(config.evaluate_npz)
    what = ("an .npz with `images` [N, 28, 28, 1] (and optionally `labels` [N] and"
            " `value_range`), as --generate writes")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "images" not in arrays:
                raise ValueError(f"--evaluate_npz={path} holds {', '.join(arrays.files) or 'no'}"
                                 f" arrays but no `images`; it must be {what}.")
            generated = arrays["images"]
            labels = arrays["labels"] if "labels" in arrays else None
            value_range = tuple(arrays["value_range"]) if "value_range" in arrays else (0.0, 1.0)
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        # ValueError: pickled arrays (refused, never loaded unsafely) or garbage.
        if "--evaluate_npz" in str(error):
            raise
        raise ValueError(f"--evaluate_npz={path} cannot be read as a plain .npz of arrays"
                         f" ({error}); it must be {what}.") from error
    if generated.ndim != 4 or generated.shape[-1] != 1:
        raise ValueError(f"{config.evaluate_npz} holds images of shape {generated.shape[1:]};"
                         " the metrics score grayscale [N, H, W, 1] images (28x28, or resized"
                         " to it).")
    generated = metrics.to_classifier_size(generated)
    classifier, accuracy, directory = _classifier(config, log)
    results = metrics.evaluate(classifier, generated, labels, value_range, directory,
                               test_accuracy=accuracy)
    return write_results(results, os.path.splitext(config.evaluate_npz)[0] + "_metrics.json",
                          log)


def write_results(results, path, log):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_text(path, json.dumps(results, indent=2, sort_keys=True))
    for line in format_metrics({"images": results}).splitlines():
        log(line)
    log(f" [*] Metrics written to {path}")
    return results


def _weakest(results):
    rows = [r for r in results["label_accuracy_by_class"] if r["accuracy"] is not None]
    worst = min(rows, key=lambda r: r["accuracy"])
    taken_for = worst["most_often_taken_for"]
    return (f"{worst['label']}: {worst['accuracy']:.4f}"
            + (f" (as {taken_for})" if taken_for is not None else ""))


def format_metrics(named_results):
    """A table: one column per run, each metric beside its real-data figure."""
    names = list(named_results)
    rows = [("metric", *names, "real data")]
    first = named_results[names[0]]
    for key in ("label_accuracy", "classifier_score", "frechet_distance"):
        if all(key in r for r in named_results.values()):
            rows.append((key, *(f"{r[key]:.4f}" for r in named_results.values()),
                         f"{first['real'][key]:.4f}"))
    if all("label_accuracy_by_class" in r for r in named_results.values()):
        rows.append(("weakest label", *(_weakest(r) for r in named_results.values()),
                     _weakest(first["real"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)
