"""Test mode's experiments of the DCGAN paper that read D or real images:
--linear_probe, --visualize_option guided_backprop and --nearest_neighbours
(the walks and the arithmetic need G alone: visualize.py). Each refuses, before
anything is written, a run where it cannot mean anything, saying why."""

import dataclasses
import os
import sys

import numpy as np
import tensorflow as tf
import tqdm

from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import datasets
from dcgan_tf import files
from dcgan_tf import generation
from dcgan_tf import images
from dcgan_tf import memory
from dcgan_tf import metrics
from dcgan_tf import networks
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf.experiments import features as features_lib
from dcgan_tf.experiments import guided_backprop as guided_lib
from dcgan_tf.experiments import linear_probe as probe_lib
from dcgan_tf.experiments import memorisation
from dcgan_tf.experiments import real_images

# Real images guided backpropagation chooses its features and images from.
GUIDED_POOL = 512
# Samples shown with their neighbours in nearest_neighbours.png.
NEIGHBOUR_ROWS = 10


def probe_dataset(config):
    """The labelled data the probe reads: --probe_dataset, or the run's own
    MNIST-style data set."""
    return config.probe_dataset or (config.dataset if data.is_idx_dataset(config.dataset)
                                    else "")


def discriminator_reads_labels(run):
    return run.model_config.conditional and not run.system.auxiliary_classifier


def _probe_folder(config, name):
    return os.path.join(config_lib.expand_path(config.data_dir), name)


def check_applies(config, run, log=print):
    """Refusals that depend on the run's model, or that a look at the data set
    finds (a missing MNIST-style one fetched), or that ask for more memory than
    there is, before anything is written."""
    if config.nearest_neighbours:
        shape = run.model_config.image_shape
        memory.check_fits(
            8 * config.nearest_neighbours * int(np.prod(shape)),
            f"--nearest_neighbours {config.nearest_neighbours} (the samples, held with their"
            " distances)", "pass fewer samples (a few thousand tell as much).")
    if config.nearest_neighbours or config.visualizes("guided_backprop"):
        runs.largest_train_size(run.paths, run.record)  # which images it trained on
        datasets.check_present(config, log)
    if config.linear_probe:
        probe_lib.parse_labels_per_class(config.probe_labels)
        name = probe_dataset(config)
        if not name:
            raise ValueError(
                f"--linear_probe needs labelled images, and --dataset {config.dataset} is an"
                " image folder without labels: pass --probe_dataset mnist (or"
                " fashion_mnist, or a folder under --data_dir holding train/<class>/ and"
                " test/<class>/ images).")
        if data.is_idx_dataset(name):
            datasets.check_present(dataclasses.replace(config, dataset=name), log)
        elif not all(
                os.path.isdir(os.path.join(_probe_folder(config, name), split))
                for split in ("train", "test")):
            raise data.DataError(
                f"--probe_dataset {name}: {_probe_folder(config, name)} holds no train/ and"
                " test/ folders. Pass mnist, fashion_mnist, or a folder under --data_dir holding"
                " train/<class>/ and test/<class>/ images.")
    if config.linear_probe and discriminator_reads_labels(run):
        raise ValueError(
            f"--linear_probe cannot score this run's D honestly: it is conditional"
            f" ({run.system_name}), so it reads the label the probe would ask it to predict."
            " Probe an unconditional model: carpedm20's DCGAN on an image folder (MNIST or"
            " Fashion-MNIST written out as PNG files; see the README), or gan, wgan, wgan_gp,"
            " lsgan.")


# ------------------------------------------------------------------ D

def reads_trained_discriminator(config):
    """Whether an action asked for reads the run's trained D (test mode then
    restores it with G, from the same checkpoint: sample.load_run)."""
    return bool(config.linear_probe or config.visualizes("guided_backprop"))


