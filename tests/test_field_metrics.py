"""The field's metrics (dcgan_tf/fidelity.py, dcgan_tf/inception.py): each
figure against its authors' code or a direct computation, behaviour that must
show on real data, and the Inception path end to end on a small network with
the real one's input and output (no download: a local server serves it)."""

import io
import json
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg

import fakes
from conftest import MNIST_DIR, require_shared
from helpers import fetched_twice_at_once, small_inception_graph
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import fidelity
from dcgan_tf import inception
from dcgan_tf import metrics
from dcgan_tf import runs as run_folders

FASHION_DIR = data.DEBIAN_FASHION_MNIST_DIR


# ----------------------------------------------------------------- the figures

@pytest.mark.parametrize("k", [fidelity.PRECISION_RECALL_K, fidelity.DENSITY_COVERAGE_K])
def test_precision_recall_density_coverage_equal_the_authors_code(k):
    prdc = pytest.importorskip("prdc", reason="prdc (the authors' code) is a test extra")
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3000, 12))
    fake = np.concatenate([rng.normal(0.5, 1.3, size=(2500, 12)), rng.normal(size=(5, 12))])
    expected = prdc.compute_prdc(real, fake, nearest_k=k)
    precision, recall = fidelity.precision_recall(real, fake, k)
    density, coverage = fidelity.density_coverage(real, fake, k)
    # Both count the same strict comparisons of the same distances; ours come in
    # blocks from |a|^2 + |b|^2 - 2 a.b, prdc's from sklearn's pairwise distances,
    # so a count could differ only for a pair within rounding of a radius.
    assert precision == pytest.approx(expected["precision"], abs=1 / len(fake))
    assert recall == pytest.approx(expected["recall"], abs=1 / len(real))
    assert density == pytest.approx(expected["density"], abs=1 / (k * len(fake)))
    assert coverage == pytest.approx(expected["coverage"], abs=1 / len(real))


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.4, 1.0, size=(6, 3))
    kernel = lambda a, b: (np.dot(a, b) / 3 + 1) ** 3  # noqa: E731
    direct = (sum(kernel(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
              + sum(kernel(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / (6 * 5)
              - 2 * sum(kernel(a, b) for a in x for b in y) / (7 * 6))
    assert fidelity.mmd_squared_unbiased(x, y) == pytest.approx(direct, rel=1e-12)
    # One subset of each whole set is the estimate itself (order does not matter).
    mean, std, size = fidelity.kernel_inception_distance(x, y[:6], subsets=1, subset_size=6)
    assert size == 6 and std == 0.0
    # Unbiased: two samples of one distribution average to 0, not to a positive bias.
    same = [fidelity.mmd_squared_unbiased(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)))
            for _ in range(400)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))


def test_frechet_distance_of_gaussians_equals_the_closed_form():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov_a, cov_b = a @ a.T + np.eye(6), b @ b.T + 0.5 * np.eye(6)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    closed = (np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
              - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b)).real)
    assert fidelity.frechet_distance_of_statistics(mu_a, cov_a, mu_b, cov_b) == pytest.approx(
        closed, rel=1e-9)
    # Diagonal covariances: sum (sqrt(s_a) - sqrt(s_b))^2 plus the means' distance.
    s_a, s_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    assert fidelity.frechet_distance_of_statistics(
        np.zeros(3), np.diag(s_a), np.ones(3), np.diag(s_b)) == pytest.approx(3 + 1 + 1)


@pytest.mark.parametrize("count", [12, 40])  # fewer and more images than dimensions
def test_a_reference_scores_sets_of_any_size_as_the_direct_computation(count):
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(30, 20)) @ rng.normal(size=(20, 20))
    features = rng.normal(0.3, 2.0, size=(count, 20))
    mu_r, cov_r = reference.mean(0), np.cov(reference, rowvar=False)
    mu, cov = features.mean(0), np.cov(features, rowvar=False)
    direct = (np.sum((mu_r - mu) ** 2) + np.trace(cov_r) + np.trace(cov)
              - 2 * np.trace(linalg.sqrtm(cov_r @ cov)).real)
    # sqrtm of the non-symmetric product carries ~1e-8 relative rounding here; an
    # error of form (n for n - 1, a lost term) moves the figure by percents.
    assert fidelity.FrechetReference(mu_r, cov_r).distance(features) == pytest.approx(
        direct, rel=1e-7)


