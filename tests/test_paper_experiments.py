"""The DCGAN paper's experiments (dcgan_tf/experiments/): each piece against a
computation done here by hand or by brute force, then every action through
main.py's code path on small trained runs, and the refusals."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import adam_bounds
import fakes
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import runs as run_folders
from dcgan_tf import visualize
from dcgan_tf.commands import experiments
from dcgan_tf.commands import sample as sample_command
from dcgan_tf.experiments import features
from dcgan_tf.experiments import guided_backprop
from dcgan_tf.experiments import latent_space
from dcgan_tf.experiments import linear_probe
from dcgan_tf.experiments import memorisation
from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan

pytestmark = pytest.mark.xdist_group("paper_experiments")


# ----------------------------------------------------------------- D's features

@pytest.mark.parametrize("size,channels,df_dim,per_df", [
    # 28 -> 14, 7, 4, 2: 16 df + 16 (2 df) + 16 (4 df) + 2 * 2 (8 df) = 144 df
    (28, 1, 4, 144),
    # 64 -> 32, 16, 8, 4: 16 (df + 2 df + 4 df + 8 df) = 240 df
    (64, 3, 3, 240),
])
def test_carpedm20_features_have_the_formulas_size(size, channels, df_dim, per_df):
    config = carpedm20.ModelConfig(size, size, channels, df_dim=df_dim)
    _, discriminator = carpedm20.build_models(config)
    images = np.random.default_rng(0).uniform(-1, 1, (3, size, size, channels))
    found = features.discriminator_features(discriminator, images.astype(np.float32))
    assert found.shape == (3, per_df * df_dim)
    shapes = [tuple(layer.shape[1:]) for layer in discriminator.layer_outputs(
        tf.constant(images, tf.float32), None, training=False)]
    assert features.feature_count(shapes) == per_df * df_dim


def test_family_critics_features_are_their_hidden_layers():
    mlp = pytorch_gan.FamilyModelConfig("wgan_gp", 28, 1)
    _, critic = pytorch_gan.build_networks("mlp", mlp, None, True, False, False)
    found = features.discriminator_features(critic, np.zeros((2, 28, 28, 1), np.float32))
    assert found.shape == (2, 512 + 256)
    conv = pytorch_gan.FamilyModelConfig("lsgan", 32, 1)
    _, critic = pytorch_gan.build_networks("conv", conv, tf.random.Generator.from_seed(0), True,
                                           False, False)
    found = features.discriminator_features(critic, np.zeros((2, 32, 32, 1), np.float32))
    # 16x16x16, 8x8x32, 4x4x64 pooled to 4x4, and 2x2x128 whole
    assert found.shape == (2, 16 * (16 + 32 + 64) + 4 * 128)


def test_max_pool_to_grid_takes_each_cells_maximum():
    layer = np.random.default_rng(1).normal(size=(2, 7, 5, 3)).astype(np.float32)
    pooled = features.max_pool_to_grid(tf.constant(layer)).numpy().reshape(2, 4, 4, 3)
    rows = [(0, 2), (1, 4), (3, 6), (5, 7)]  # 7 pixels in 4 cells, as adaptive pooling cuts
    cols = [(0, 2), (1, 3), (2, 4), (3, 5)]
    for i, (top, bottom) in enumerate(rows):
        for j, (left, right) in enumerate(cols):
            np.testing.assert_array_equal(pooled[:, i, j],
                                          layer[:, top:bottom, left:right].max(axis=(1, 2)))
    small = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    np.testing.assert_array_equal(features.max_pool_to_grid(tf.constant(small)).numpy(),
                                  small.reshape(2, -1))  # a 2x2 layer is kept whole


# ----------------------------------------------------------------- the linear probe

def _blobs(rng, count, centres, spread):
    labels = rng.integers(0, len(centres), count)
    return centres[labels] + rng.normal(0, spread, (count, centres.shape[1])), labels


def test_the_probe_separates_separable_classes_and_chooses_c_without_the_test_split():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 20))
    train_x, train_y = _blobs(rng, 300, centres, 1.0)
    test_x, test_y = _blobs(rng, 200, centres, 1.0)
    subset = linear_probe.labelled_subset(train_y, 8, seed=0)
    assert np.array_equal(np.bincount(train_y[subset]), [8, 8, 8])
    result = linear_probe.svm_probe(train_x[subset], train_y[subset], test_x, test_y)
    assert result["accuracy"] == 1.0
    assert result["C"] in [c / len(subset) for c in linear_probe.C_TIMES_N]
    # The test split plays no part in the choice: wrong test labels change the
    # accuracy, never C or the validation score.
    shuffled = linear_probe.svm_probe(train_x[subset], train_y[subset], test_x,
                                      (test_y + 1) % 3)
    assert (shuffled["C"], shuffled["validation_accuracy"]) == (
        result["C"], result["validation_accuracy"])
    assert shuffled["accuracy"] == 0.0
    # Labels that say nothing about the features: chance, not 100%.
    noise = linear_probe.svm_probe(train_x[subset], rng.permutation(train_y[subset]), test_x,
                                   test_y)
    assert noise["accuracy"] < 0.6


@pytest.mark.parametrize("c,images,dims", [
    (1e-3, 400, 30), (0.1, 400, 30),    # more images than features: solved as it stands
    (1e-3, 60, 300), (0.1, 60, 300),    # fewer: solved in the images' span
])
def test_the_svm_solves_what_liblinears_linearsvc_solves(c, images, dims):
    from sklearn import svm  # noqa: PLC0415

    from dcgan_tf.experiments import linear_svm  # noqa: PLC0415

    rng = np.random.default_rng(4)
    centres = rng.normal(0, 1, (4, dims)) * np.sqrt(30 / dims)  # as far apart in any dims
    features, labels = _blobs(rng, images, centres, 1.5)          # overlapping
    ours = linear_svm.LinearL2SVM(C=c).fit(features, labels)
    theirs = svm.LinearSVC(C=c, loss="squared_hinge", dual=True, tol=1e-8,
                           max_iter=100000).fit(features, labels)
    # One convex objective: the same weights to the solvers' tolerances, and so
    # the same decisions.
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=2e-3 * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=2e-3 * scale)
    assert np.mean(ours.predict(features) == theirs.predict(features)) > 0.99


def test_probe_labels_are_counts_per_class():
    assert linear_probe.parse_labels_per_class("10, 100,all") == [10, 100, None]
    for bad in ("1", "ten", "10,,100", "-5"):
        with pytest.raises(ValueError, match="--probe_labels"):
            linear_probe.parse_labels_per_class(bad)
    with pytest.raises(ValueError, match="class 1 has only 2 training images"):
        linear_probe.labelled_subset(np.array([0, 0, 0, 1, 1]), 3, seed=0)


# ----------------------------------------------------------------- walks and arithmetic

def test_walks_pass_through_their_points_and_spherical_steps_keep_the_norm():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(9, 100))
    path = latent_space.walk(points, 4, "linear")
    assert path.shape == (33, 100)
    np.testing.assert_allclose(path[::4], points, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(path[1], 0.75 * points[0] + 0.25 * points[1], rtol=1e-5)
    loop = latent_space.walk(points, 4, "linear", closed=True)
    assert loop.shape == (36, 100)
    np.testing.assert_allclose(loop[-1], 0.25 * points[-1] + 0.75 * points[0], rtol=1e-5)
    on_sphere = points / np.linalg.norm(points, axis=1, keepdims=True) * 10.0
    spherical = latent_space.walk(on_sphere, 8, "spherical")
    np.testing.assert_allclose(spherical[::8], on_sphere, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(spherical, axis=1), 10.0, rtol=1e-5)
    # ... and its steps are equal angles along the great circle
    cosines = np.sum(spherical[:8] * spherical[1:9], axis=1) / 100.0
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-5)
    assert latent_space.interpolation_for("auto", "normal01") == "spherical"
    assert latent_space.interpolation_for("auto", "uniform_signed") == "linear"
    with pytest.raises(ValueError, match="leave the cube of a uniform prior"):
        latent_space.interpolation_for("spherical", "uniform_signed")


def test_arithmetic_parses_the_papers_form():
    expression = latent_space.parse_arithmetic(" 3,17,42 - 5,9,11 + 8,21,30 @7", 100)
    assert [(t.sign, t.exemplars) for t in expression.terms] == [
        (1, (3, 17, 42)), (-1, (5, 9, 11)), (1, (8, 21, 30))]
    assert expression.label == 7
    for bad, words in (("3,17", "at least two concepts"), ("3,x - 4", "not a list of sample"),
                       ("3 - 100", "not on the numbered grid"), ("3 - 4 @ seven", "class number"),
                       ("3 - ", "not a list of sample")):
        with pytest.raises(ValueError, match=words):
            latent_space.parse_arithmetic(bad, 100)


def test_arithmetic_decodes_the_mean_exemplars_signed_sum(tmp_path):
    """G is a known linear map, so what it was asked to decode is checked on z."""
    config = carpedm20.ModelConfig(8, 8, 1, z_dim=5)  # unconditional: images in [-1, 1]
    weights = np.random.default_rng(2).uniform(-0.1, 0.1, (5, 64)).astype(np.float32)
    decoded = []

    def sample(z, y):
        assert y is None
        decoded.append(np.array(z))
        return (np.asarray(z) @ weights).reshape(-1, 8, 8, 1)

    text = "1,2,3 - 4,5 + 6,7,8"
    visualizer = visualize.Visualizer(sample, config, "uniform_signed", 16, str(tmp_path),
                                      seed=5, arithmetic=text, run_seed=11)
    written = visualizer.run("arithmetic")
    assert [os.path.basename(p) for p in written] == ["arithmetic_samples.png", "arithmetic.png"]
    pool, _ = visualizer.arithmetic_pool()
    np.testing.assert_array_equal(np.concatenate(decoded[:7])[:100], pool)  # the numbered grid
    means = [pool[[1, 2, 3]].mean(0), pool[[4, 5]].mean(0), pool[[6, 7, 8]].mean(0)]
    asked = np.concatenate(decoded[7:])
    np.testing.assert_allclose(asked[:3], means, rtol=1e-6, atol=1e-6)
    result = means[0] - means[1] + means[2]
    np.testing.assert_allclose(asked[16], result, rtol=1e-5, atol=1e-6)  # next batch of 16
    neighbours = asked[17:17 + visualize.ARITHMETIC_NEIGHBOURS]
    assert np.all(np.abs(neighbours - result) <= latent_space.NEIGHBOUR_SPREAD + 1e-6)
    assert np.std(neighbours - result) > 0.05
    # Fixed by the run's seed: the same numbered grid every time it is drawn.
    again, _ = visualize.Visualizer(sample, config, "uniform_signed", 16, str(tmp_path), seed=9,
                                    run_seed=11).arithmetic_pool()
    np.testing.assert_array_equal(again, pool)
    assert Image.open(written[1]).size[1] == 4 * (8 + 2)  # three concepts and the result


# ----------------------------------------------------------------- guided backpropagation

class TinyReluNetwork(tf.Module):
    """[B, 2, 2, 1] -> relu(x W1) [B, 3] -> relu(h W2) [B, 2]: a D-shaped network."""

    def __init__(self, w1, w2):
        super().__init__()
        self.w1, self.w2 = tf.constant(w1), tf.constant(w2)

    def layer_outputs(self, images, y, training, wrap_activation=None):
        relu = wrap_activation(tf.nn.relu) if wrap_activation else tf.nn.relu
        h1 = relu(tf.reshape(images, [-1, 4]) @ self.w1)
        return [h1, relu(h1 @ self.w2)]


def test_guided_backprop_equals_the_rule_worked_by_hand():
    w1 = np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 2.0], [2.0, 1.0, 1.0]],
                  np.float32)
    w2 = np.array([[1.0, 0.5], [-2.0, 1.0], [0.5, -1.0]], np.float32)
    x = np.array([[[[1.0], [0.5]], [[0.2], [-0.3]]], [[[-1.0], [0.4]], [[0.6], [0.1]]]],
                 np.float32)
    network = TinyReluNetwork(w1, w2)
    for feature in (0, 1):
        found = guided_backprop.input_gradients(network, x, None, 1, feature)
        for image, gradient in zip(x, found):
            pre1 = image.reshape(4) @ w1
            pre2 = np.maximum(pre1, 0) @ w2
            # at feature f: guided ReLU passes relu(1) where its input is positive
            top = np.zeros(2, np.float32)
            top[feature] = 1.0 if pre2[feature] > 0 else 0.0
            # back through W2, then the first ReLU passes only positive gradient
            # where its input is positive
            middle = (pre1 > 0) * np.maximum(w2 @ top, 0)
            np.testing.assert_allclose(gradient.reshape(4), w1 @ middle, rtol=1e-6, atol=1e-7)
    # The guided rule differs from the plain gradient where a negative gradient
    # reaches a ReLU with a positive input (image 1, feature 1: w2[2, 1] = -1
    # reaches unit 2, whose input is 0.4).
    image = tf.constant(x[1:])
    with tf.GradientTape() as tape:
        tape.watch(image)
        plain = tf.reduce_sum(network.layer_outputs(image, None, False)[1][:, 1])
    assert not np.allclose(tape.gradient(plain, image).numpy(),
                           guided_backprop.input_gradients(network, x[1:], None, 1, 1))


def test_guided_backprop_picks_the_most_active_features_and_their_strongest_images():
    network = TinyReluNetwork((np.eye(4, 3) * [1, 3, 2]).astype(np.float32),
                              np.eye(3, 2, dtype=np.float32))
    images = np.zeros((4, 2, 2, 1), np.float32)
    images[:, 0, 0, 0] = [1, 2, 3, 4]       # feature 0's input
    images[:, 0, 1, 0] = [4, 0, 0, 1]       # feature 1's, three times as strong
    chosen = guided_backprop.most_active(network, images, None, 0, features=2,
                                         images_per_feature=2)
    assert [(f, list(m)) for f, m in chosen] == [(1, [0, 3]), (0, [3, 2])]
    assert guided_backprop.last_convolutional_layer([(7, 7, 8), (4, 4, 16), (32,)]) == 1
    assert guided_backprop.last_convolutional_layer([(512,), (256,)]) == 1


# ----------------------------------------------------------------- memorisation

def test_nearest_neighbours_equal_brute_force_streamed_and_left_out():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(230, 12))
    queries = rng.normal(size=(17, 12))
    chunks = [reference[i:i + 50] for i in range(0, 230, 50)]
    distances, indices = memorisation.nearest(queries, iter(chunks), k=5)
    brute = np.linalg.norm(queries[:, None] - reference[None], axis=2)
    np.testing.assert_array_equal(indices, np.argsort(brute, axis=1)[:, :5])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], rtol=1e-9)
    # Leave-one-out: a reference row's own distance (0) is never its neighbour.
    own = np.array([4, 60, 229])
    distances, indices = memorisation.nearest(reference[own], iter(chunks), k=1,
                                              query_indices=own)
    brute = np.linalg.norm(reference[own][:, None] - reference[None], axis=2)
    brute[np.arange(3), own] = np.inf
    np.testing.assert_array_equal(indices[:, 0], brute.argmin(1))
    assert distances.min() > 0


def test_nearest_neighbours_break_ties_as_a_stable_sort_does():
    """Whole-number points make many equal distances (duplicate images do too):
    the k nearest are a stable sort's first k, the lower index first."""
    rng = np.random.default_rng(4)
    reference = rng.integers(0, 3, size=(300, 4)).astype(float)
    queries = rng.integers(0, 3, size=(40, 4)).astype(float)
    chunks = [reference[i:i + 70] for i in range(0, 300, 70)]
    distances, indices = memorisation.nearest(queries, iter(chunks), k=5)
    brute = np.linalg.norm(queries[:, None] - reference[None], axis=2)
    np.testing.assert_array_equal(indices, np.argsort(brute, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], atol=1e-12)