def initial_discriminator(run, config, log):
    """D at the weights the run started from: its recorded seed rebuilds them, as
    training built them (networks.build under the run's seed). An original TF1
    run's are not known: a fresh initialisation stands in, said."""
    seed = run.recorded_seed()
    if seed is None:
        seed = config.seed or 0
        log(f" [*] The run's initial weights are not known (no record of its seed); D's"
            f" initial weights drawn with seed {seed} stand in for them")
    system = systems.compose(run.system_name, run.record.loss, config)
    return networks.build(system.networks, run.model_config, seed,
                          tf.random.Generator.from_seed(seed + 1), raw_scores=system.raw_scores,
                          critic_norm=system.critic_norm, normal_init=system.normal_init)[1]


def _layer_shapes(discriminator, model_config):
    y = (tf.zeros([1, model_config.y_dim]) if model_config.conditional else None)
    layers = discriminator.layer_outputs(tf.zeros([1, *model_config.image_shape]), y,
                                         training=False)
    return [tuple(layer.shape[1:]) for layer in layers]


# ------------------------------------------------------------------ the linear probe

def _labelled_splits(config, model_config, log):
    name = probe_dataset(config)
    if data.is_idx_dataset(name):
        directory = datasets.idx_dataset_directory(dataclasses.replace(config, dataset=name), log)
        return name, real_images.labelled_idx(directory)
    return name, real_images.labelled_folder(_probe_folder(config, name),
                                             model_config.image_shape)


def linear_probe(config, run, log):
    """--linear_probe: writes <samples>/linear_probe.json and prints the table."""
    counts = probe_lib.parse_labels_per_class(config.probe_labels)
    name, splits = _labelled_splits(config, run.model_config, log)
    seed = config.seed or 0
    subsets = {count: probe_lib.labelled_subset(splits.train_labels, count, seed)
               for count in counts}
    used = np.unique(np.concatenate(list(subsets.values())))
    position = {index: i for i, index in enumerate(used)}
    train_inputs = real_images.to_model_input(splits.train_images[used], run.model_config)
    test_inputs = real_images.to_model_input(splits.test_images, run.model_config)
    log(f" [*] Linear probe on {name}: {len(used)} labelled training images, "
        f"{len(test_inputs)} test images, {len(splits.classes)} classes")
    trained = run.discriminator
    sources = {
        "raw pixels": lambda x: x.reshape(len(x), -1),
        "D, initial weights": lambda x, d=initial_discriminator(run, config, log):
            features_lib.discriminator_features(d, x),
        "D, trained": lambda x: features_lib.discriminator_features(trained, x),
    }
    results = {"dataset": name, "labels_per_class": [c or "all" for c in counts],
               "test_images": int(len(test_inputs)), "classes": splits.classes, "seed": seed,
               "model": run.system_name, "checkpoint": run.checkpoint,
               "source": run.provenance(),
               "grid": features_lib.GRID, "c_times_n": list(probe_lib.C_TIMES_N), "sources": []}
    if run.system.auxiliary_classifier:
        results["note"] = ("AC-GAN's D was trained with labels (its class head): its features"
                           " are not unsupervised.")
    for source, extract in sources.items():
        train_features, test_features = extract(train_inputs), extract(test_inputs)
        row = {"name": source, "dims": int(train_features.shape[1]), "by_labels": {}}
        for count, subset in subsets.items():
            rows = [position[i] for i in subset]
            log(f" [*] {source}, {count or 'all'} per class: fitting the SVM ({len(subset)}"
                f" images x {train_features.shape[1]:,} features; C chosen of"
                f" {len(probe_lib.C_TIMES_N)} on validation splits)")
            row["by_labels"][str(count or "all")] = probe_lib.svm_probe(
                train_features[rows], splits.train_labels[subset], test_features,
                splits.test_labels, seed)
            log(f" [*] {source}, {count or 'all'} per class:"
                f" {row['by_labels'][str(count or 'all')]['accuracy']:.2%}")
        results["sources"].append(row)
    supervised = {"name": "supervised D architecture", "dims": None, "by_labels": {}}
    for count, subset in subsets.items():
        network = probe_lib.SupervisedNetwork(initial_discriminator(run, config, lambda _: None),
                                              run.model_config.image_shape,
                                              len(splits.classes), seed)
        supervised["dims"] = int(network.kernel.shape[0])  # what its new layer reads
        rows = [position[i] for i in subset]
        supervised["by_labels"][str(count or "all")] = probe_lib.train_supervised(
            network, train_inputs[rows], splits.train_labels[subset], test_inputs,
            splits.test_labels, learning_rate=config.learning_rate, beta1=config.beta1,
            seed=seed)
        log(f" [*] supervised, {count or 'all'} per class:"
            f" {supervised['by_labels'][str(count or 'all')]['accuracy']:.2%}")
    results["sources"].append(supervised)
    path = os.path.join(run.paths.sample_dir, "linear_probe.json")
    history = files.write_report(path, results)
    results["labels_per_class"] = [c or "all" for c in counts]
    for line in probe_lib.format_table(results).splitlines():
        log(line)
    log(f" [*] Linear probe written to {path} (each probe kept in {history})")
    return results