def test_the_intra_class_distance_is_the_mean_of_per_label_distances():
    rng = np.random.default_rng(3)
    real, real_labels = rng.normal(size=(600, 4)), rng.integers(0, 3, 600)
    fake, fake_labels = rng.normal(0.2, 1.0, size=(500, 4)), rng.integers(0, 3, 500)
    fake[fake_labels == 2] += 3.0  # one label drawn badly
    rows, mean = fidelity.frechet_distance_by_class(real, real_labels, fake, fake_labels, 3)
    direct = [metrics.frechet_distance(fake[fake_labels == c], real[real_labels == c])
              for c in range(3)]
    assert [r["frechet_distance"] for r in rows] == pytest.approx(direct, rel=1e-12)
    assert mean == pytest.approx(np.mean(direct), rel=1e-12)
    assert max(direct) == direct[2] > 10 * direct[0]  # the bad label shows


# ----------------------------------------------------------------- behaviour on real data

@pytest.fixture(scope="module")
def mnist_embedding(tmp_path_factory):
    """A small MNIST classifier trained briefly here (the metrics' own takes
    minutes; this one reads 87% of the test digits right) and the embedding the
    set figures use, of 2,000 test digits."""
    require_shared(MNIST_DIR)
    cache = str(tmp_path_factory.mktemp("classifier"))
    classifier, accuracy = metrics.load_or_train_classifier(
        MNIST_DIR, cache, epochs=2, width=8, max_train=6000, log=lambda line: None)
    assert accuracy > 0.8
    embed = lambda images: metrics.embeddings(  # noqa: E731
        classifier, np.asarray(images, np.float32) / 255.0)[metrics.SET_EMBEDDING]
    test, _ = data.load_idx_split(MNIST_DIR, "test")
    train, _ = data.load_idx_split(MNIST_DIR, "train")
    return embed, embed(test[:2000, ..., None]), train


def test_real_digits_score_high_and_one_digit_repeated_covers_nothing(mnist_embedding):
    embed, reference, train = mnist_embedding
    real = embed(train[:2000, ..., None])
    precision, recall = fidelity.precision_recall(reference, real)
    density, coverage = fidelity.density_coverage(reference, real)
    assert min(precision, recall, coverage) > 0.8 and 0.8 < density < 1.2
    repeated = embed(np.repeat(train[:1, ..., None], 2000, axis=0))
    assert fidelity.precision_recall(reference, repeated)[1] < 0.01
    assert fidelity.density_coverage(reference, repeated)[1] < 0.01


def _fashion_test_images():
    if not os.path.exists(FASHION_DIR):
        pytest.skip(f"{FASHION_DIR} is absent: apt-get install dataset-fashion-mnist")
    return data.load_idx_split(FASHION_DIR, "test")[0][:2000, ..., None]


def test_fashion_scored_as_digits_is_neither_faithful_nor_diverse(mnist_embedding):
    """With the briefly trained classifier the figures vary from one training to
    the next (Fashion's recall 0.03-0.20 in four trainings, precision 0.13-0.24,
    real digits' 0.86-0.91): held to a third of real digits' recall and coverage
    and half their precision. The metrics' own classifier: the slow test below."""
    embed, reference, train = mnist_embedding
    real = embed(train[:2000, ..., None])
    fashion = embed(_fashion_test_images())
    real_precision, real_recall = fidelity.precision_recall(reference, real)
    precision, recall = fidelity.precision_recall(reference, fashion)
    coverage = fidelity.density_coverage(reference, fashion)[1]
    real_coverage = fidelity.density_coverage(reference, real)[1]
    assert recall < real_recall / 3 and coverage < real_coverage / 3
    assert precision < real_precision / 2


