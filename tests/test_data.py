"""The data readers, on files the tests make."""

import os

import numpy as np
import pytest
import tensorflow as tf

import fakes
from dcgan_tf import data


@pytest.mark.parametrize("gz", [True, False])
def test_idx_counts_come_from_the_headers(tmp_path, gz):
    directory = fakes.make_mnist(str(tmp_path), n_train=50, n_test=20, gz=gz)
    images, labels = data.load_idx_dataset(directory)
    assert images.shape == (70, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (70,)
    np.testing.assert_array_equal(images[:, 0, 0, 0], labels * 25)  # pairs stay together


def test_idx_merge_and_shuffle_follow_the_original(tmp_path):
    directory = fakes.make_mnist(str(tmp_path), n_train=40, n_test=10)
    images, labels = data.load_idx_dataset(directory)
    paths = data.find_idx_files(directory)[0]
    x = np.concatenate([data.read_idx(paths["train_images"], 2051),
                        data.read_idx(paths["test_images"], 2051)]).astype(np.float64)
    y = np.concatenate([data.read_idx(paths["train_labels"], 2049),
                        data.read_idx(paths["test_labels"], 2049)])
    np.random.seed(547)  # the original's load_mnist, verbatim in effect
    np.random.shuffle(x)
    np.random.seed(547)
    np.random.shuffle(y)
    np.testing.assert_array_equal(images[..., 0], x)
    np.testing.assert_array_equal(labels, y)


def test_idx_wrong_magic_and_truncation_are_named(tmp_path):
    bad = fakes.write_idx(str(tmp_path / "labels"), np.zeros(5))
    with pytest.raises(data.DataError, match="magic number 2049, expected 2051"):
        data.read_idx(bad, data.IDX_IMAGES_MAGIC)
    good = fakes.write_idx(str(tmp_path / "images"), np.zeros((4, 28, 28)))
    with open(good, "r+b") as f:
        f.truncate(16 + 28 * 28 * 3)
    with pytest.raises(data.DataError, match="truncated.*Download it again"):
        data.read_idx(good, data.IDX_IMAGES_MAGIC)


def test_idx_dataset_batches(tmp_path):
    images, labels = data.load_idx_dataset(fakes.make_mnist(str(tmp_path), 60, 10))
    source = data.IdxData(images, labels)
    batches = list(source.epoch_dataset(0, 70, 16))
    assert len(batches) == 4  # 70 // 16, remainder dropped as in the original
    real, y = batches[1]
    assert real.shape == (16, 28, 28, 1) and real.dtype == tf.float32
    np.testing.assert_allclose(real[:, 0, 0, 0], labels[16:32] * 25 / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.argmax(y, 1), labels[16:32])
    resumed = list(source.epoch_dataset(0, 70, 16, start_batch=2))
    assert len(resumed) == 2
    np.testing.assert_array_equal(resumed[0][0], batches[2][0])


def folder(tmp_path, **kwargs):
    options = dict(crop=False, input_height=20, input_width=20, output_height=16,
                   output_width=16, seed=0)
    options.update(kwargs)
    files, _ = data.list_image_files(str(tmp_path), "*")
    c_dim, _ = data.probe_image_folder(files, options["crop"], options["input_height"],
                                       options["input_width"])
    return data.ImageFolderData(files, c_dim, **options)


def test_image_folder_resizes_to_the_output_size_without_crop(tmp_path):
    """The original's no-crop path kept input_height and crashed when it differed."""
    fakes.make_image_folder(str(tmp_path), count=6, size=(40, 30))
    source = folder(tmp_path)
    batch = next(iter(source.epoch_dataset(0, 6, 4)))
    assert batch.shape == (4, 16, 16, 3)
    assert float(tf.reduce_min(batch)) >= -1.0 and float(tf.reduce_max(batch)) <= 1.0


def test_center_crop_takes_the_middle(tmp_path):
    image = np.zeros((30, 40, 3), np.uint8)
    image[5:25, 10:30] = 255  # the centred 20x20 window is white
    for i in range(4):
        fakes.write_image(str(tmp_path / f"{i}.png"), image)
    source = folder(tmp_path, crop=True)
    batch = next(iter(source.epoch_dataset(0, 4, 4))).numpy()
    np.testing.assert_allclose(batch, 1.0, atol=1e-5)


def test_grayscale_rgb_and_rgba_are_handled_on_purpose(tmp_path):
    fakes.write_image(str(tmp_path / "a_gray.png"), np.full((20, 20), 255))
    fakes.write_image(str(tmp_path / "b_rgb.png"), np.zeros((20, 20, 3)))
    fakes.write_image(str(tmp_path / "c_rgba.png"), np.full((20, 20, 4), 255), "RGBA")
    files, _ = data.list_image_files(str(tmp_path), "*.png")
    assert data.probe_image_folder(files, False, 20, 20)[0] == 1  # first image is grayscale
    gray = next(iter(folder(tmp_path).epoch_dataset(0, 3, 3))).numpy()
    assert gray.shape == (3, 16, 16, 1)
    # white gray, black RGB and white RGBA, in [-1, 1], each image one value
    assert sorted(float(image.min()) for image in gray) == [-1.0, 1.0, 1.0]
    assert all(image.min() == image.max() for image in gray)
    os.remove(files[0])
    batch = next(iter(folder(tmp_path).epoch_dataset(0, 2, 2))).numpy()
    assert batch.shape == (2, 16, 16, 3)  # RGBA's alpha dropped, not a 4th channel
    assert sorted(float(image.mean()) for image in batch) == [-1.0, 1.0]
    assert all(image.min() == image.max() for image in batch)


def test_sixteen_bit_images_keep_their_brightness_whatever_their_values(tmp_path):
    """A 16-bit file's values are of 65,535 however dark it is (a dark one was
    taken for 8-bit and made 257 times brighter than a bright one's scale), and
    float images in [0, 1] are of 1."""
    values = {"dark_16bit.png": (np.uint16, 200, 200 / 65535),
              "bright_16bit.png": (np.uint16, 60000, 60000 / 65535),
              "unit_float.tif": (np.float32, 0.5, 0.5),
              "byte_float.tif": (np.float32, 128.0, 128 / 255)}
    for name, (dtype, value, _) in values.items():
        fakes.Image.fromarray(np.full((8, 8), value, dtype)).save(tmp_path / name)
    for name, (_, _, fraction) in values.items():
        pixel = data.load_image_file(str(tmp_path / name), 1, False, 0, 0, 8, 8)[0, 0, 0]
        assert abs(int(pixel) - fraction * 255) <= 0.5, (name, pixel)


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    fakes.make_image_folder(str(tmp_path), count=9, size=(20, 20))
    (tmp_path / "img_004.png").write_bytes(b"not an image")
    source = folder(tmp_path)
    batches = list(source.epoch_dataset(0, 9, 4))
    assert len(batches) == 2  # 8 readable images
    assert source.take_skipped_count() == 1
    assert source.take_skipped_count() == 0  # counts are per epoch


def test_file_names_that_are_not_utf8_are_read_and_named(tmp_path):
    """A name's bytes need not be UTF-8 on Linux: training stopped at its first
    batch ("Error converting unicode string") once the run folder was made."""
    fakes.make_image_folder(str(tmp_path), count=8, size=(20, 20))
    folder_bytes = os.fsencode(tmp_path)
    os.rename(os.path.join(folder_bytes, b"img_001.png"),
              os.path.join(folder_bytes, b"img_\xff.png"))
    with open(os.path.join(folder_bytes, b"img_\xfe.png"), "wb") as f:
        f.write(b"not an image")
    warned = []
    source = folder(tmp_path, warn=warned.append)
    batches = list(source.epoch_dataset(0, 9, 4))
    assert len(batches) == 2 and source.take_skipped_count() == 1  # the 8 images, not the 9th
    assert len(warned) == 1 and warned[0].startswith(
        f" [!] skipping {tmp_path}/img_\\xfe.png: not a readable image"), warned
    warned[0].encode("utf-8")  # printable: its bytes shown as \x escapes


def test_unusable_folders_fail_before_training_with_the_reason(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"junk")
    with pytest.raises(data.DataError, match="not a readable image"):
        data.probe_image_folder([str(tmp_path / "a.jpg")], False, 10, 10)
    small = fakes.make_image_folder(str(tmp_path / "small"), count=2, size=(30, 30))
    with pytest.raises(data.DataError, match="smaller than the 108x108 crop"):
        data.probe_image_folder(small, True, 108, 108)
    # Usable files, but fewer than one batch: an error before training too.
    mixed = fakes.make_image_folder(str(tmp_path / "mixed"), count=5, size=(20, 20))
    for i in range(9):
        (tmp_path / "mixed" / f"a_junk_{i}.png").write_bytes(b"junk")  # sorted first
    files, _ = data.list_image_files(str(tmp_path / "mixed"), "*")
    with pytest.raises(data.DataError, match=r"Only 5 of the 14 files .* fewer than one batch"
                       r" of 8; 9 are not"):
        data.probe_image_folder(files, False, 20, 20, needed=8)
    c_dim, failures = data.probe_image_folder(files, False, 20, 20, needed=5)
    assert c_dim == 3 and len(failures) == 9 and set(mixed) <= set(files)


def test_epoch_order_is_reshuffled_per_epoch_and_reproducible(tmp_path):
    fakes.make_image_folder(str(tmp_path), count=12, size=(20, 20))
    source = folder(tmp_path)
    first, second = source.epoch_files(0, 12), source.epoch_files(1, 12)
    assert sorted(first) == sorted(second) == source.files and first != second
    assert folder(tmp_path).epoch_files(1, 12) == second
    assert len(source.epoch_files(0, 5)) == 5  # train_size


def _taken_by_batches(source, epoch, epoch_batch, num_examples, batch_size, index_of):
    """The indices of what `source`'s epoch_dataset delivered: every batch of the
    epochs before `epoch`, then its first `epoch_batch` batches."""
    taken = set()
    for e in range(epoch + 1):
        for number, batch in enumerate(source.epoch_dataset(e, num_examples, batch_size)):
            if e == epoch and number >= epoch_batch:
                break
            images = batch[0] if isinstance(batch, tuple) else batch
            taken.update(index_of(images.numpy()))
    return taken


@pytest.mark.parametrize("position", [(0, 0), (0, 2), (1, 0), (2, 3)])
def test_the_examples_delivered_are_those_the_batches_took_from_idx_files(position):
    """The original's order (one walk, every epoch) and the scripts' (a shuffle
    per epoch, the last batch kept): 50 images each of one value (its index),
    30 an epoch (--train_size), batches of 8."""
    images = np.broadcast_to(np.arange(50, dtype=np.uint8)[:, None, None, None],
                             (50, 28, 28, 1)).copy()
    labels = np.arange(50, dtype=np.uint8) % 10
    original = data.IdxData(images, labels)
    scripts = data.ScriptIdxData(images, labels, seed=7)
    for source, index_of in (
            (original, lambda batch: np.rint(batch[:, 0, 0, 0] * 255).astype(int)),
            (scripts, lambda batch: np.rint((batch[:, 0, 0, 0] * 0.5 + 0.5) * 255).astype(int))):
        delivered = source.delivered(*position, 30, 8)
        assert list(delivered) == sorted(_taken_by_batches(source, *position, 30, 8, index_of))
    assert list(original.delivered(*position, 30, 8)) == list(
        range(24 if position[0] else 8 * position[1]))  # full batches of the first 30


@pytest.mark.parametrize("position", [(0, 3), (2, 2)])
def test_the_files_delivered_hold_those_the_batches_took_from_a_folder(tmp_path, position):
    """Every file the batches took, and beyond them only unusable files and, of
    each epoch before, its files past the last full batch (fewer than a batch)."""
    for i in range(30):
        fakes.write_image(str(tmp_path / f"img_{i:02d}.png"), np.full((20, 20), 8 * i))
    for i in range(5):
        (tmp_path / f"img_{i:02d}_junk.png").write_bytes(b"junk")
    source = folder(tmp_path)
    by_value = {8 * i: source.files.index(str(tmp_path / f"img_{i:02d}.png")) for i in range(30)}
    index_of = lambda batch: [by_value[int(v)] for v in  # noqa: E731
                              np.rint((batch[:, 0, 0, 0] + 1) * 127.5)]
    taken = _taken_by_batches(source, *position, 20, 4, index_of)
    delivered = set(source.delivered(*position, 20, 4))
    unusable = {source.files.index(str(path)) for path in tmp_path.glob("*_junk.png")}
    assert taken <= delivered and len(delivered - taken - unusable) <= 3 * position[0]
    assert taken  # the batches took something to compare with


def test_what_a_data_set_holds_is_told_by_its_examples_not_its_place(tmp_path):
    """`contents` (kept per start in flags_history.jsonl): the same files under
    a moved folder are the same; other pixels at the same count, or a file
    renamed, are not."""
    def of_idx(directory, reader):
        images, labels = (data.load_idx_dataset(directory) if reader is data.IdxData
                          else data.load_idx_split(directory))
        return reader(images, labels).contents

    for reader in (data.IdxData, data.ScriptIdxData):
        first = of_idx(fakes.make_mnist(str(tmp_path / "a"), 20, 5, seed=0), reader)
        again = of_idx(fakes.make_mnist(str(tmp_path / "b"), 20, 5, seed=0, gz=False), reader)
        other = of_idx(fakes.make_mnist(str(tmp_path / "c"), 20, 5, seed=1), reader)
        assert first == again and other["examples"] == first["examples"] and other != first
    fakes.make_image_folder(str(tmp_path / "faces"), count=5, size=(20, 20))
    first = folder(tmp_path / "faces", folder=str(tmp_path / "faces")).contents
    os.rename(tmp_path / "faces", tmp_path / "moved")
    assert folder(tmp_path / "moved", folder=str(tmp_path / "moved")).contents == first
    os.rename(tmp_path / "moved" / "img_004.png", tmp_path / "moved" / "img_005.png")
    renamed = folder(tmp_path / "moved", folder=str(tmp_path / "moved")).contents
    assert renamed["examples"] == 5 and renamed != first


def test_no_pipeline_waits_for_tf_datas_tuner_at_an_epochs_end(tmp_path):
    """Deleting an autotuned iterator waited for the tuner's thread: each
    epoch's end (a new iterator each epoch) stalled for up to seconds, at
    random (bench/RESULTS.md, "An epoch's end"). The stall is measured there;
    here, that no epoch's pipeline is tuned, and each still delivers."""
    images, labels = data.load_idx_dataset(fakes.make_mnist(str(tmp_path / "m"), 20, 4))
    fakes.make_image_folder(str(tmp_path / "f"), count=4, size=(20, 20))
    pipelines = {"idx": (data.IdxData(images, labels).epoch_dataset(0, 24, 8), 3),
                 "scripts'": (data.ScriptIdxData(images, labels).epoch_dataset(0, 24, 8), 3),
                 "folder": (folder(tmp_path / "f").epoch_dataset(0, 4, 2), 2)}
    for name, (pipeline, batches) in pipelines.items():
        assert pipeline.options().autotune.enabled is False, name
        assert len(list(pipeline)) == batches, name
