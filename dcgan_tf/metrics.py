"""Quality metrics for MNIST-style models, from a classifier trained on the
real training split (the original has none; its only published figure, a
"98.44%" label accuracy from 128 images and a classifier fed the wrong pixel
range, was never merged).

- label accuracy: how often the classifier reads the label G was asked for;
- classifier score: exp(E_x KL(p(y|x) || p(y))), the Inception score's analogue
  (10 is the most a 10-class data set can reach);
- Frechet distance between classifier features of the images and of the real
  test split (FID's analogue; lower is better).
Each is reported beside the same figure for real data (real training images
against the real test split), so a number means something.
"""

import hashlib
import json
import os
import time

import numpy as np
import tensorflow as tf

from dcgan_tf import data
from dcgan_tf import fidelity
from dcgan_tf import files

# The Frechet distance is one of the set figures (fidelity.py); named here too,
# where the metrics have always had it.
frechet_distance = fidelity.frechet_distance

CLASSIFIER_VERSION = 3
# The classifier's input size (MNIST's); other images are resized to it.
CLASSIFIER_SIZE = (28, 28)
# The classifier's layer precision, recall, density, coverage and KID are
# computed on (bench/embeddings.py compared the candidates: README).
SET_EMBEDDING = "features_pre_relu"
SET_EMBEDDING_WORDS = "the classifier's 128 features before their ReLU"
DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "dcgan-tf")


def load_split(directory, split):
    """(images uint8 [N, 28, 28, 1], labels [N]) of the 'train' or 'test' split."""
    paths, missing = data.find_idx_files(directory)
    if missing:
        raise data.DataError(f"Missing in {directory}: {', '.join(missing)}.")
    images = data.read_idx(paths[f"{split}_images"], data.IDX_IMAGES_MAGIC)[..., None]
    return images, data.read_idx(paths[f"{split}_labels"], data.IDX_LABELS_MAGIC)