@pytest.mark.slow
def test_the_metrics_classifier_embedding_tells_what_is_not_a_digit(tmp_path):
    """The metrics' own classifier (15 epochs, minutes to train) and the layer the
    set figures read (bench/embeddings.py chose it: after the ReLU, black images
    and noise sit inside the digits' balls)."""
    require_shared(MNIST_DIR)
    classifier, _ = metrics.load_or_train_classifier(MNIST_DIR, str(tmp_path),
                                                     log=lambda line: None)
    embed = lambda images: metrics.embeddings(  # noqa: E731
        classifier, np.asarray(images, np.float32) / 255.0)[metrics.SET_EMBEDDING]
    test, _ = data.load_idx_split(MNIST_DIR, "test")
    train, _ = data.load_idx_split(MNIST_DIR, "train")
    reference = embed(test[:5000, ..., None])
    precision, recall = fidelity.precision_recall(reference, embed(train[:5000, ..., None]))
    assert min(precision, recall) > 0.8
    rng = np.random.default_rng(0)
    for junk in (rng.uniform(0, 255, (5000, 28, 28, 1)), np.zeros((5000, 28, 28, 1)),
                 _fashion_test_images()):
        junk_precision, junk_recall = fidelity.precision_recall(reference, embed(junk))
        assert junk_precision < 0.15 and junk_recall < 0.05


# ----------------------------------------------------------------- the Inception path

def test_the_network_is_fed_and_read_as_the_fid_code_does(tmp_path):
    path = small_inception_graph(str(tmp_path / inception.GRAPH))
    network = inception.InceptionNetwork(path, batch_size=3)
    images = np.random.default_rng(6).uniform(0, 1, (7, 12, 12, 1)).astype(np.float32)
    features = network.features(images)
    assert features.shape == (7, 2048)
    # The same computation written out: 0-255 RGB, resized, the graph's layers.
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(open(path, "rb").read())
    direct = tf.compat.v1.wrap_function(
        lambda x: tf.compat.v1.import_graph_def(graph, input_map={"ExpandDims:0": x},
                                                return_elements=["pool_3:0"], name="")[0],
        [tf.TensorSpec([None, None, None, 3], tf.float32)])
    expected = direct(tf.constant(np.repeat(images, 3, axis=-1) * 255.0)).numpy().reshape(7, -1)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


def test_a_file_that_is_not_the_network_is_named(tmp_path):
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\x00\x01 not a graph")
    with pytest.raises(inception.InceptionUnavailableError, match="not a TensorFlow GraphDef"):
        inception.InceptionNetwork(str(garbage))
    other = tf.Graph()
    with other.as_default():
        tf.constant(1.0, name="logits")
    wrong = tmp_path / "other.pb"
    wrong.write_bytes(other.as_graph_def().SerializeToString())
    with pytest.raises(inception.InceptionUnavailableError, match="has no ExpandDims:0 or"
                                                                  " pool_3:0"):
        inception.InceptionNetwork(str(wrong))


def _archive_of(graph_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(graph_path, arcname=inception.GRAPH)
    return buffer.getvalue()


def test_two_evaluations_fetching_the_network_at_once_take_turns(tmp_path, server):
    """Two --evaluate runs started together on an empty cache: the second waits
    for the first's fetch and extraction, then reads its graph (fetching into
    one .part together failed one of them)."""
    body = _archive_of(small_inception_graph(str(tmp_path / "made.pb")))
    server.routes["/" + inception.ARCHIVE] = ("gated", body)
    cache = str(tmp_path / "cache")
    outcomes, said = fetched_twice_at_once(
        lambda stream: inception.locate("", cache, True, log=stream.write,
                                        sources=[f"{server.url}/{inception.ARCHIVE}"]), server)
    assert outcomes == [os.path.join(cache, inception.GRAPH)] * 2
    assert (f" [*] process {os.getpid()} is fetching the FID Inception network into {cache};"
            " waiting for it to finish") in said[1]
    assert sorted(os.listdir(cache)) == [inception.GRAPH] and len(server.requests) == 1


def test_the_network_is_fetched_into_the_cache_once_and_offline_says_what_to_fetch(
        tmp_path, server, refused_url):
    body = _archive_of(small_inception_graph(str(tmp_path / "made.pb")))
    server.routes["/" + inception.ARCHIVE] = ("drop_once", body)
    cache = str(tmp_path / "cache")
    url = f"{server.url}/{inception.ARCHIVE}"
    path = inception.locate("", cache, True, log=lambda line: None, sources=[url])
    assert path == os.path.join(cache, inception.GRAPH)
    assert sorted(os.listdir(cache)) == [inception.GRAPH]  # the archive is not kept
    assert [r for r in server.requests if r[1]]  # the dropped transfer was resumed
    assert inception.InceptionNetwork(path).features(np.zeros((1, 8, 8, 3))).shape == (1, 2048)
    count = len(server.requests)
    assert inception.locate("", cache, True, log=lambda line: None, sources=[url]) == path
    assert len(server.requests) == count  # from the cache: nothing fetched
    with pytest.raises(inception.InceptionUnavailableError, match="Fetch .* by hand"):
        inception.locate("", str(tmp_path / "empty"), True, log=lambda line: None,
                         sources=[refused_url + inception.ARCHIVE])
    with pytest.raises(inception.InceptionUnavailableError, match="--nodownload"):
        inception.locate("", str(tmp_path / "empty"), False)
    # A .tgz given with --inception: its graph goes to the cache.
    archive = tmp_path / inception.ARCHIVE
    archive.write_bytes(body)
    assert inception.locate(str(archive), str(tmp_path / "c2")) == str(
        tmp_path / "c2" / inception.GRAPH)


def test_published_statistics_are_read_and_checked(tmp_path):
    good = tmp_path / "fid_stats.npz"
    np.savez(good, mu=np.zeros(2048), sigma=np.eye(2048))
    mu, sigma = inception.read_statistics(str(good))
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu=np.zeros(10), sigma=np.eye(10))
    with pytest.raises(ValueError, match=r"mu \(10,\)"):
        inception.read_statistics(str(bad))
    with pytest.raises(ValueError, match="cannot be read as reference statistics"):
        inception.read_statistics(str(tmp_path / "missing.npz"))


