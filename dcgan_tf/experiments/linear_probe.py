"""The DCGAN paper's measure of what D learned (its Tables 1 and 2): a
regularised linear L2-SVM trained on D's features of a few labelled images
per class, scored on the test split, beside the same probe on raw pixels and on
D at its initial weights, and a supervised network of D's architecture trained
on the same labels.

The SVM (linear_svm.LinearL2SVM) is liblinear's L2-regularised squared-hinge SVM, one
class against the rest, on standardised features, solved in the primal by
L-BFGS on all classes at once: the same solution as scikit-learn's LinearSVC
(tested), which on D's thousands of dense features took minutes per C where
this takes seconds. Its C is chosen on validation splits of the labelled images
only, never on the test split: stratified 5-fold cross-validation (fewer folds
where a class has fewer than five labels), or for more than
SINGLE_SPLIT_ABOVE labels per class one stratified fifth; among C x n in
C_TIMES_N (the loss sums over the n images, so the right C shrinks as 1 / n).
The chosen C is refitted on all the labelled images.
"""

import math

import numpy as np
import tensorflow as tf

from dcgan_tf import optim
from dcgan_tf import startup

C_TIMES_N = (0.01, 0.1, 1.0, 10.0, 100.0)
FOLDS = 5
SINGLE_SPLIT_ABOVE = 100


def parse_labels_per_class(text):
    """--probe_labels as [int, or None for all]; ValueError naming the form."""
    counts = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            counts.append(None)
        elif part.isdigit() and int(part) >= 2:
            counts.append(int(part))
        else:
            raise ValueError(f"--probe_labels={text!r}: each entry is a count of labelled"
                             " images per class, at least 2 (C is chosen on a validation split"
                             " of them), or all; e.g. 10,100,1000.")
    return counts


