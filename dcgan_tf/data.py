"""Training data: MNIST-format IDX files and image folders, as `tf.data` pipelines.

MNIST (and Fashion-MNIST) are read from the standard IDX files, plain or
gzipped, with counts from the headers (the original hard-codes 60000), and are
held as uint8 (the original holds float64, 8x the memory). As in the original,
train and test are merged and shuffled once with seed 547, and every epoch
walks them in that same order.

Image folders are decoded by Pillow (as the original's scipy.misc did) in
parallel tf.data workers, so one bad file is skipped with a warning that names
it; `--crop` takes the original's centre crop of input_height x input_width,
then every image is resized to the output size, so G and D always agree (the
original's no-crop path kept input_height and crashed when it differed from
output_height).
"""

import collections
import dataclasses
import functools
import glob
import gzip
import hashlib
import os
import struct
import sys
import threading

import numpy as np
import tensorflow as tf
from PIL import Image

IDX_DATASETS = ("mnist", "fashion_mnist")
# Both have ten classes.
IDX_CLASSES = 10
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


class DataError(ValueError):
    """The data set is missing or unusable; the message says how to fix it."""


def untuned(dataset):
    """`dataset` without tf.data's autotuner. Deleting a tuned iterator waits
    for the tuner's thread to leave its loop (TensorFlow 2.21), and a run
    makes a new iterator each epoch: epochs' ends stalled, at random, for 0 to
    30 s (the faithful DCGAN's 80 s epochs; bench/RESULTS.md, "An epoch's
    end"). Untuned, AUTOTUNE keeps TensorFlow's starting values: parallel maps
    on as many threads as the CPU has cores, a prefetch of about a batch."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


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
    parts = [load_idx_split(directory, split) for split in ("train", "test")]
    images = np.concatenate([parts[0][0], parts[1][0]])[..., None]
    labels = np.concatenate([parts[0][1], parts[1][1]])
    # np.random.seed(547); np.random.shuffle(X) draws exactly this permutation.
    order = np.random.RandomState(MNIST_SHUFFLE_SEED).permutation(len(images))
    return images[order], labels[order]


def load_idx_split(directory, split="train"):
    """(images uint8 [N, 28, 28], labels uint8 [N]) of one split, in file order."""
    paths, missing = find_idx_files(directory)
    if missing:
        raise DataError(f"Missing in {directory}: {', '.join(missing)} (plain or .gz).")
    images = read_idx(paths[f"{split}_images"], IDX_IMAGES_MAGIC)
    labels = read_idx(paths[f"{split}_labels"], IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{paths[f'{split}_images']} holds {len(images)} images but"
                        f" {paths[f'{split}_labels']} holds {len(labels)} labels; download both"
                        " again.")
    return images, labels


@dataclasses.dataclass
class IdxData:
    """A labelled IDX data set held in memory as uint8."""

    images: np.ndarray  # [N, H, W, 1] uint8
    labels: np.ndarray  # [N] uint8
    y_dim: int = IDX_CLASSES
    # Every epoch walks one order: --train_size's share is the same images each time.
    draws_anew_each_epoch = False

    @property
    def num_examples(self):
        return len(self.images)

    @property
    def c_dim(self):
        return self.images.shape[-1]

    def _to_model_inputs(self, images, labels):
        images = tf.cast(images, tf.float32) / 255.0
        return images, tf.one_hot(tf.cast(labels, tf.int32), self.y_dim)

    def epoch_dataset(self, epoch, num_examples, batch_size, start_batch=0, replicas=1):
        """Batches (images [B, 28, 28, 1] in [0, 1], one-hot labels [B, 10]) of one epoch,
        from batch `start_batch` on; every epoch has the same order. Full batches
        only, as the original (`replicas` has nothing to split unevenly)."""
        del epoch, replicas  # the original walks the same order every epoch
        start = start_batch * batch_size
        dataset = tf.data.Dataset.from_tensor_slices(
            (self.images[start:num_examples], self.labels[start:num_examples]))
        return untuned(dataset.batch(batch_size, drop_remainder=True)
                       .map(self._to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
                       .prefetch(tf.data.AUTOTUNE))

    def first_batch(self, batch_size):
        """The first `batch_size` examples: the original's sample_inputs/labels."""
        return self._to_model_inputs(self.images[:batch_size], self.labels[:batch_size])

    def delivered(self, epoch, epoch_batch, num_examples, batch_size):
        """Sorted indices of the examples a run's batches took, from its first
        epoch's up to batch `epoch_batch` of epoch `epoch` (where its checkpoint
        stands): the first full batches of the one order every epoch walks."""
        whole = num_examples // batch_size * batch_size
        return np.arange(whole if epoch else min(epoch_batch * batch_size, whole))

    def batches_in_epoch(self, epoch, num_examples, batch_size, replicas=1):
        return num_examples // batch_size

    def last_batch_note(self, num_examples, batch_size, replicas=1):
        """What becomes of an epoch's images past its last full batch, where that
        is worth saying (the original leaves them out, silently)."""
        return None

    def take_skipped_count(self):
        return 0

    @functools.cached_property
    def contents(self):
        """Which examples this is, in its order ({"examples", "sha256"} of its
        pixels and labels): a run's epochs are orders of these, so a start
        that finds others says so (see runs.data_changed)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.images))
        digest.update(np.ascontiguousarray(self.labels))
        return {"examples": self.num_examples, "sha256": digest.hexdigest()}


# Batch norm's batch statistics need two images: one image's unbiased variance is
# 0/0, which makes a running variance NaN (PyTorch refuses a batch of one).
MIN_ROWS_PER_REPLICA = 2


def resize_like_torchvision(images, size):
    """uint8 [N, H, W] -> uint8 [N, size, size, 1], as transforms.Resize(size) does to
    a PIL image (Pillow's bilinear filter); unchanged when already that size."""
    if images.shape[1:] == (size, size):
        return images[..., None]
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
                     for image in images])[..., None]