def _neighbour_distances(nearest, kth):
    """[n, 5] nearest-neighbour distances: `nearest`, then evenly up to `kth`."""
    return np.linspace(nearest, kth, memorisation.NEIGHBOURS, axis=1)


def test_the_verdict_tells_copies_from_new_images():
    rng = np.random.default_rng(4)
    unseen_nearest = rng.uniform(2.0, 3.0, 1000)
    unseen = _neighbour_distances(unseen_nearest, unseen_nearest + 0.5)
    copies = memorisation.verdict(_neighbour_distances(
        np.concatenate([np.zeros(100), rng.uniform(2, 3, 900)]), 3.0), unseen)
    assert copies["finding"] == "copies" and copies["near_copy_share"] >= 0.1
    # closer in the bulk (median 2.475 against 2.5), as distinct, no near copies
    nearest = rng.uniform(2.05, 2.9, 1000)
    closer = memorisation.verdict(_neighbour_distances(nearest, nearest + 0.5), unseen)
    assert closer["finding"] == "closer_than_unseen" and closer["near_copy_share"] == 0
    assert closer["probability_sample_closer_than_unseen"] > 0.5
    new = memorisation.verdict(unseen + 1.0, unseen)
    assert new["finding"] == "no_sign_of_memorisation"
    assert new["probability_sample_closer_than_unseen"] == 0.0
    assert memorisation.closer_than_unseen([1.0, 2.0], [2.0]) == 0.5 * (1.0 + 0.5)