def build_classifier(width=32, feature_units=128, num_classes=10):
    """A small CNN on [28, 28, 1] images in [0, 1]; outputs (logits, features)."""
    import keras  # noqa: PLC0415 (Keras only where the metrics need it)

    inputs = keras.Input((28, 28, 1))
    # Shifts of up to 2 pixels while training only: the 22,699 training digits
    # some machines have reach 99% with them, not without.
    h = keras.layers.RandomTranslation(0.07, 0.07, fill_mode="constant")(inputs)
    h = keras.layers.Conv2D(width, 3, activation="relu", padding="same")(h)
    h = keras.layers.Conv2D(width, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(2 * width, 3, activation="relu", padding="same")(h)
    h = keras.layers.Conv2D(2 * width, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    features = keras.layers.Dense(feature_units, activation="relu", name="features")(
        keras.layers.Flatten()(h))
    logits = keras.layers.Dense(num_classes, name="logits")(keras.layers.Dropout(0.3)(features))
    return keras.Model(inputs, [logits, features])


def _fingerprint(*arrays, **options):
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def load_or_train_classifier(dataset_dir, cache_dir=DEFAULT_CACHE_DIR, epochs=15, width=32,
                             max_train=None, seed=0, log=print):
    """The classifier of the data set in `dataset_dir`, trained once on its real
    training split and cached; returns (model, real test accuracy). A cache
    folder that cannot take it is refused before the minutes of training."""
    train_x, train_y = load_split(dataset_dir, "train")
    test_x, test_y = load_split(dataset_dir, "test")
    if max_train:
        train_x, train_y = train_x[:max_train], train_y[:max_train]
    key = _fingerprint(train_y, test_y, version=CLASSIFIER_VERSION, epochs=epochs, width=width,
                       count=len(train_x), seed=seed)
    path = os.path.join(cache_dir, f"classifier_{key}.weights.h5")
    model = _cached_classifier(path, width, log)
    if model is None:
        files.check_can_make_folder(cache_dir, "--classifier_cache")
        # Two --evaluate runs started together: the second waits for the first's
        # classifier rather than train its own beside it for minutes.
        with files.in_turn(path, lambda holder: log(
                f" [*] {holder} is training the metrics' classifier into {path}; waiting for"
                " it to finish")):
            model = _cached_classifier(path, width, log)
            if model is None:
                model = _trained_classifier(path, train_x, train_y, epochs, width, seed, log)
    probabilities, _ = classify(model, test_x.astype(np.float32) / 255.0)
    return model, float(np.mean(probabilities.argmax(1) == test_y))


def _cached_classifier(path, width, log):
    """The classifier cached at `path`, or None: none there, or a damaged one
    (set aside as *.damaged, and said)."""
    if not os.path.exists(path):
        return None
    model = build_classifier(width)
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 (h5py and Keras raise many kinds)
        os.replace(path, path + ".damaged")
        log(f" [!] The classifier cache {path} is damaged ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}): set aside as"
            f" {path}.damaged; training the classifier again.")
        return None
    log(f" [*] Classifier from the cache: {path}")
    return model


def _trained_classifier(path, train_x, train_y, epochs, width, seed, log):
    """The classifier trained on the real training split, then cached at `path`."""
    import keras  # noqa: PLC0415

    log(f" [*] Training the metrics' classifier on {len(train_x)} real images ({epochs}"
        f" epochs; once: it is cached in {os.path.dirname(path)})")
    model = build_classifier(width)
    keras.utils.set_random_seed(seed)
    trainer = keras.Model(model.input, model.output[0])
    # Decayed to zero over the run: at a constant rate the classifier stayed
    # near 99% on its own training digits (about 97% on the 1s) and so misjudged
    # good samples; decayed, 99.87% there and 99.34% on the test split.
    steps = epochs * -(-len(train_x) // 128)
    learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(train_x.astype(np.float32) / 255.0, train_y.astype(np.int64), batch_size=128,
                epochs=epochs, verbose=0, callbacks=[_epoch_progress(epochs, log)])
    with files.written_whole(path, suffix=".weights.h5") as partial:
        model.save_weights(partial)
    log(f" [*] Trained the classifier on {len(train_x)} real images; cached in {path}")
    return model


def _epoch_progress(epochs, log):
    """A Keras callback logging each epoch's end with the time left, so a first
    --evaluate that trains the classifier for minutes says so as it goes."""
    import keras  # noqa: PLC0415

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.time()

        def on_epoch_end(self, epoch, logs=None):
            spent = time.time() - self.start
            left = spent / (epoch + 1) * (epochs - epoch - 1)
            log(f" [*] Classifier epoch {epoch + 1}/{epochs}: {spent:.0f} s,"
                f" about {left:.0f} s left")

    return EpochProgress()


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def classify(model, images, batch_size=500):
    """(class probabilities [N, 10], features [N, F]) of images [N, 28, 28, 1] in [0, 1]."""
    probabilities, features = [], []
    for start in range(0, len(images), batch_size):
        logits, feats = model(images[start:start + batch_size], training=False)
        probabilities.append(softmax(logits))
        features.append(np.asarray(feats, np.float64))
    return np.concatenate(probabilities), np.concatenate(features)


def embeddings(model, images, batch_size=500):
    """The classifier's candidate embeddings of images [N, 28, 28, 1] in [0, 1]:
    {"conv": the last conv block, flattened [N, 3136]; "features_pre_relu" and
    "features": the 128 features before and after their ReLU; "logits" [N, 10]}
    (bench/embeddings.py compares them)."""
    import keras  # noqa: PLC0415

    flatten = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    dense = model.get_layer("features")
    inner = keras.Model(model.input, [flatten.output, *model.output])
    parts = {"conv": [], "features_pre_relu": [], "features": [], "logits": []}
    for start in range(0, len(images), batch_size):
        flat, logits, features = inner(images[start:start + batch_size], training=False)
        flat = np.asarray(flat, np.float64)
        parts["conv"].append(flat)
        parts["features_pre_relu"].append(flat @ np.asarray(dense.kernel, np.float64)
                                          + np.asarray(dense.bias, np.float64))
        parts["features"].append(np.asarray(features, np.float64))
        parts["logits"].append(np.asarray(logits, np.float64))
    return {name: np.concatenate(blocks) for name, blocks in parts.items()}


def classifier_score(probabilities, eps=1e-12):
    """exp(mean KL(p(y|x) || p(y))): 1 for one class or uniform guesses, up to the
    number of classes for confident, balanced ones."""
    marginal = probabilities.mean(0, keepdims=True)
    kl = np.sum(probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def to_classifier_size(images, size=CLASSIFIER_SIZE):
    """Images [N, H, W, 1] resized (bilinear, antialiased) to the classifier's size,
    in their own value range; unchanged when already that size."""
    images = np.asarray(images, np.float32)
    if images.shape[1:3] == size:
        return images
    return np.concatenate([
        tf.image.resize(images[i:i + 1000], size, method="bilinear", antialias=True).numpy()
        for i in range(0, len(images), 1000)])


def to_unit_range(images, value_range):
    lo, hi = value_range
    return np.clip((np.asarray(images, np.float32) - lo) / (hi - lo), 0, 1)


def accuracy_by_class(predicted, labels, num_classes=10):
    """Per label: the fraction classified as that label, and the label it is
    most often taken for otherwise (None where never wrong), so one weak digit
    shows instead of hiding in the mean."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    rows = []
    for label in range(num_classes):
        mine = predicted[labels == label]
        wrong = np.bincount(mine[mine != label], minlength=num_classes)
        rows.append({"label": label, "count": int(len(mine)),
                     "accuracy": float(np.mean(mine == label)) if len(mine) else None,
                     "most_often_taken_for": int(wrong.argmax()) if wrong.any() else None})
    return rows


def _label_figures(probabilities, labels):
    predicted = probabilities.argmax(1)
    return {"label_accuracy": float(np.mean(predicted == labels)),
            "label_accuracy_by_class": accuracy_by_class(predicted, labels,
                                                         probabilities.shape[1])}


def evaluate(model, images, labels, value_range, real_dir, real_count=None, test_accuracy=None):
    """Scores images [N, 28, 28, 1] (in `value_range`) with optional labels [N],
    beside the same figures for real training images against the real test
    split; returns a JSON-ready dict."""
    embedded = embeddings(model, to_unit_range(images, value_range))
    return evaluate_classified(model, softmax(embedded["logits"]), embedded["features"],
                               embedded[SET_EMBEDDING], labels, real_dir, real_count,
                               test_accuracy)


def evaluate_classified(model, probabilities, features, set_features, labels, real_dir,
                        real_count=None, test_accuracy=None):
    """`evaluate` from the classifier's outputs for the images (probabilities
    [N, 10], features [N, 128], and the SET_EMBEDDING the set figures read):
    what a stream of batches keeps of them."""
    test_x, test_y = load_split(real_dir, "test")
    train_x, train_y = load_split(real_dir, "train")
    count = real_count or len(probabilities)
    real = embeddings(model, train_x[:count].astype(np.float32) / 255.0)
    test = embeddings(model, test_x.astype(np.float32) / 255.0)
    real_probabilities = softmax(real["logits"])
    reference = fidelity.RealSet(test[SET_EMBEDDING])  # its balls, once for both sets
    results = {
        "num_images": int(len(probabilities)),
        "classifier_score": classifier_score(probabilities),
        "frechet_distance": frechet_distance(features, test["features"]),
        "real": {"num_images": int(count),
                 "classifier_score": classifier_score(real_probabilities),
                 "frechet_distance": frechet_distance(real["features"], test["features"]),
                 **_label_figures(real_probabilities, train_y[:count]),
                 **reference.figures(real[SET_EMBEDDING])},
        "set_features": SET_EMBEDDING_WORDS,
        "precision_recall_k": fidelity.PRECISION_RECALL_K,
        "density_coverage_k": fidelity.DENSITY_COVERAGE_K,
    }
    results.update(reference.figures(set_features))
    if labels is not None:
        results.update(_label_figures(probabilities, labels))
        classes = probabilities.shape[1]
        by_class, mean = fidelity.frechet_distance_by_class(
            test["features"], test_y, features, np.asarray(labels), classes)
        results.update(frechet_distance_by_class=by_class, intra_class_frechet_distance=mean)
        by_class, mean = fidelity.frechet_distance_by_class(
            test["features"], test_y, real["features"], train_y[:count], classes)
        results["real"].update(frechet_distance_by_class=by_class,
                               intra_class_frechet_distance=mean)
    if test_accuracy is not None:
        results["classifier_test_accuracy"] = test_accuracy
    return results