def trained_folder_run(tmp_path, images, batch_size):
    """The Config of a tiny unconditional run on a folder of random images, trained
    one epoch."""
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=images, size=(20, 20))
    config = config_lib.Config(
        dataset="faces", input_fname_pattern="*.png", input_height=20, output_height=16,
        batch_size=batch_size, epoch=1, data_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"), seed=0, z_dim=6, gf_dim=4, df_dim=4,
        classifier_cache=str(tmp_path / "cache"))
    app.run(config_lib.dataclasses.replace(config, train=True), log=lambda line: None)
    return config


def test_an_image_folder_run_is_scored_on_the_inception_network(tmp_path):
    graph = small_inception_graph(str(tmp_path / "inception.pb"))
    config = trained_folder_run(tmp_path, images=40, batch_size=8)
    lines = []
    app.run(config_lib.dataclasses.replace(config, evaluate=True, metrics_samples=30,
                                           inception=graph), log=lines.append)
    samples = run_folders.RunPaths.for_run(config).sample_dir
    results = json.load(open(os.path.join(samples, "metrics.json")))
    assert results["features"] == "the FID Inception network's pool_3 features (2,048)"
    for key in ("frechet_distance", "precision", "recall", "density", "coverage", "kid",
                "kid_std"):
        assert np.isfinite(results[key]) and np.isfinite(results["real"][key])
    assert results["num_images"] == 30 and results["real"]["num_images"] == 20  # half of 40
    assert results["reference_images"] == 20
    assert any(line.startswith(" [!] The Inception figures compare with 20 real images (half"
                               " of an image folder's, at most --metrics_samples)")
               for line in lines), lines
    assert results["kid_subset_size"] == 20
    assert any(line.startswith("precision") for line in lines)
    # Published statistics: the FID is taken against them.
    stats = tmp_path / "stats.npz"
    np.savez(stats, mu=np.zeros(2048), sigma=np.eye(2048))
    app.run(config_lib.dataclasses.replace(config, evaluate=True, metrics_samples=30,
                                           inception=graph, inception_stats=str(stats)),
            log=lambda line: None)
    against = json.load(open(os.path.join(samples, "metrics.json")))
    assert against["frechet_distance"] != results["frechet_distance"]
    assert against["precision"] == results["precision"]  # the real images' figures are kept
    assert "statistics in" in against["reference"]


def test_an_image_folder_without_the_network_offline_is_a_clear_error(tmp_path, capsys):
    config = trained_folder_run(tmp_path, images=12, batch_size=6)
    with pytest.raises(SystemExit):
        app.run(config_lib.dataclasses.replace(config, evaluate=True, download=False),
                log=lambda line: None)
    assert "The FID Inception network is not in" in capsys.readouterr().err
    samples = run_folders.RunPaths.for_run(config).sample_dir
    assert not [name for name in os.listdir(samples) if name.startswith("test_")]  # nothing
