"""Real images for the experiments, as the run's networks see them, and the
labelled data the linear probe reads.

A model sees images at its own size and channels, in its generator's value
range: carpedm20's conditional model in [0, 1], everything else in [-1, 1].
Images of another size are resized with Pillow's bilinear filter (as both the
original's image folders and the scripts' torchvision Resize do), grayscale is
repeated to RGB for a colour model and RGB turned to luminance for a grayscale one.
"""

import os

import numpy as np
from PIL import Image

from dcgan_tf import data


def _resized(image, height, width, channels):
    picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    picture = picture.convert("L" if channels == 1 else "RGB")
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.BILINEAR)
    array = np.asarray(picture, np.uint8)
    return array[..., None] if array.ndim == 2 else array


def to_model_input(images, model_config):
    """uint8 images [N, h, w, c] -> float32 [N, H, W, C] at the model's image
    shape, in its value range."""
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    height, width, channels = model_config.image_shape
    if images.shape[1:] != (height, width, channels):
        images = np.stack([_resized(image, height, width, channels) for image in images])
    low, high = model_config.output_range
    return (images.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)


class LabelledSplits:
    """A labelled data set's training and test images (uint8 [N, H, W, C]) and
    labels (int64 [N]), and its class names."""

    def __init__(self, train_images, train_labels, test_images, test_labels, classes):
        self.train_images, self.train_labels = train_images, np.asarray(train_labels, np.int64)
        self.test_images, self.test_labels = test_images, np.asarray(test_labels, np.int64)
        self.classes = list(classes)


def labelled_folder(directory, image_shape):
    """A folder of `train/<class>/<image>` and `test/<class>/<image>` (the usual
    layout of labelled image folders), each image read at `image_shape`."""
    splits = {}
    for split in ("train", "test"):
        root = os.path.join(directory, split)
        if not os.path.isdir(root):
            raise data.DataError(
                f"{directory} has no {split}/ folder: a labelled image folder holds"
                " train/<class>/<images> and test/<class>/<images>.")
        splits[split] = sorted(name for name in os.listdir(root)
                               if os.path.isdir(os.path.join(root, name)))
    if splits["train"] != splits["test"] or len(splits["train"]) < 2:
        raise data.DataError(
            f"{directory}'s train/ and test/ must hold the same class folders, at least two;"
            f" found {splits['train']} and {splits['test']}.")
    classes = splits["train"]
    height, width, channels = image_shape
    arrays = []
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(classes):
            files, _ = data.list_image_files(os.path.join(directory, split, name), "*")
            for path in files:
                try:
                    images.append(data.load_image_file(path, channels, False, height, width,
                                                       height, width))
                except data.UnusableImage:
                    continue
                labels.append(label)
        if not images:
            raise data.DataError(f"{os.path.join(directory, split)} holds no readable images.")
        arrays += [np.stack(images), np.array(labels)]
    return LabelledSplits(*arrays, classes)


def labelled_idx(directory):
    """An MNIST-style data set's training and test splits, as its IDX files hold them."""
    train = data.load_idx_split(directory, "train")
    test = data.load_idx_split(directory, "test")
    return LabelledSplits(train[0][..., None], train[1], test[0][..., None], test[1],
                          [str(label) for label in range(data.IDX_CLASSES)])
