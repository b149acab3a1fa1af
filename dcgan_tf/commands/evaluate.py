"""--evaluate and --evaluate_npz: the metrics of a run's generator (or of an
.npz of images), beside the same figures for real data.

MNIST-style data sets are scored with the data set's own classifier
(metrics.py): label accuracy, classifier score, Frechet distance, and the set
figures (fidelity.py); with the FID Inception network (--inception, or in the
cache) also on its features. Image folders are scored on the Inception
network's features: FID, KID, precision, recall, density and coverage.
"""

import json
import math
import os
import sys
import zipfile

import numpy as np
import tqdm

from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import datasets
from dcgan_tf import fidelity
from dcgan_tf import files
from dcgan_tf import generation
from dcgan_tf import inception
from dcgan_tf import memory
from dcgan_tf import metrics
from dcgan_tf import systems
from dcgan_tf.experiments import real_images

INCEPTION_WORDS = "the FID Inception network's pool_3 features (2,048)"


def _classifier(config, log):
    directory = datasets.idx_dataset_directory(config, log)
    cache = config.classifier_cache or metrics.DEFAULT_CACHE_DIR
    model, accuracy = metrics.load_or_train_classifier(directory, cache, log=log)
    log(f" [*] Classifier accuracy on the real test split: {accuracy:.4f}")
    return model, accuracy, directory


def _inception_cache(config):
    return os.path.join(config.classifier_cache or metrics.DEFAULT_CACHE_DIR, "inception")


def _inception_network(config, log, required):
    """The FID Inception network: --inception's, or the cached one; fetched when
    `required` (image folders) and --download. None where not asked for and not
    there (MNIST-style data has its classifier)."""
    cache = _inception_cache(config)
    if not (required or config.inception or os.path.isfile(os.path.join(cache, inception.GRAPH))):
        return None
    path = inception.locate(config_lib.expand_path(config.inception), cache, config.download, log)
    network = inception.InceptionNetwork(path)
    log(f" [*] FID Inception network: {path} (sha256 {network.sha256[:16]}...)")
    return network


def check_can_score(config, log):
    """What scoring reads, found (or fetched) before test mode writes anything,
    so a missing one loses nothing: an MNIST-style data set's files, and for
    an image folder the Inception network; --inception's file and
    --inception_stats read and checked then too (the statistics first: a bad
    file is said before a download)."""
    if data.is_idx_dataset(config.dataset):
        datasets.idx_dataset_directory(config, log)
    if not config.evaluate:  # --compare_with scores MNIST-style runs only
        return
    if config.inception_stats:
        inception.read_statistics(config_lib.expand_path(config.inception_stats))
    if config.inception or not data.is_idx_dataset(config.dataset):
        path = inception.locate(config_lib.expand_path(config.inception),
                                _inception_cache(config), config.download, log)
        if config.inception:  # the user's file (a cached or extracted one was checked)
            inception.read_graph(path)
    # What is kept of each sample (float64, and its concatenation): the
    # classifier's logits and two feature sets, the Inception features.
    per_sample = 2 * 8 * ((10 + 2 * 128 if data.is_idx_dataset(config.dataset) else 0)
                          + inception.FEATURES)
    memory.check_fits(config.metrics_samples * per_sample,
                      f"--metrics_samples {config.metrics_samples} (their features, kept to"
                      " score them as one set)", "pass fewer (the field's figures take 10,000"
                                                 " to 50,000).")


