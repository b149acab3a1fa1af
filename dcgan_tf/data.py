"""Training data: MNIST-format IDX files and image folders, as `tf.data` pipelines.

MNIST (and Fashion-MNIST) are read from the standard IDX files, plain or
gzipped, with counts from the headers (the original hard-codes 60000), and are
held as uint8 (the original holds float64, 8x the memory). As in the original,
train and test are merged and shuffled once with seed 547, and every epoch
walks them in that same order.

Image folders are decoded in parallel by TensorFlow; `--crop` takes the
original's centre crop of input_height x input_width, then every image is
resized to the output size, so G and D always agree (the original's no-crop
path kept input_height and crashed when it differed from output_height).
"""

import dataclasses
import glob
import gzip
import os
import struct

import numpy as np
import tensorflow as tf

IDX_DATASETS = ("mnist", "fashion_mnist")
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# The original's np.random.seed(547) before shuffling images and labels alike.
MNIST_SHUFFLE_SEED = 547
# Where Debian's dataset-fashion-mnist package puts its files.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
# How many files the folder check decodes before training starts.
FOLDER_PROBE_FILES = 32


class DataError(ValueError):
    """The data set is missing or unusable; the message says how to fix it."""


def is_idx_dataset(dataset):
    return dataset in IDX_DATASETS


# ----------------------------------------------------------------------------- IDX


def _open_maybe_gzip(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path, expected_magic):
    """Reads one IDX file (plain or .gz) into a uint8 array shaped by its header."""
    try:
        with _open_maybe_gzip(path) as f:
            header = f.read(8)
            if len(header) < 8:
                raise DataError(f"{path} is truncated: it has no complete IDX header.")
            magic, count = struct.unpack(">II", header)
            if magic != expected_magic:
                raise DataError(
                    f"{path} has IDX magic number {magic}, expected {expected_magic}: it is not"
                    " the file its name says (images 2051, labels 2049); download it again.")
            dims = [count]
            if magic == IDX_IMAGES_MAGIC:
                dims += struct.unpack(">II", f.read(8))
            data = f.read()
    except (OSError, EOFError) as error:
        raise DataError(f"Cannot read {path}: {error}. Download it again.") from error
    expected = int(np.prod(dims))
    if len(data) != expected:
        raise DataError(
            f"{path} is truncated or padded: its header promises {expected} bytes of data,"
            f" the file has {len(data)}. Download it again.")
    return np.frombuffer(data, np.uint8).reshape(dims)


def find_idx_files(directory):
    """{'train_images': path, ...} for the four IDX files in `directory`, plain or .gz.

    Returns the names that are missing as a second value."""
    found, missing = {}, []
    for key, stem in IDX_FILES.items():
        for candidate in (stem, stem + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                found[key] = path
                break
        else:
            missing.append(stem)
    return found, missing


def idx_dataset_dir(data_dir, dataset):
    """The folder that holds `dataset`'s IDX files: <data_dir>/<dataset>, or for
    fashion_mnist, Debian's package folder when that is where the files are."""
    directory = os.path.join(data_dir, dataset)
    if dataset == "fashion_mnist" and find_idx_files(directory)[1]:
        if not find_idx_files(DEBIAN_FASHION_MNIST_DIR)[1]:
            return DEBIAN_FASHION_MNIST_DIR
    return directory


def load_idx_dataset(directory):
    """(images uint8 [N, 28, 28, 1], labels uint8 [N]): train + test, shuffled with
    the original's seed 547."""
    paths, missing = find_idx_files(directory)
    if missing:
        raise DataError(f"Missing in {directory}: {', '.join(missing)} (plain or .gz).")
    parts = []
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IDX_IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], IDX_LABELS_MAGIC)
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}_images']} holds {len(images)} images but"
                f" {paths[f'{split}_labels']} holds {len(labels)} labels; download both again.")
        parts.append((images, labels))
    images = np.concatenate([parts[0][0], parts[1][0]])[..., None]
    labels = np.concatenate([parts[0][1], parts[1][1]])
    # np.random.seed(547); np.random.shuffle(X) draws exactly this permutation.
    order = np.random.RandomState(MNIST_SHUFFLE_SEED).permutation(len(images))
    return images[order], labels[order]