@dataclasses.dataclass
class ScriptIdxData(IdxData):
    """MNIST / Fashion-MNIST as the PyTorch-GAN scripts read them: the training split
    only, Resize(image_size), ToTensor, Normalize(0.5, 0.5) (values in [-1, 1]), a
    new shuffle every epoch (seeded by (seed, epoch), so a resumed run sees the
    same order), and the last, smaller batch kept (DataLoader's drop_last=False).
    `images` [N, S, S, 1] uint8 come already resized."""

    seed: int = 0
    draws_anew_each_epoch = True  # a new shuffle, and --train_size's share of it

    def _to_model_inputs(self, images, labels):
        # ToTensor (/ 255), then Normalize(0.5, 0.5), in float32 as torchvision does.
        images = (tf.cast(images, tf.float32) / 255.0 - 0.5) / 0.5
        return images, tf.one_hot(tf.cast(labels, tf.int32), self.y_dim)

    def epoch_order(self, epoch, num_examples):
        return np.random.default_rng([self.seed, epoch]).permutation(
            len(self.images))[:num_examples]

    def last_batch_size(self, num_examples, batch_size, replicas=1):
        """The images the epoch's last, smaller batch trains (DataLoader's
        drop_last=False keeps it): as many as split evenly over the replicas, and
        none where that leaves a replica fewer than MIN_ROWS_PER_REPLICA."""
        rest = num_examples % batch_size
        kept = rest - rest % replicas
        return kept if kept >= MIN_ROWS_PER_REPLICA * replicas else 0

    def batches_in_epoch(self, epoch, num_examples, batch_size, replicas=1):
        return num_examples // batch_size + bool(self.last_batch_size(num_examples, batch_size,
                                                                      replicas))

    def last_batch_note(self, num_examples, batch_size, replicas=1):
        rest = num_examples % batch_size
        kept = self.last_batch_size(num_examples, batch_size, replicas)
        if rest == kept:
            return None
        images_word = lambda n: f"{n} image{'s' if n != 1 else ''}"  # noqa: E731
        why = (f"a batch norm cannot train on fewer than {MIN_ROWS_PER_REPLICA} images"
               + (f" per replica ({replicas} replicas)" if replicas > 1 else "")
               + " (one image's variance is 0/0; PyTorch refuses a batch of one)")
        if kept:
            return (f"Each epoch's last batch would hold {images_word(rest)}; it trains"
                    f" {images_word(kept)} (a multiple of the {replicas} replicas), leaving"
                    f" out {images_word(rest - kept)} of the epoch's shuffle")
        return (f"Each epoch's last batch would hold {images_word(rest)} ({num_examples} %"
                f" {batch_size}): it is left out, as {why}; the next epoch's shuffle"
                " includes them")

    def delivered(self, epoch, epoch_batch, num_examples, batch_size):
        """Sorted indices of the examples a run's batches took, from its first
        epoch's up to batch `epoch_batch` of epoch `epoch`: each epoch's shuffle
        as far as its batches went (its last batch as one device keeps it: with
        replicas it may keep fewer, so this can hold a few more)."""
        used = num_examples // batch_size * batch_size + self.last_batch_size(num_examples,
                                                                              batch_size)
        taken = np.zeros(len(self.images), bool)  # one flag per example, however many epochs
        for e in range(epoch):
            taken[self.epoch_order(e, num_examples)[:used]] = True
        taken[self.epoch_order(epoch, num_examples)[:min(epoch_batch * batch_size, used)]] = True
        return np.flatnonzero(taken)

    def epoch_dataset(self, epoch, num_examples, batch_size, start_batch=0, replicas=1):
        used = (num_examples // batch_size * batch_size
                + self.last_batch_size(num_examples, batch_size, replicas))
        order = self.epoch_order(epoch, num_examples)[start_batch * batch_size:used]
        dataset = tf.data.Dataset.from_tensor_slices((self.images[order], self.labels[order]))
        return untuned(dataset.batch(batch_size)
                       .map(self._to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
                       .prefetch(tf.data.AUTOTUNE))


# ----------------------------------------------------------------------------- image folders


def shown_path(path):
    """`path` as a log line can print it: a name that is not UTF-8 (its bytes kept
    by Python as surrogates) with those bytes as \\x escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class UnusableImage(ValueError):
    """One image file can't be used; the message says why."""


# Pillow modes that hold one channel of intensity.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
GRAYSCALE_MODES = {"1", "L", "LA", "I", "F", *SIXTEEN_BIT_MODES}


def list_image_files(directory, pattern):
    """Sorted files under `directory` matching the glob `pattern` (which may hold
    '**'), each file once: '**' follows symlinked folders, so a link to a parent
    reaches the same files again through ever longer paths (until the OS's limit
    of 40 links). Returns (files, how many paths were left out as repeats)."""
    found, seen, repeats = [], set(), 0
    for path in sorted(glob.glob(os.path.join(directory, pattern), recursive=True)):
        if not os.path.isfile(path):
            continue
        real = os.path.realpath(path)
        if real in seen:
            repeats += 1
            continue
        seen.add(real)
        found.append(path)
    return found, repeats


# What the README promises a folder may hold; any file Pillow reads is used.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


def image_suffixes_under(directory, limit=100_000):
    """({suffix as written: count} of the image files in `directory` itself, the
    same of those in its subfolders): what a pattern that matched nothing could
    have matched. Symlinked folders are not followed; at most `limit` files are
    looked at, so a huge tree answers quickly."""
    top, below = collections.Counter(), collections.Counter()
    seen = 0
    for root, _, names in os.walk(directory):
        for name in names:
            suffix = os.path.splitext(name)[1]
            if suffix.lower() in IMAGE_SUFFIXES:
                (top if root == directory else below)[suffix] += 1
            seen += 1
            if seen >= limit:
                return top, below
    return top, below


def _to_channels(image, c_dim):
    """A Pillow image as 'L' (c_dim 1) or 'RGB' (c_dim 3), whatever it was: palette,
    CMYK, RGBA (alpha dropped), grayscale with alpha, 16-bit or float grayscale.
    A 16-bit file's white is 65,535 however dark the file is; 32-bit integer and
    float files say no range, so theirs is read off the values: 1 (floats in
    [0, 1]), 255 or 65,535, the smallest that holds them."""
    if image.mode in SIXTEEN_BIT_MODES + ("I", "F"):
        values = np.asarray(image, np.float64)
        if image.mode in SIXTEEN_BIT_MODES:
            top = 65535.0
        else:
            ranges = (1.0, 255.0) if image.mode == "F" else (255.0,)
            top = next((top for top in ranges if values.max() <= top), 65535.0)
        image = Image.fromarray(np.round(np.clip(values / top * 255.0, 0, 255)).astype(np.uint8),
                                "L")
    return image.convert("L" if c_dim == 1 else "RGB")


def load_image_file(path, c_dim, crop, input_height, input_width, output_height, output_width):
    """uint8 [output_h, output_w, c_dim] from an image file, as the original's
    get_image: with `crop`, the centre input_height x input_width window (offsets
    rounded as Python rounds), then a bilinear resize by Pillow (scipy.misc.imresize
    was Pillow's bilinear too). Raises UnusableImage with the reason."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = _to_channels(opened, c_dim)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnusableImage(f"not a readable image ({error})") from error
    if crop:
        if image.height < input_height or image.width < input_width:
            raise UnusableImage(
                f"{image.height}x{image.width} is smaller than the {input_height}x{input_width}"
                " crop; pass a smaller --input_height/--input_width, or drop --crop")
        top = int(round((image.height - input_height) / 2.0))
        left = int(round((image.width - input_width) / 2.0))
        image = image.crop((left, top, left + input_width, top + input_height))
    if image.size != (output_width, output_height):
        image = image.resize((output_width, output_height), Image.BILINEAR)
    array = np.asarray(image, np.uint8)
    return array[..., None] if array.ndim == 2 else array


def channels_of(path):
    """1 for a grayscale image file, 3 for anything else; UnusableImage if unreadable."""
    try:
        with Image.open(path) as image:
            return 1 if image.mode in GRAYSCALE_MODES else 3
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnusableImage(f"not a readable image ({error})") from error


def largest_image_size(paths):
    """(height, width), each the largest among the image files `paths` (read from
    their headers); None when none is readable."""
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append(image.size[::-1])
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
    return (max(h for h, _ in sizes), max(w for _, w in sizes)) if sizes else None


@dataclasses.dataclass
class ImageFolderData:
    """An unlabelled image folder, decoded on the fly by parallel Pillow workers."""

    files: list
    c_dim: int
    crop: bool
    input_height: int
    input_width: int
    output_height: int
    output_width: int
    seed: int
    warn: object = None  # called with one line per skipped file; default: stderr
    folder: str = None  # the data set's folder: the files' paths under it name them
    draws_anew_each_epoch = True  # as the original reshuffles a folder every epoch

    y_dim = 0

    def __post_init__(self):
        self._skipped = 0
        self._unusable = set()  # every file found unusable so far (probe included)
        self._epoch_files_of, self._epoch_file_set = None, set()  # batches_in_epoch's cache
        self._lock = threading.Lock()
        if self.warn is None:
            self.warn = lambda line: print(line, file=sys.stderr, flush=True)

    @property
    def num_examples(self):
        return len(self.files)

    def load(self, path):
        """uint8 image of one file (UnusableImage if it can't be used)."""
        return load_image_file(path, self.c_dim, self.crop, self.input_height,
                               self.input_width, self.output_height, self.output_width)

    def load_usable(self, paths):
        """uint8 [n, H, W, C] of those of `paths` that can be used (others left out)."""
        loaded = []
        for path in paths:
            try:
                loaded.append(self.load(path))
            except UnusableImage:
                continue
        return np.stack(loaded) if loaded else np.zeros(
            (0, self.output_height, self.output_width, self.c_dim), np.uint8)

    def _load_or_skip(self, path):
        path = os.fsdecode(path) if isinstance(path, bytes) else path
        try:
            return self.load(path), True
        except UnusableImage as error:
            with self._lock:
                self._skipped += 1
                self._unusable.add(path)
            self.warn(f" [!] skipping {shown_path(path)}: {error}")
            return np.zeros((self.output_height, self.output_width, self.c_dim), np.uint8), False

    def _to_model_range(self, image, ok):
        image.set_shape([self.output_height, self.output_width, self.c_dim])
        return tf.cast(image, tf.float32) / 127.5 - 1.0  # the original's transform

    def epoch_order(self, epoch, num_examples):
        """The indices of this epoch's files: a fresh shuffle per epoch (as the
        original reshuffles), seeded by (seed, epoch) so a resumed run sees the
        same order."""
        return np.random.default_rng([self.seed, epoch]).permutation(
            len(self.files))[:num_examples]

    def epoch_files(self, epoch, num_examples):
        return [self.files[i] for i in self.epoch_order(epoch, num_examples)]

    def delivered(self, epoch, epoch_batch, num_examples, batch_size):
        """Sorted indices of the files a run's batches took, from its first
        epoch's up to batch `epoch_batch` of epoch `epoch`: every file of the
        epochs before (those unusable, or past the last full batch, included: a
        few more than were trained on), and in epoch `epoch` its first files up to
        the one that filled batch `epoch_batch` (each file read to know)."""
        taken = np.zeros(len(self.files), bool)  # one flag per file, however many epochs
        for e in range(epoch):
            taken[self.epoch_order(e, num_examples)] = True
        wanted, usable = epoch_batch * batch_size, 0
        for index in self.epoch_order(epoch, num_examples):
            if usable >= wanted:
                break
            taken[index] = True
            try:
                self.load(self.files[index])
                usable += 1
            except UnusableImage:
                continue
        return np.flatnonzero(taken)

    def mark_unusable(self, paths):
        with self._lock:
            self._unusable.update(paths)

    def last_batch_note(self, num_examples, batch_size, replicas=1):
        return None  # full batches only, as the original

    def batches_in_epoch(self, epoch, num_examples, batch_size, replicas=1):
        """Full batches this epoch delivers, by what is known: its files less those
        found unusable so far (exact once every file was read, from the second
        epoch on; in the first, it drops as unusable files turn up)."""
        # Called every iteration: the epoch's file set is built once per epoch.
        if self._epoch_files_of != (epoch, num_examples):
            self._epoch_file_set = set(self.epoch_files(epoch, num_examples))
            self._epoch_files_of = (epoch, num_examples)
        with self._lock:
            unusable = len(self._unusable & self._epoch_file_set)
        return (len(self._epoch_file_set) - unusable) // batch_size

    def epoch_dataset(self, epoch, num_examples, batch_size, start_batch=0, replicas=1):
        """Batches of images [B, H, W, C] in [-1, 1] (full batches only, as the
        original: `replicas` has nothing to split unevenly); unusable files are skipped with a
        warning naming each, and counted (see take_skipped_count). `start_batch`
        counts delivered batches, so a resumed epoch goes on with the very images
        it would have seen, whatever was skipped before (those files are read
        again to find where that is)."""
        # As bytes: a file name need not be UTF-8 (a tf.string holds any bytes).
        files = [os.fsencode(path) for path in self.epoch_files(epoch, num_examples)]
        return untuned(tf.data.Dataset.from_tensor_slices(files)
                       .map(lambda path: tf.numpy_function(self._load_or_skip, [path],
                                                           (tf.uint8, tf.bool), stateful=False),
                            num_parallel_calls=tf.data.AUTOTUNE)
                       .filter(lambda image, ok: ok)
                       .skip(start_batch * batch_size)
                       .map(self._to_model_range, num_parallel_calls=tf.data.AUTOTUNE)
                       .batch(batch_size, drop_remainder=True)
                       .prefetch(tf.data.AUTOTUNE))

    def first_batch(self, batch_size):
        images = [self.load(path) for path in self.files[:batch_size]]
        return tf.constant(np.stack(images), tf.float32) / 127.5 - 1.0, None

    def take_skipped_count(self):
        """Files skipped since the last call (the loop calls it at each epoch's end)."""
        with self._lock:
            skipped, self._skipped = self._skipped, 0
        return skipped

    @functools.cached_property
    def contents(self):
        """Which files this is, in their order ({"examples", "sha256"} of their
        paths under `folder`, so a folder moved or renamed is the same one): a
        run's epochs are shuffles of this list. What the files hold is not
        digested (that would read every file at every start)."""
        names = (os.path.relpath(path, self.folder) if self.folder else path
                 for path in self.files)
        digest = hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape"))
        return {"examples": self.num_examples, "sha256": digest.hexdigest()}


def probe_image_folder(files, crop, input_height, input_width, needed=1):
    """Reads files in order to learn c_dim (that of the first usable image: 1 for
    grayscale, else 3) and to fail before training, with the reasons, when the
    folder cannot fill `needed` images (one batch). Stops at the `needed`-th
    usable file. Returns (c_dim, {unusable path: reason})."""
    failures, usable, c_dim = {}, 0, None
    for path in files:
        try:
            channels = channels_of(path)
            load_image_file(path, c_dim or channels, crop, input_height, input_width, 8, 8)
        except UnusableImage as error:
            failures[path] = str(error)
            continue
        c_dim = c_dim or channels
        usable += 1
        if usable >= needed:
            return c_dim, failures
    shown = "\n  ".join(f"{path}: {reason}" for path, reason in list(failures.items())[:5])
    if usable == 0:
        raise DataError(f"None of the {len(failures)} files matching the pattern can be"
                        f" used, e.g.:\n  {shown}")
    raise DataError(
        f"Only {usable} of the {len(files)} files matching the pattern are usable images,"
        f" fewer than one batch of {needed}; {len(failures)} are not, e.g.:\n  {shown}\n"
        "Pass a smaller --batch_size, or add usable images.")