def test_an_average_of_the_data_or_too_few_real_images_is_no_memorisation():
    """A young generator's grey blur sits nearer every training image than real
    images do, and as near its 5th nearest as its nearest (the false "memorising:
    100%" of 4 iterations on 20 noise images); 20 unseen real images give no
    1% quantile."""
    rng = np.random.default_rng(5)
    unseen_nearest = rng.uniform(2.0, 3.0, 1000)
    unseen = _neighbour_distances(unseen_nearest, unseen_nearest + 0.5)
    blur = _neighbour_distances(np.full(1000, 1.0), 1.02)
    report = memorisation.verdict(blur, unseen)
    assert report["finding"] == "average_not_copies" and report["near_copy_share"] == 0
    assert "not learned the data" in report["verdict"]
    # the same samples as copies (nearest 1.0, 5th 2.5): memorising
    assert memorisation.verdict(_neighbour_distances(np.full(1000, 1.0), 2.5),
                                unseen)["finding"] == "copies"
    few = memorisation.verdict(blur, unseen[:20])
    assert few["finding"] == "undetermined" and "only 20 unseen real images" in few["verdict"]
    # one near copy among 10 samples is chance, not 10% of them memorised
    one_copy = _neighbour_distances(np.concatenate([[0.0], np.full(9, 2.5)]), 3.0)
    few = memorisation.verdict(one_copy, unseen)
    assert few["finding"] == "undetermined" and "only 10 samples" in few["verdict"]