def labelled_subset(labels, per_class, seed):
    """Indices of `per_class` images of every class (None: all), drawn by `seed`;
    ValueError where a class has fewer."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(f"--probe_labels {per_class}: class {label} has only"
                             f" {len(members)} training images; ask for at most that many.")
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen))


def _validation_splits(labels, seed):
    from sklearn import model_selection  # noqa: PLC0415 (scikit-learn only where probed)

    per_class = np.bincount(labels).min()
    if per_class < 2:
        raise ValueError("The probe chooses C on a validation split of the labelled images:"
                         " it needs at least 2 labelled images per class (--probe_labels).")
    if per_class > SINGLE_SPLIT_ABOVE:
        return model_selection.StratifiedShuffleSplit(1, test_size=0.2, random_state=seed)
    return model_selection.StratifiedKFold(min(FOLDS, per_class), shuffle=True,
                                           random_state=seed)


def fit_linear_svm(features, labels, seed=0):
    """A linear L2-SVM on standardised features with C chosen by validation;
    returns (the fitted classifier, the chosen C, its validation accuracy)."""
    from sklearn import model_selection  # noqa: PLC0415 (scikit-learn only where probed)
    from sklearn import pipeline  # noqa: PLC0415
    from sklearn import preprocessing  # noqa: PLC0415

    from dcgan_tf.experiments import linear_svm  # noqa: PLC0415 (imports scikit-learn)

    labels = np.asarray(labels, np.int64)
    grid = [c / len(labels) for c in C_TIMES_N]
    classifier = pipeline.Pipeline([("scale", preprocessing.StandardScaler()),
                                    ("svm", linear_svm.LinearL2SVM())])
    search = model_selection.GridSearchCV(classifier, {"svm__C": grid},
                                          cv=_validation_splits(labels, seed), refit=True)
    search.fit(np.asarray(features, np.float32), labels)
    return search.best_estimator_, float(search.best_params_["svm__C"]), float(
        search.best_score_)


def svm_probe(train_features, train_labels, test_features, test_labels, seed=0):
    """Test accuracy of the validated linear SVM: {accuracy, C, validation_accuracy}."""
    classifier, c, validation = fit_linear_svm(train_features, train_labels, seed)
    accuracy = float(np.mean(classifier.predict(test_features) == np.asarray(test_labels)))
    return {"accuracy": accuracy, "C": c, "validation_accuracy": validation}


class SupervisedNetwork(tf.Module):
    """D's architecture as a classifier: its hidden layers, then a new linear layer
    from the last of them to the classes (in place of D's one-unit head)."""

    def __init__(self, discriminator, input_shape, classes, seed):
        super().__init__(name="supervised")
        self.discriminator = discriminator
        probe = self.hidden(tf.zeros([1, *input_shape]), training=False)
        bound = 1.0 / math.sqrt(probe.shape[-1])
        generator = tf.random.Generator.from_seed(seed)
        self.kernel = tf.Variable(generator.uniform([probe.shape[-1], classes], -bound, bound))
        self.bias = tf.Variable(tf.zeros([classes]))
        # What it trains: the new layer and D's hidden layers, not D's own head.
        with tf.GradientTape() as tape:
            logits = self(tf.zeros([2, *input_shape]), training=False)
        gradients = tape.gradient(logits, self.trainable_variables)
        self.trained_variables = [variable for variable, gradient
                                  in zip(self.trainable_variables, gradients)
                                  if gradient is not None]

    def hidden(self, images, training):
        last = self.discriminator.layer_outputs(images, None, training=training)[-1]
        return tf.reshape(tf.cast(last, tf.float32), [tf.shape(images)[0], -1])

    def __call__(self, images, training):
        return self.hidden(images, training) @ self.kernel + self.bias


def _stratified_fifth(labels, seed):
    """(train, validation) indices: a stratified fifth (at least one per class) held out."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held = max(1, len(members) // 5)
        validation.append(members[:held])
        train.append(members[held:])
    return np.concatenate(train), np.concatenate(validation)


def train_supervised(network, images, labels, test_images, test_labels, *, learning_rate, beta1,
                     seed=0, batch_size=64, min_steps=1000, min_epochs=20, patience_share=0.25,
                     max_steps=20000):
    """Trains a SupervisedNetwork with cross-entropy and the DCGAN's Adam (the run's
    learning rate and beta1) on four fifths of the labelled images; the fifth held out picks the
    epoch whose weights are scored on the test split (training stops after a
    quarter of the planned epochs without a better one, or at a perfect one). Returns {accuracy,
    validation_accuracy, epochs, steps}."""
    labels = np.asarray(labels, np.int64)
    train, validation = _stratified_fifth(labels, seed)
    steps_per_epoch = max(1, math.ceil(len(train) / batch_size))
    epochs = min(max(min_epochs, math.ceil(min_steps / steps_per_epoch)),
                 max(1, max_steps // steps_per_epoch))
    patience = max(5, int(epochs * patience_share))
    variables = network.trained_variables
    optimizer = optim.OriginalAdam(variables, learning_rate, beta1, name="supervised_adam")

    @tf.function(autograph=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                y, network(x, training=True)))
        optimizer.apply_gradients(tape.gradient(loss, variables))
        return loss

    predict = tf.function(lambda x: tf.argmax(network(x, training=False), axis=1),
                          autograph=False)

    def accuracy(x, y):
        predicted = np.concatenate([predict(tf.constant(x[i:i + 500])).numpy()
                                    for i in range(0, len(x), 500)])
        return float(np.mean(predicted == y))

    rng = np.random.default_rng(seed)
    best, best_weights, since_best, steps, epoch = -1.0, None, 0, 0, 0
    traced = set()  # batch sizes whose step was traced and optimized
    for epoch in range(1, epochs + 1):
        order = rng.permutation(train)
        for start in range(0, len(order), batch_size):
            rows = np.sort(order[start:start + batch_size])
            if len(rows) in traced:
                step(tf.constant(images[rows]), tf.constant(labels[rows]))
            else:
                traced.add(len(rows))
                with startup.held_graph_optimizer_notices():
                    step(tf.constant(images[rows]), tf.constant(labels[rows]))
            steps += 1
        score = accuracy(images[validation], labels[validation])
        if score > best:
            best, since_best = score, 0
            best_weights = [v.numpy() for v in network.variables]
            if best == 1.0:  # no later epoch can be chosen over this one
                break
        else:
            since_best += 1
            if since_best >= patience:
                break
    for variable, value in zip(network.variables, best_weights):
        variable.assign(value)
    return {"accuracy": accuracy(test_images, np.asarray(test_labels)),
            "validation_accuracy": best, "epochs": epoch, "steps": steps}


def format_table(results):
    """The probe's table: one row per feature source, one column per label count."""
    counts = list(results["labels_per_class"])
    rows = [("features", "dims", *[f"{count} / class" for count in counts])]
    for source in results["sources"]:
        accuracies = [source["by_labels"].get(str(count), {}).get("accuracy") for count in counts]
        rows.append((source["name"], str(source.get("dims", "")),
                     *["" if a is None else f"{a:.2%}" for a in accuracies]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths))
                     for row in rows)