# ------------------------------------------------------------------ real images of the run

@dataclasses.dataclass
class RunImages:
    """Real images of a run's data set: `chunks(size)` streams those the run
    trained on (uint8; `rows`: their indices in the data set as the run reads
    it), `unseen` (uint8) and `unseen_labels` are real images it never trained
    on (None where too few are left), and the two texts say which they are."""

    chunks: object
    rows: object
    unseen: object
    unseen_labels: object
    trained_on: str
    held_out: str
    unusable: set = dataclasses.field(default_factory=set)  # rows chunks found unusable

    def streamed_rows(self):
        """The data set's indices of the images `chunks` yields, in order (once
        it has streamed them all: an image folder's unusable files left out)."""
        return np.array([row for row in self.rows if row not in self.unusable], np.int64)


LEAVE_ONE_OUT = ("the images it trained on, each against the others (leave-one-out: fewer than"
                 f" {memorisation.UNSEEN_REAL:,} real images were left out of its training)")


def _delivered(run, training_data, position):
    """Sorted indices of the examples the run's batches took (every epoch's
    draws, by --train_size, up to `position`: where its checkpoint stands), or
    None where that is all of them."""
    per_epoch = min(training_data.num_examples, runs.largest_train_size(run.paths, run.record))
    taken = training_data.delivered(*position, int(per_epoch), run.record.batch_size)
    return None if len(taken) == training_data.num_examples else taken


def _run_images(config, run, log, unseen_wanted):
    """The run's RunImages: of unseen real images, up to `unseen_wanted` of an
    image folder's are read."""
    system = systems.SYSTEMS[run.system_name]
    # The run's seed ordered its epochs (test mode's --seed seeds its own draws).
    config = dataclasses.replace(config, model=run.system_name, seed=run.recorded_seed())
    training_data = datasets.load_training_data(config, system, log)
    total = training_data.num_examples
    position = run.epoch_position
    unknown = ("an original TF1 checkpoint does not say which it trained on" if position is None
               else "the run does not record the seed that ordered its epochs"
               if run.recorded_seed() is None
               else "its first iterations were the original TF1 code's, whose shuffles of the"
                    " folder are not recorded"
               if (isinstance(training_data, data.ImageFolderData)
                   and runs.continues_original(run.paths))
               else runs.data_changed(run.paths, training_data.contents))
    if unknown:
        taken, trained_on = None, f"all {total:,} images (taken so: {unknown})"
    else:
        taken = _delivered(run, training_data, position)
        trained_on = (f"all {total:,} images" if taken is None else
                      f"the {len(taken):,} of {total:,} images its batches took")
    rows = np.arange(total) if taken is None else taken
    rest = np.setdiff1d(np.arange(total), rows)
    enough_rest = len(rest) >= memorisation.UNSEEN_REAL
    if isinstance(training_data, data.ImageFolderData):
        unusable = set()

        def chunks(size=2000):
            for start in range(0, len(rows), size):
                loaded = []
                for row in rows[start:start + size]:
                    try:
                        loaded.append(training_data.load(training_data.files[row]))
                    except data.UnusableImage:
                        unusable.add(row)
                if loaded:
                    yield np.stack(loaded)
        if not enough_rest:
            return RunImages(chunks, rows, None, None, trained_on, LEAVE_ONE_OUT, unusable)
        chosen = np.sort(np.random.default_rng(config.seed).permutation(rest)[:unseen_wanted])
        unseen = training_data.load_usable([training_data.files[i] for i in chosen])
        return RunImages(chunks, rows, unseen, None, trained_on,
                         f"{len(unseen):,} of the folder's {len(rest):,} images its batches never"
                         " took", unusable)

    def chunks(size=5000):
        for start in range(0, len(rows), size):
            yield training_data.images[rows[start:start + size]]
    if system.data == "scripts":  # trained on the training split: the test split is unseen
        directory = datasets.idx_dataset_directory(config, log)
        test_images, test_labels = data.load_idx_split(directory, "test")
        unseen = data.resize_like_torchvision(test_images, run.model_config.image_shape[0])
        return RunImages(chunks, rows, unseen, test_labels, f"{trained_on} of the training split",
                         "the test split (the run never trained on it)")
    if not enough_rest:
        return RunImages(chunks, rows, None, None, trained_on, LEAVE_ONE_OUT)
    return RunImages(chunks, rows, training_data.images[rest], training_data.labels[rest],
                     trained_on, f"the data set's {len(rest):,} images its batches never took")