# ----------------------------------------------------------------- through main.py

TINY = dict(z_dim=6, gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A labelled pattern data set (IDX), its training digits as an image folder,
    and two runs trained a little: carpedm20's unconditional DCGAN on the folder,
    and its conditional one on the IDX files."""
    root = tmp_path_factory.mktemp("experiments")
    mnist = fakes.make_pattern_mnist(str(root / "data" / "mnist"), n_train=200, n_test=100)
    from dcgan_tf import data  # noqa: PLC0415
    train_images, _ = data.load_idx_split(mnist, "train")
    for i, image in enumerate(train_images):
        fakes.write_image(str(root / "data" / "digits" / f"{i:03d}.png"), image)
    common = dict(batch_size=20, epoch=2, out_dir=str(root / "out"), data_dir=str(root / "data"),
                  seed=4, classifier_cache=str(root / "cache"), **TINY)
    configs = {
        "folder": config_lib.Config(dataset="digits", input_fname_pattern="*.png",
                                    input_height=28, output_height=28, **common),
        "conditional": config_lib.Config(dataset="mnist", input_height=28, output_height=28,
                                         **common),
    }
    for config in configs.values():
        app.run(config_lib.dataclasses.replace(config, train=True), log=lambda line: None)
    return configs


def _run(config, **flags):
    lines = []
    values = config_lib.dataclasses.asdict(config_lib.dataclasses.replace(config, **flags))
    app.run(config_lib.of_command_line(values, flags), log=lines.append, typed=frozenset(flags))
    return lines, run_folders.RunPaths.for_run(config).sample_dir


def test_main_probes_an_unconditional_runs_d_on_labelled_data(trained):
    lines, samples = _run(trained["folder"], linear_probe=True, probe_dataset="mnist",
                          probe_labels="5,10")
    results = json.load(open(os.path.join(samples, "linear_probe.json")))
    assert results["dataset"] == "mnist" and results["labels_per_class"] == [5, 10]
    assert [s["name"] for s in results["sources"]] == [
        "raw pixels", "D, initial weights", "D, trained", "supervised D architecture"]
    assert [s["dims"] for s in results["sources"][:3]] == [784, 144 * 4, 144 * 4]
    for source in results["sources"]:
        assert set(source["by_labels"]) == {"5", "10"}
        assert all(0 <= r["accuracy"] <= 1 for r in source["by_labels"].values())
    # The pattern digits are linearly separable in pixels: the probe finds it.
    assert results["sources"][0]["by_labels"]["10"]["accuracy"] > 0.9
    assert any(line.startswith("raw pixels") and "10 / class" not in line for line in lines)
    history = os.path.join(samples, "linear_probe_history.jsonl")
    kept = [json.loads(line) for line in open(history)]
    assert kept[-1]["sources"] == results["sources"] and "time" in kept[-1]
    assert f" [*] Linear probe written to {os.path.join(samples, 'linear_probe.json')} (each" \
        f" probe kept in {history})" in lines


def test_main_draws_walks_arithmetic_and_guided_backprop(trained):
    config = trained["folder"]
    _, samples = _run(config, visualize=True, visualize_option="walk", walk_points=3)
    assert Image.open(os.path.join(samples, "walk.png")).size == (9 * 28, 10 * 28)
    assert Image.open(os.path.join(samples, "walk.gif")).n_frames > 1
    _, samples = _run(config, visualize=True, visualize_option="arithmetic",
                      arithmetic="1,2 - 3 + 4,5,6")
    assert {"arithmetic_samples.png", "arithmetic.png"} <= set(os.listdir(samples))
    lines, samples = _run(config, visualize=True, visualize_option="guided_backprop")
    picture = Image.open(os.path.join(samples, "guided_backprop.png"))
    assert picture.size[1] == 12 * (28 + 2)  # 6 features of the trained D, 6 of the initial
    assert any("layer 3" in line for line in lines)  # the last of the four conv layers


def test_main_reports_nearest_neighbours_and_a_verdict(trained, classifier_without_training):
    _, samples = _run(trained["conditional"], nearest_neighbours=100)
    report = json.load(open(os.path.join(samples, "nearest_neighbours.json")))
    assert report["samples"] == 100 and set(report["spaces"]) == {"pixels",
                                                                    "classifier_features"}
    assert "leave-one-out" in report["unseen_real"]  # carpedm20's MNIST trains on all
    for space in report["spaces"].values():
        assert space["finding"] in ("copies", "closer_than_unseen", "average_not_copies",
                                    "no_sign_of_memorisation")
        # every one of the 300 real images (carpedm20 merges both splits), left out in turn
        assert space["samples"]["count"] == 100 and space["unseen_real"]["count"] == 300
        assert len(space["first_samples_neighbours"][0]) == memorisation.NEIGHBOURS
    assert Image.open(os.path.join(samples, "nearest_neighbours.png")).size[1] == 10 * 30


@pytest.mark.parametrize("flags,words", [
    (dict(linear_probe=True), "--linear_probe cannot score this run's D honestly"),
    (dict(visualize=True, visualize_option="arithmetic", arithmetic="1 - 2 @12"),
     "label 12 is not one of the model's classes"),
    # Checked once the run's record is known (its prior, its data set):
    (dict(linear_probe=True, probe_labels="1"), "at least 2"),
    (dict(visualize=True, visualize_option="walk", walk_interpolation="spherical"),
     "leave the cube of a uniform prior"),
    (dict(visualize=True, visualize_option="arithmetic", arithmetic="1 -"),
     "not a list of sample numbers"),
])
def test_what_cannot_apply_to_the_run_is_refused_before_anything_is_written(trained, flags,
                                                                            words, capsys):
    config = trained["conditional"]
    samples = run_folders.RunPaths.for_run(config).sample_dir
    before = sorted(os.listdir(samples)) if os.path.exists(samples) else []
    with pytest.raises(SystemExit) as exit_status:
        _run(config, **flags)
    assert exit_status.value.code == 1 and words in capsys.readouterr().err
    assert (sorted(os.listdir(samples)) if os.path.exists(samples) else []) == before


@pytest.mark.parametrize("argv,words", [
    (["--probe_labels", "10"], "--probe_labels is read by --linear_probe"),
    (["--visualize", "--visualize_option", "walk", "--walk_points", "1"], "at least 2"),
    (["--arithmetic", "1 - 2"], "--arithmetic is read by --visualize --visualize_option"
                                " arithmetic"),
    (["--nearest_neighbours", "-1"], "at least 0"),
    (["--linear_probe", "--train"], "test-mode actions"),
])
def test_bad_experiment_flags_are_named(parsed_flags, argv, words):
    with pytest.raises(ValueError, match=words):
        parsed_flags("--dataset", "mnist", "--input_height=28", "--output_height=28",
                     *argv).validate()


def test_a_probe_of_an_image_folder_needs_labelled_data(trained, capsys):
    with pytest.raises(SystemExit):
        _run(trained["folder"], linear_probe=True)
    assert "pass --probe_dataset mnist" in capsys.readouterr().err


def test_the_initial_discriminator_is_the_one_training_started_from(tmp_path):
    """Rebuilt from the run's recorded seed: after two D updates the trained D is
    within two TF1 Adam steps of it (tests/adam_bounds.py), while a D of another
    seed is as far as two random initialisations are."""
    fakes.make_pattern_mnist(str(tmp_path / "data" / "mnist"), n_train=40, n_test=10)
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28,
                               batch_size=20, epoch=1, data_dir=str(tmp_path / "data"),
                               out_dir=str(tmp_path / "out"), seed=7, **TINY)
    app.run(config_lib.dataclasses.replace(config, train=True), log=lambda line: None)
    run = sample_command.load_run(  # an action that reads D has it restored
        config_lib.dataclasses.replace(config, seed=None, linear_probe=True),
        log=lambda line: None)
    trained = run.discriminator
    initial = experiments.initial_discriminator(run, config_lib.dataclasses.replace(
        config, seed=None), log=lambda line: None)
    # A run whose seed is not recorded (an original TF1 run): the seed of the
    # command stands in (8).
    unrecorded = config_lib.dataclasses.replace(
        run, record=config_lib.dataclasses.replace(run.record, seed=None))
    other = experiments.initial_discriminator(
        unrecorded, config_lib.dataclasses.replace(config, seed=8), log=lambda line: None)
    # Two TF1 Adam steps move a weight by at most this (and rounding, 1e-6).
    bound = config.learning_rate * adam_bounds.largest_adam_travel(1, 2, config.beta1,
                                                                   0.999) + 1e-6
    gaps = [np.abs(a.numpy() - b.numpy()).max()
            for a, b in zip(trained.trainable_variables, initial.trainable_variables)]
    assert max(gaps) <= bound
    assert max(np.abs(a.numpy() - b.numpy()).max() for a, b in zip(
        trained.trainable_variables, other.trainable_variables)) > 10 * bound
