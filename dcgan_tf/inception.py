"""The Inception network of the original FID code (Heusel et al. 2017, TTUR's
fid.py): the 2015 Inception graph `classify_image_graph_def.pb` of
`inception-2015-12-05.tgz`, read at its `pool_3` layer (2,048 features). It is
what published FIDs and published reference statistics (mu, sigma) use.

The graph is a frozen GraphDef: its JPEG decoder ends in `ExpandDims`, whose
output [N, H, W, 3] (values 0-255) we feed, as the FID code does; the graph
resizes to 299 x 299 and normalizes itself. Grayscale images are repeated to
three channels. The file comes from --inception, or from the cache
(~/.cache/dcgan-tf/inception), fetched there when missing (TensorFlow's
download host, resumed when a transfer drops; no checksum is published for the
archive, so the graph is checked for its input, its output and their shapes).
"""

import hashlib
import os
import sys
import tarfile

import numpy as np
import tensorflow as tf

from dcgan_tf import download
from dcgan_tf import files

INPUT = "ExpandDims:0"
OUTPUT = "pool_3:0"
FEATURES = 2048
GRAPH = "classify_image_graph_def.pb"
ARCHIVE = "inception-2015-12-05.tgz"
SOURCES = (
    "https://storage.googleapis.com/download.tensorflow.org/models/image/imagenet/" + ARCHIVE,
    "http://download.tensorflow.org/models/image/imagenet/" + ARCHIVE,
)
DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "dcgan-tf", "inception")


class InceptionUnavailableError(FileNotFoundError):
    """The network is not on this machine and could not be fetched; the message
    says what to fetch by hand and where to put it."""


def _hand_fetch(cache_dir):
    return (f"Fetch {SOURCES[1]} by hand and pass it (or the {GRAPH} inside it) with"
            f" --inception PATH, or put {GRAPH} in {cache_dir}/.")


def _graph_from_archive(archive, target):
    """Extracts the graph from the archive into `target`, whole or not at all."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers()
                           if os.path.basename(m.name) == GRAPH and m.isfile()), None)
            if member is None:
                raise InceptionUnavailableError(f"{archive} holds no {GRAPH}.")
            with files.written_whole(target) as partial, open(partial, "wb") as out:
                out.write(tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as error:
        if isinstance(error, InceptionUnavailableError):
            raise
        raise InceptionUnavailableError(f"{archive} is not a readable .tgz ({error}).") from error
    return target


def locate(path="", cache_dir=DEFAULT_DIR, allow_download=True, log=print, sources=SOURCES):
    """The graph file: --inception's (a .pb, or the .tgz, whose graph is extracted
    into the cache), else the cached one, else fetched into the cache."""
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise InceptionUnavailableError(f"--inception {path} does not exist. "
                                            + _hand_fetch(cache_dir))
        if path.endswith((".tgz", ".tar.gz")):
            return _graph_from_archive(path, os.path.join(cache_dir, GRAPH))
        return path
    cached = os.path.join(cache_dir, GRAPH)
    if os.path.isfile(cached):
        return cached
    if not allow_download:
        raise InceptionUnavailableError(f"The FID Inception network is not in {cache_dir}"
                                        " (--nodownload). " + _hand_fetch(cache_dir))
    log(f" [*] The FID Inception network is not in {cache_dir}: fetching {ARCHIVE}")
    try:
        archive = download.download_file(ARCHIVE, list(sources), cache_dir, stream=sys.stderr,
                                         manual_hint=f" from {SOURCES[1]}")
    except download.DownloadError as error:
        raise InceptionUnavailableError(f"{error}\nIs this machine offline? "
                                        + _hand_fetch(cache_dir)) from error
    graph = _graph_from_archive(archive, cached)
    os.remove(archive)
    return graph


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class InceptionNetwork:
    """pool_3 features of images, from the FID graph in `path`."""

    def __init__(self, path, batch_size=100):
        self.path, self.batch_size = path, batch_size
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        except Exception as error:  # noqa: BLE001 (protobuf raises its own DecodeError)
            raise InceptionUnavailableError(
                f"{path} is not a TensorFlow GraphDef ({type(error).__name__}); it should be"
                f" {GRAPH} from {ARCHIVE}.") from error
        names = {node.name for node in graph_def.node}
        missing = [name for name in (INPUT, OUTPUT) if name.split(":")[0] not in names]
        if missing:
            raise InceptionUnavailableError(
                f"{path} has no {' or '.join(missing)}: it is not the FID Inception graph"
                f" ({GRAPH} from {ARCHIVE}).")

        def imported(images):
            return tf.compat.v1.import_graph_def(graph_def, input_map={INPUT: images},
                                                 return_elements=[OUTPUT], name="")[0]

        self._features = tf.compat.v1.wrap_function(
            imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        self.sha256 = sha256_of(path)
        probe = self._features(tf.zeros([1, 32, 32, 3]))
        if int(np.prod(probe.shape[1:])) != FEATURES:
            raise InceptionUnavailableError(
                f"{path}'s {OUTPUT} gives {probe.shape[1:]} values per image, not {FEATURES}:"
                f" it is not the FID Inception graph ({GRAPH} from {ARCHIVE}).")

    def features(self, images):
        """[N, 2048] float64 features of images [N, H, W, C] in [0, 1] (C = 1 or 3)."""
        images = np.asarray(images, np.float32)
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        blocks = [self._features(tf.constant(images[start:start + self.batch_size] * 255.0))
                  for start in range(0, len(images), self.batch_size)]
        return np.concatenate([np.asarray(b, np.float64).reshape(len(b), -1) for b in blocks])


def statistics(features):
    """(mu, sigma) of features, as published reference statistics hold them."""
    return features.mean(0), np.cov(features, rowvar=False)


def read_statistics(path):
    """Published reference statistics: an .npz with `mu` [2048] and `sigma` [2048, 2048]."""
    try:
        with np.load(os.path.expanduser(path), allow_pickle=False) as arrays:
            mu, sigma = arrays["mu"], arrays["sigma"]
    except (OSError, KeyError, ValueError, EOFError) as error:
        raise ValueError(f"--inception_stats {path} cannot be read as reference statistics"
                         f" ({error}); it must be an .npz with `mu` [{FEATURES}] and `sigma`"
                         f" [{FEATURES}, {FEATURES}], as the FID code publishes them.") from error
    if mu.shape != (FEATURES,) or sigma.shape != (FEATURES, FEATURES):
        raise ValueError(f"--inception_stats {path} holds mu {mu.shape} and sigma {sigma.shape};"
                         f" the FID Inception network's are ({FEATURES},) and ({FEATURES},"
                         f" {FEATURES}).")
    return mu.astype(np.float64), sigma.astype(np.float64)
