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
import shutil
import sys
import tarfile
import zipfile
import zlib

import numpy as np
import tensorflow as tf
import tqdm

from dcgan_tf import download
from dcgan_tf import files

INPUT = "ExpandDims:0"
OUTPUT = "pool_3:0"
FEATURES = 2048
GRAPH = "classify_image_graph_def.pb"
GRAPH_BYTES = 95_673_916  # the graph in ARCHIVE
# How far a published covariance may be from symmetric and positive
# semi-definite, relative to its largest entry: float32 rounding of a 2048 x
# 2048 sum is far below it, a real asymmetry or negative direction far above.
COVARIANCE_ROUNDING = 1e-5
# Larger files are refused before they are read (a small archive can hold a
# member of gigabytes).
MAX_GRAPH_BYTES = 256 * 2**20
ARCHIVE = "inception-2015-12-05.tgz"
SOURCES = (
    "https://storage.googleapis.com/download.tensorflow.org/models/image/imagenet/" + ARCHIVE,
    "http://download.tensorflow.org/models/image/imagenet/" + ARCHIVE,
)
DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "dcgan-tf", "inception")


class InceptionUnavailableError(ValueError):
    """The network is not on this machine and could not be fetched, or a file
    given for it is not it; the message says what to fetch by hand and where to
    put it. (A ValueError, not an OSError: a file's writer must not take it for
    a failed write.)"""


def _hand_fetch(cache_dir):
    return (f"Fetch {SOURCES[1]} by hand and pass it (or the {GRAPH} inside it) with"
            f" --inception PATH, or put {GRAPH} in {cache_dir}/.")


def _check_size(path, size):
    if size > MAX_GRAPH_BYTES:
        raise InceptionUnavailableError(
            f"{path} is {size:,} bytes: more than any FID Inception graph ({GRAPH} is"
            f" {GRAPH_BYTES:,}), so it is not read. Pass {GRAPH} from {ARCHIVE}.")


def _graph_from_archive(archive, target):
    """Extracts the graph from the archive into `target`, whole and checked
    (InceptionNetwork's checks, on a staging copy) or not at all: a bad archive
    never replaces a good cached graph."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar if os.path.basename(m.name) == GRAPH and m.isfile()),
                          None)
            if member is None:
                raise InceptionUnavailableError(f"{archive} holds no {GRAPH}.")
            _check_size(f"{archive}'s {member.name}", member.size)
            with files.written_whole(target) as partial:
                with open(partial, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
                InceptionNetwork(partial)  # raises, and the staging copy goes, if it is not
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise InceptionUnavailableError(f"{archive} is not a readable .tgz ({error}).") from error
    except files.OutputWriteError:
        raise
    except OSError as error:
        raise InceptionUnavailableError(f"{archive} cannot be read ({error}).") from error
    return target


def locate(path="", cache_dir=DEFAULT_DIR, allow_download=True, log=print, sources=SOURCES):
    """The graph file: --inception's (a .pb, or the .tgz, whose graph is extracted
    into the cache), else the cached one, else fetched into the cache."""
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise InceptionUnavailableError(f"--inception {path} is no file. "
                                            + _hand_fetch(cache_dir))
        if path.endswith((".tgz", ".tar.gz")):
            return _graph_from_archive(path, os.path.join(cache_dir, GRAPH))
        _check_size(path, os.path.getsize(path))
        return path
    cached = os.path.join(cache_dir, GRAPH)
    if os.path.isfile(cached):
        return cached
    if not allow_download:
        raise InceptionUnavailableError(f"The FID Inception network is not in {cache_dir}"
                                        " (--nodownload). " + _hand_fetch(cache_dir))
    def say_waiting(holder):
        log(f" [*] {holder} is fetching the FID Inception network into {cache_dir}; waiting"
            " for it to finish")

    archive_path = os.path.join(cache_dir, ARCHIVE)
    with download.folder_for(cache_dir), files.in_turn(archive_path, say_waiting):
        if os.path.isfile(cached):  # another process (a second --evaluate) fetched it
            return cached
        log(f" [*] The FID Inception network is not in {cache_dir}: fetching {ARCHIVE}")
        try:
            archive = download.download_file(ARCHIVE, list(sources), cache_dir,
                                             stream=sys.stderr, manual_hint=f" from {SOURCES[1]}")
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


def read_graph(path):
    """The GraphDef in `path`, refused unless it parses and has the FID graph's
    input and pool_3 output."""
    _check_size(path, os.path.getsize(path))
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
    return graph_def


class InceptionNetwork:
    """pool_3 features of images, from the FID graph in `path`."""

    def __init__(self, path, batch_size=100):
        self.path, self.batch_size = path, batch_size
        graph_def = read_graph(path)

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

    def features(self, images, progress=None):
        """[N, 2048] float64 features of images [N, H, W, C] in [0, 1] (C = 1 or 3);
        with `progress` (what they are), a progress bar on stderr."""
        images = np.asarray(images, np.float32)
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        starts = range(0, len(images), self.batch_size)
        if progress:
            starts = tqdm.tqdm(starts, desc=progress, unit="batch", file=sys.stderr,
                               mininterval=1.0)
        blocks = [self._features(tf.constant(images[start:start + self.batch_size] * 255.0))
                  for start in starts]
        return np.concatenate([np.asarray(b, np.float64).reshape(len(b), -1) for b in blocks])


def statistics(features):
    """(mu, sigma) of features, as published reference statistics hold them."""
    return features.mean(0), np.cov(features, rowvar=False)


def read_statistics(path):
    """Published reference statistics: an .npz with `mu` [2048] and `sigma` [2048,
    2048], checked: finite, and sigma a covariance (symmetric, positive
    semi-definite, up to float rounding)."""
    expected = (f"an .npz with `mu` [{FEATURES}] and `sigma` [{FEATURES}, {FEATURES}], as the"
                " FID code publishes them")
    try:
        with np.load(os.path.expanduser(path), allow_pickle=False) as arrays:
            mu, sigma = arrays["mu"], arrays["sigma"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"--inception_stats {path} cannot be read as reference statistics"
                         f" ({error}); it must be {expected}.") from error
    if mu.shape != (FEATURES,) or sigma.shape != (FEATURES, FEATURES):
        raise ValueError(f"--inception_stats {path} holds mu {mu.shape} and sigma {sigma.shape};"
                         f" it must be {expected}.")
    if mu.dtype.kind not in "fi" or sigma.dtype.kind not in "fi":
        raise ValueError(f"--inception_stats {path} holds mu of type {mu.dtype} and sigma of"
                         f" {sigma.dtype}; it must be {expected}, in real numbers.")
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"--inception_stats {path} holds NaN or infinite values; it must be"
                         f" {expected}.")
    scale = max(float(np.abs(sigma).max()), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max() > COVARIANCE_ROUNDING * scale:
        raise ValueError(f"--inception_stats {path}: sigma is not symmetric, so it is no"
                         " covariance; it must be " + expected + ".")
    lowest = float(np.linalg.eigvalsh(sigma)[0])
    if lowest < -COVARIANCE_ROUNDING * scale:
        raise ValueError(f"--inception_stats {path}: sigma has the eigenvalue {lowest:.3g} (a"
                         " covariance has none below 0), so it is no covariance; it must be "
                         + expected + ".")
    return mu, sigma