def guided_backprop(config, run, log):
    """--visualize_option guided_backprop: <samples>/guided_backprop.png."""
    real = _run_images(config, run, log, GUIDED_POOL)
    if real.unseen is not None:
        pool = real.unseen[:GUIDED_POOL]
        labels = None if real.unseen_labels is None else real.unseen_labels[:GUIDED_POOL]
    else:
        pool = next(real.chunks(GUIDED_POOL))
        labels = None
    if discriminator_reads_labels(run) and labels is None:
        directory = datasets.idx_dataset_directory(config, log)
        pool, labels = data.load_idx_split(directory, "test")
        pool, labels = pool[:GUIDED_POOL, ..., None], labels[:GUIDED_POOL]
    inputs = real_images.to_model_input(pool, run.model_config)
    shown = metrics.to_unit_range(inputs, run.model_config.output_range)
    y = (np.eye(run.model_config.y_dim, dtype=np.float32)[labels]
         if discriminator_reads_labels(run) else None)
    trained = run.discriminator
    layer = guided_lib.last_convolutional_layer(_layer_shapes(trained, run.model_config))
    rows, captions = [], []
    for name, discriminator in (("trained", trained),
                                ("initial", initial_discriminator(run, config, log))):
        for caption, cells in guided_lib.feature_rows(discriminator, (inputs, shown), y, layer):
            rows.append(cells)
            captions.append(f"{name} {caption}")
    path = images.captioned_rows(rows, captions, (0.0, 1.0),
                                 os.path.join(run.paths.sample_dir, "guided_backprop.png"),
                                 source=run.source())
    log(f" [*] Guided backpropagation of D's layer {layer} (image, map pairs per feature):"
        f" {path}")
    return path


# ------------------------------------------------------------------ memorisation

def _classifier_features(config, run, log):
    """A function from images in [0, 1] to the metrics classifier's features, where
    the run's data set has one (MNIST-style, grayscale); else None."""
    if not data.is_idx_dataset(config.dataset) or run.model_config.image_shape[-1] != 1:
        return None
    directory = datasets.idx_dataset_directory(config, log)
    cache = config.classifier_cache or metrics.DEFAULT_CACHE_DIR
    classifier, _ = metrics.load_or_train_classifier(directory, cache, log=log)
    return lambda unit: metrics.classify(classifier, metrics.to_classifier_size(unit))[1]