def _reference_images(config, model_config, log):
    """The real images the Inception figures compare with, in [0, 1] at the model's
    size: (reference, a disjoint set of real images for the real-data row, what
    they are). MNIST-style: the test split, and training images; an image
    folder: two disjoint random draws of its images (--metrics_samples each, or
    half the folder where it holds fewer)."""
    if data.is_idx_dataset(config.dataset):
        directory = datasets.idx_dataset_directory(config, log)
        test, _ = data.load_idx_split(directory, "test")
        train, _ = data.load_idx_split(directory, "train")
        unit = lambda u8: metrics.to_unit_range(  # noqa: E731
            real_images.to_model_input(u8, model_config), model_config.output_range)
        return (unit(test), unit(train[:config.metrics_samples]),
                f"the {config.dataset} test split; real data: training images")
    system = systems.SYSTEMS[config.model]
    folder = datasets.load_training_data(config, system, log)
    count = min(config.metrics_samples, len(folder.files) // 2)
    order = np.random.default_rng(config.seed or 0).permutation(len(folder.files))

    def load(indices):
        loaded = folder.load_usable([folder.files[index] for index in indices])
        return metrics.to_unit_range(real_images.to_model_input(loaded, model_config),
                                     model_config.output_range)

    return (load(order[:count]), load(order[count:2 * count]),
            f"{count} random images of {config.dataset}; real data: {count} others")


def _inception_figures(network, generated_features, config, model_config, log):
    """FID (against the reference statistics: computed from the data, or
    --inception_stats), KID, precision, recall, density and coverage on the
    Inception features, and the same for real data."""
    reference, other_real, described = _reference_images(config, model_config, log)
    log(f" [*] Inception features of the real images ({described})")
    reference_features = network.features(reference, "Inception: reference images")
    real_features = network.features(other_real, "Inception: real images")
    if config.inception_stats:
        mu, sigma = inception.read_statistics(config_lib.expand_path(config.inception_stats))
        described += f"; FID against the statistics in {config.inception_stats}"
    else:
        mu, sigma = inception.statistics(reference_features)
    fid = fidelity.FrechetReference(mu, sigma).distance
    reference = fidelity.RealSet(reference_features)
    seed = config.seed or 0
    return {"features": INCEPTION_WORDS, "reference": described,
            "reference_images": int(len(reference_features)),
            "inception_sha256": network.sha256, "num_images": int(len(generated_features)),
            "frechet_distance": fid(generated_features),
            **reference.figures(generated_features, seed),
            "real": {"num_images": int(len(real_features)), "frechet_distance": fid(real_features),
                     **reference.figures(real_features, seed)}}


def _say_if_resized(images, log):
    """Images of another size than the classifier's are resized to it: said."""
    if images.shape[1:3] != metrics.CLASSIFIER_SIZE:
        log(f" [*] The images are {images.shape[1]}x{images.shape[2]}: each is resized"
            " (bilinear, antialiased) to the classifier's"
            f" {'x'.join(map(str, metrics.CLASSIFIER_SIZE))} to be scored")


def score(config, sample, model_config, log):
    """The metrics of `config.metrics_samples` images of `sample` (balanced labels
    for conditional models; label accuracy only where there are labels). Images of
    another size than the classifier's 28x28 (the family's 32x32) are resized to
    it, as the scripts resized the real digits up."""
    labelled = data.is_idx_dataset(config.dataset)
    if labelled and model_config.c_dim != 1:
        raise ValueError("--evaluate scores grayscale MNIST-style models.")
    network = _inception_network(config, log, required=not labelled)
    if labelled:
        classifier, accuracy, directory = _classifier(config, log)
    # Batch by batch: only the classifier's outputs (and Inception features) are kept.
    kept = {"logits": [], "features": [], metrics.SET_EMBEDDING: [], "inception": []}
    batches = generation.generated_batches(sample, model_config, config.metrics_samples,
                                           config.z_dist, config.batch_size, config.seed or 0)
    with tqdm.tqdm(total=config.metrics_samples, unit="img", desc="evaluate", file=sys.stderr,
                   mininterval=1.0) as bar:
        for generated, _ in batches:
            unit = metrics.to_unit_range(generated, model_config.output_range)
            if labelled and not bar.n:
                _say_if_resized(unit, log)
            if labelled:
                embedded = metrics.embeddings(classifier, metrics.to_classifier_size(unit))
                for key in ("logits", "features", metrics.SET_EMBEDDING):
                    kept[key].append(embedded[key])
            if network is not None:
                kept["inception"].append(network.features(unit))
            bar.update(len(generated))
    inception_results = (_inception_figures(network, np.concatenate(kept["inception"]), config,
                                            model_config, log) if network else None)
    if not labelled:
        return inception_results
    results = metrics.evaluate_classified(
        classifier, metrics.softmax(np.concatenate(kept["logits"])),
        np.concatenate(kept["features"]), np.concatenate(kept[metrics.SET_EMBEDDING]),
        generation.labels_of(model_config, config.metrics_samples, config.seed or 0), directory,
        test_accuracy=accuracy)
    if inception_results:
        results["inception"] = inception_results
    return results


# Images may stray outside their value_range by this share of it (rounding, a
# resize's overshoot); further, the range is wrong (0-255 images said to be in
# [0, 1]), and every figure with it.
RANGE_SLACK = 0.01


def _refuse(path, problem, what):
    return ValueError(f"--evaluate_npz={path} {problem}; it must be {what}.")


def read_npz_images(path, labelled, classes=data.IDX_CLASSES):
    """(images, labels or None, value_range, provenance or None) of an .npz of
    images, each checked before any figure is taken: the images' type, shape,
    count and finiteness, value_range's and the values inside it, the labels'
    type, count and range. Each refusal names the file and what it must be."""
    channels = "1" if labelled else "C"
    what = (f"an .npz with `images` [N, H, W, {channels}] (N >= {fidelity.MIN_SAMPLES}; floats"
            " in its `value_range`, [0, 1] where it has none, or uint8 0-255), optionally"
            " `labels` [N] (whole numbers) and `value_range` [2], as --generate writes")
    if not os.path.isfile(path):
        raise _refuse(path, "is a folder" if os.path.isdir(path) else "names no file", what)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "images" not in arrays:
                raise _refuse(path, f"holds {', '.join(arrays.files) or 'no'} arrays but no"
                                    " `images`", what)
            images = arrays["images"]
            labels = arrays["labels"] if "labels" in arrays else None
            value_range = arrays["value_range"] if "value_range" in arrays else None
            provenance = str(arrays["provenance"]) if "provenance" in arrays else None
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        # ValueError: pickled arrays (refused, never loaded unsafely) or garbage.
        if "--evaluate_npz" in str(error):
            raise
        raise _refuse(path, f"cannot be read as a plain .npz of arrays ({error})",
                      what) from error
    if images.dtype.kind not in "fui":
        raise _refuse(path, f"holds images of type {images.dtype}", what)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or (labelled and images.shape[-1] != 1):
        raise _refuse(path, f"holds images of shape {images.shape}", what + (
            " (grayscale for MNIST-style data sets)" if labelled else ""))
    if len(images) < fidelity.MIN_SAMPLES:
        raise _refuse(path, f"holds {len(images)} images, too few for the set figures", what)
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        raise _refuse(path, f"holds {int(np.sum(~np.isfinite(images)))} NaN or infinite pixel"
                            " values", what)
    said = "its value_range" if value_range is not None else "the range its type implies"
    value_range = _value_range(path, value_range, images, what)
    lo, hi = value_range
    low, high = float(images.min()), float(images.max())
    slack = RANGE_SLACK * (hi - lo)
    if low < lo - slack or high > hi + slack:
        raise _refuse(path, f"holds values in [{low:g}, {high:g}], outside {said} [{lo:g},"
                            f" {hi:g}]: every figure would be taken of other images. Give"
                            " `value_range` as the images' own", what)
    if labels is not None:
        if labels.dtype.kind not in "ui" or labels.shape != (len(images),):
            raise _refuse(path, f"holds `labels` of type {labels.dtype} and shape"
                                f" {labels.shape} for {len(images)} images", what)
        if len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise _refuse(path, f"holds labels from {labels.min()} to {labels.max()}, and"
                                f" the data set's classes are 0 to {classes - 1}", what)
    return images.astype(np.float32), labels, value_range, provenance


def _value_range(path, value_range, images, what):
    """The images' (lo, hi): `value_range`, checked, or the one their type implies."""
    if value_range is None:
        if images.dtype == np.uint8:
            return (0.0, 255.0)
        if images.dtype.kind != "f":
            raise _refuse(path, f"holds {images.dtype} images and no `value_range`", what)
        return (0.0, 1.0)
    if (value_range.dtype.kind not in "fui" or value_range.shape != (2,)
            or not np.isfinite(value_range).all() or not value_range[0] < value_range[1]):
        raise _refuse(path, f"holds `value_range` {value_range!r}, which is no range (two"
                            " finite numbers, low < high)", what)
    return tuple(float(v) for v in value_range)


def evaluate_npz(config, log):
    """Scores the images (and labels) of --evaluate_npz."""
    path = config_lib.expand_path(config.evaluate_npz)
    labelled = data.is_idx_dataset(config.dataset)
    generated, labels, value_range, provenance = read_npz_images(path, labelled)
    if provenance:
        log(f" [*] {config.evaluate_npz} was made by {provenance}")
    output = os.path.splitext(config.evaluate_npz)[0] + "_metrics.json"
    unit = metrics.to_unit_range(generated, value_range)
    network = _inception_network(config, log, required=not labelled)
    inception_results = None
    if network is not None:
        shape = _ImageShape(*generated.shape[1:])
        inception_results = _inception_figures(
            network, network.features(unit, "Inception: the .npz's images"), config, shape, log)
    source = {"npz": os.path.abspath(path), "value_range": list(value_range),
              "made_by": json.loads(provenance) if provenance else None}
    if not labelled:
        return write_results({**inception_results, "source": source}, output, log)
    classifier, accuracy, directory = _classifier(config, log)
    _say_if_resized(unit, log)
    results = metrics.evaluate(classifier, metrics.to_classifier_size(unit), labels, (0.0, 1.0),
                               directory, test_accuracy=accuracy)
    if inception_results:
        results["inception"] = inception_results
    return write_results({**results, "source": source}, output, log)


class _ImageShape:
    """What the real images are read at for an .npz's images: their size and
    channels, in [0, 1]."""

    def __init__(self, height, width, channels):
        self.image_shape = (height, width, channels)
        self.output_range = (0.0, 1.0)


def _non_finite_figures(results, prefix=""):
    """The names of the figures in `results` (nested dicts and lists) that are NaN
    or infinite."""
    if isinstance(results, dict):
        return [name for key, value in results.items()
                for name in _non_finite_figures(value, f"{prefix}{key}.")]
    if isinstance(results, list):
        return [name for i, value in enumerate(results)
                for name in _non_finite_figures(value, f"{prefix}{i}.")]
    if isinstance(results, float) and not math.isfinite(results):
        return [prefix.rstrip(".")]
    return []


# --metrics_samples' default: the count of this project's tables, and of the
# Frechet distances the field reports (10,000 or more).
USUAL_COUNT = config_lib.Config.metrics_samples


def write_results(results, path, log):
    """Writes the figures (JSON) and logs their table; a figure that came out NaN
    or infinite is never written as a result. `path` holds the latest; its
    history keeps each (a later scoring of other samples, a later iteration
    or another count, would replace the hours one of 50,000 took)."""
    broken = _non_finite_figures(results)
    if broken:
        raise ValueError(f"The figures {', '.join(broken)} came out NaN or infinite, so no"
                         f" metrics are written to {path}; please report it with the command.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    history = files.write_report(path, results)
    for line in format_metrics({"images": results}).splitlines():
        log(line)
    count = results.get("num_images", USUAL_COUNT)
    if count < USUAL_COUNT:
        log(f" [!] Scored on {count:,} images, fewer than the {USUAL_COUNT:,} of the usual"
            " figures: the Frechet distance rises as the count falls (two sets of real MNIST"
            " digits: 2.9 apart at 10,000, 13.7 at 1,000, 58 at 100) and the other figures"
            " move with it; compare figures of one count only, beside the real-data column.")
    on_inception = results.get("inception") or (results if "inception_sha256" in results else {})
    reference = on_inception.get("reference_images", USUAL_COUNT)
    if reference < USUAL_COUNT:
        log(f" [!] The Inception figures compare with {reference:,} real images (half of an"
            f" image folder's, at most --metrics_samples), fewer than the {USUAL_COUNT:,} of"
            " the usual figures: they are not published figures' peers (a small reference"
            " raises the Frechet distance too); compare runs on this folder with one another"
            " and with the real-data column.")
    log(f" [*] Metrics written to {path} (each scoring kept in {history})")
    return results


def _weakest(results):
    rows = [r for r in results["label_accuracy_by_class"] if r["accuracy"] is not None]
    worst = min(rows, key=lambda r: r["accuracy"])
    taken_for = worst["most_often_taken_for"]
    return (f"{worst['label']}: {worst['accuracy']:.4f}"
            + (f" (as {taken_for})" if taken_for is not None else ""))


# The table's rows: key, how a value is written.
ROWS = (("label_accuracy", "{:.4f}"), ("classifier_score", "{:.4f}"),
        ("frechet_distance", "{:.4f}"), ("intra_class_frechet_distance", "{:.4f}"),
        ("precision", "{:.4f}"), ("recall", "{:.4f}"), ("density", "{:.4f}"),
        ("coverage", "{:.4f}"), ("kid", "{:.5f}"))


def _rows(named_results, prefix=""):
    names = list(named_results)
    first = named_results[names[0]]
    rows = []
    for key, form in ROWS:
        if all(key in r for r in named_results.values()):
            cell = lambda r: (form.format(r[key]) if r[key] is not None else "-") + (  # noqa: E731
                f" +- {r['kid_std']:.5f}" if key == "kid" else "")
            real = first.get("real", {})
            rows.append((prefix + key, *(cell(r) for r in named_results.values()),
                         cell(real) if key in real else ""))
    return rows


def format_metrics(named_results):
    """A table: one column per run, each metric beside its real-data figure (the
    Inception network's figures, where there are some, prefixed inception_)."""
    names = list(named_results)
    rows = [("metric", *names, "real data")] + _rows(named_results)
    first = named_results[names[0]]
    if all("label_accuracy_by_class" in r for r in named_results.values()):
        rows.append(("weakest label", *(_weakest(r) for r in named_results.values()),
                     _weakest(first["real"])))
    if all("inception" in r for r in named_results.values()):
        rows += _rows({name: r["inception"] for name, r in named_results.items()}, "inception_")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)