@dataclasses.dataclass
class IdxData:
    """A labelled IDX data set held in memory as uint8."""

    images: np.ndarray  # [N, H, W, 1] uint8
    labels: np.ndarray  # [N] uint8
    y_dim: int = 10

    @property
    def num_examples(self):
        return len(self.images)

    @property
    def c_dim(self):
        return self.images.shape[-1]

    @property
    def image_size(self):
        return self.images.shape[1:3]

    @property
    def value_range(self):
        return (0.0, 1.0)  # the original divides by 255

    def _to_model_inputs(self, images, labels):
        images = tf.cast(images, tf.float32) / 255.0
        return images, tf.one_hot(tf.cast(labels, tf.int32), self.y_dim)

    def epoch_dataset(self, epoch, num_examples, batch_size, start_batch=0):
        """Batches (images [B, 28, 28, 1] in [0, 1], one-hot labels [B, 10]) of one epoch,
        from batch `start_batch` on; every epoch has the same order."""
        del epoch  # the original walks the same order every epoch
        start = start_batch * batch_size
        dataset = tf.data.Dataset.from_tensor_slices(
            (self.images[start:num_examples], self.labels[start:num_examples]))
        return (dataset.batch(batch_size, drop_remainder=True)
                .map(self._to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    def first_batch(self, batch_size):
        """The first `batch_size` examples: the original's sample_inputs/labels."""
        return self._to_model_inputs(self.images[:batch_size], self.labels[:batch_size])

    def take_skipped_count(self):
        return 0


# ----------------------------------------------------------------------------- image folders


def list_image_files(directory, pattern):
    """Sorted files under `directory` matching the glob `pattern` (which may hold '**')."""
    return sorted(p for p in glob.glob(os.path.join(directory, pattern), recursive=True)
                  if os.path.isfile(p))


def decode_image(path, channels):
    """uint8 [H, W, channels]: JPEG, PNG, GIF (first frame) or BMP; grayscale, RGB and
    RGBA all converted to `channels` on purpose (alpha is dropped)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def preprocess_image(image, crop, input_height, input_width, output_height, output_width):
    """uint8 [H, W, C] -> float32 [output_h, output_w, C] in [-1, 1].

    With `crop`, the centre input_height x input_width window (offsets rounded half
    to even, like the original's Python round) is cut first."""
    if crop:
        shape = tf.shape(image)
        top = tf.cast(tf.round(tf.cast(shape[0] - input_height, tf.float32) / 2.0), tf.int32)
        left = tf.cast(tf.round(tf.cast(shape[1] - input_width, tf.float32) / 2.0), tf.int32)
        tf.debugging.assert_non_negative(
            tf.minimum(top, left),
            message=f"image is smaller than the {input_height}x{input_width} crop")
        image = tf.image.crop_to_bounding_box(image, top, left, input_height, input_width)
    # Antialiased bilinear, as Pillow's (and so scipy.misc.imresize's) bilinear is.
    image = tf.image.resize(image, [output_height, output_width], method="bilinear",
                            antialias=True)
    return image / 127.5 - 1.0


@dataclasses.dataclass
class ImageFolderData:
    """An unlabelled image folder, decoded on the fly."""

    files: list
    c_dim: int
    crop: bool
    input_height: int
    input_width: int
    output_height: int
    output_width: int
    seed: int

    def __post_init__(self):
        self._attempted = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._decoded = tf.Variable(0, dtype=tf.int64, trainable=False)

    y_dim = 0

    @property
    def num_examples(self):
        return len(self.files)

    @property
    def value_range(self):
        return (-1.0, 1.0)

    def _load(self, path):
        return preprocess_image(decode_image(path, self.c_dim), self.crop, self.input_height,
                                self.input_width, self.output_height, self.output_width)

    def _count_attempt(self, path):
        self._attempted.assign_add(1)
        return path

    def _count_decoded(self, image):
        self._decoded.assign_add(1)
        return image

    def epoch_files(self, epoch, num_examples):
        """This epoch's files: a fresh shuffle per epoch (as the original reshuffles),
        seeded by (seed, epoch) so a resumed run sees the same order."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.files))
        return [self.files[i] for i in order[:num_examples]]

    def epoch_dataset(self, epoch, num_examples, batch_size, start_batch=0):
        """Batches of images [B, H, W, C] in [-1, 1]; unreadable files are skipped and
        counted (see take_skipped_count)."""
        files = self.epoch_files(epoch, num_examples)[start_batch * batch_size:]
        return (tf.data.Dataset.from_tensor_slices(files)
                .map(self._count_attempt)
                .map(self._load, num_parallel_calls=tf.data.AUTOTUNE)
                .ignore_errors(log_warning=True)
                .map(self._count_decoded)
                .batch(batch_size, drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))

    def first_batch(self, batch_size):
        images = [self._load(path) for path in self.files[:batch_size]]
        return tf.stack(images), None

    def take_skipped_count(self):
        """Files that failed to decode since the last call (call at an epoch's end)."""
        skipped = int(self._attempted.numpy() - self._decoded.numpy())
        self._attempted.assign(0)
        self._decoded.assign(0)
        return skipped


def probe_image_folder(files, crop, input_height, input_width):
    """Decodes the first files to learn c_dim (1 for grayscale, else 3) and to fail
    early, with the reason, when the folder is unusable. Returns (c_dim, readable
    files among the probed)."""
    failures = []
    for path in files[:FOLDER_PROBE_FILES]:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            failures.append(f"{path}: not a readable image ({error.message.splitlines()[0]})")
            continue
        height, width, channels = image.shape
        if crop and (height < input_height or width < input_width):
            failures.append(
                f"{path}: {height}x{width} is smaller than the {input_height}x{input_width}"
                " crop; pass a smaller --input_height/--input_width, or drop --crop")
            continue
        return (1 if channels == 1 else 3), failures
    shown = "\n  ".join(failures[:5])
    raise DataError(
        f"None of the first {len(failures)} files matching the pattern could be used:\n"
        f"  {shown}")