def nearest_neighbours(config, run, sampler, log):
    """--nearest_neighbours N: <samples>/nearest_neighbours.png and .json."""
    count = config.nearest_neighbours
    model_config = run.model_config
    # The unseen real images the verdict compares with: UNSEEN_REAL where there are
    # so many (its 1% quantile needs them), not only as many as there are samples.
    wanted = max(count, memorisation.UNSEEN_REAL)
    real_images_of_run = _run_images(config, run, log, wanted)
    chunks, unseen = real_images_of_run.chunks, real_images_of_run.unseen
    samples = np.concatenate([batch for batch, _ in generation.generated_batches(
        sampler, model_config, count, config.z_dist, config.batch_size, config.seed or 0)])
    samples = metrics.to_unit_range(samples, model_config.output_range)
    rng = np.random.default_rng(config.seed or 0)
    if unseen is not None:
        chosen = rng.permutation(len(unseen))[:wanted]
        real, real_indices = unseen[chosen].astype(np.float32) / 255.0, None
    else:
        total = sum(len(chunk) for chunk in chunks())
        real_indices = np.sort(rng.permutation(total)[:wanted])
        real = np.concatenate([chunk for chunk in _rows_of(chunks(), real_indices)]) / 255.0
    spaces = {"pixels": lambda unit: unit.reshape(len(unit), -1)}
    classify = _classifier_features(config, run, log)
    if classify is not None:
        spaces["classifier_features"] = classify
    log(f" [*] Training images: {real_images_of_run.trained_on}; unseen real images:"
        f" {real_images_of_run.held_out}")
    report = {"samples": count, "training_images": real_images_of_run.trained_on,
              "unseen_real": real_images_of_run.held_out, "neighbours": memorisation.NEIGHBOURS,
              "source": run.provenance(), "spaces": {}}
    shown = {}
    for space, embed in spaces.items():
        # One pass over the training images for the samples and the unseen real
        # images together (each pass embeds every training image once more).
        queries = np.concatenate([embed(samples), embed(real)])
        own = None if real_indices is None else np.concatenate(
            [np.full(len(samples), -1), real_indices])  # -1: a sample is none of them
        with tqdm.tqdm(total=len(real_images_of_run.rows), unit="img", file=sys.stderr,
                       desc=f"nearest neighbours in {space}", mininterval=1.0) as bar:
            reference = (embed(chunk.astype(np.float32) / 255.0)
                         for chunk in _counted(chunks(), bar))
            distances, neighbours = memorisation.nearest(queries, reference, query_indices=own)
        sample_d, sample_i = distances[:len(samples)], neighbours[:len(samples)]
        real_d = distances[len(samples):]
        report["spaces"][space] = memorisation.verdict(sample_d, real_d)
        report["spaces"][space]["first_samples_neighbours"] = \
            real_images_of_run.streamed_rows()[sample_i[:NEIGHBOUR_ROWS]].tolist()
        shown[space] = sample_i[:NEIGHBOUR_ROWS]
        log(f" [*] Nearest neighbours in {space}: {report['spaces'][space]['verdict']}")
    report["verdict"] = report["spaces"]["pixels"]["verdict"]
    wanted = np.unique(np.concatenate(list(shown.values())).ravel())
    found = dict(zip(wanted, np.concatenate(list(_rows_of(chunks(), wanted))) / 255.0))
    rows = []
    for r in range(min(NEIGHBOUR_ROWS, count)):
        row = [samples[r], None]
        for space in spaces:
            row += [found[i] for i in shown[space][r]] + [None]
        rows.append(row[:-1])
    captions = [""] * len(rows)
    png = images.captioned_rows(rows, captions, (0.0, 1.0),
                                os.path.join(run.paths.sample_dir, "nearest_neighbours.png"),
                                source=run.source())
    report["picture"] = ("each row: a sample, then its nearest training images in "
                         + ", then in ".join(spaces))
    path = os.path.join(run.paths.sample_dir, "nearest_neighbours.json")
    history = files.write_report(path, report)
    log(f" [*] Memorisation: {report['verdict']}")
    log(f" [*] Nearest neighbours written to {png} and {path} (each search kept in {history})")
    return report


def _counted(chunks, bar):
    """`chunks`, each counted on the progress `bar` once it is used."""
    for chunk in chunks:
        yield chunk
        bar.update(len(chunk))


def _rows_of(chunks, indices):
    """The rows at sorted `indices` of a stream of chunks."""
    indices = np.asarray(indices)
    offset = 0
    for chunk in chunks:
        inside = indices[(indices >= offset) & (indices < offset + len(chunk))]
        if len(inside):
            yield chunk[inside - offset]
        offset += len(chunk)
