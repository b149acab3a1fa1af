"""The data set a run's config names: found (a missing MNIST / Fashion-MNIST
downloaded, as keras.datasets does), loaded the way its system reads it, and
checked before anything is written; everything missing is an error naming the fix."""

import os
import re

from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import download
from dcgan_tf import files


def idx_dataset_directory(config, log=print):
    """The folder of an MNIST-style data set's IDX files; a missing one is
    downloaded (when --download), as keras.datasets does."""
    directory = data.idx_dataset_dir(config_lib.expand_path(config.data_dir), config.dataset)
    missing = data.find_idx_files(directory)[1]
    if not missing:
        return directory
    how = f"python download.py {config.dataset} --data_dir {config.data_dir}"
    if not config.download:
        raise data.DataError(
            f"{config.dataset} not found: {directory} lacks {', '.join(missing)}."
            f" Run `{how}`, or put the IDX files (plain or .gz) there.")
    blocking = files.file_in_the_way(directory)  # of the download: named, not a traceback
    if blocking:
        raise data.DataError(
            f"{config.dataset} is looked for, and downloaded, in {directory}, and {blocking} is"
            f" a file, not a folder. Pass --data_dir the folder that holds the data sets'"
            f" folders ({config.dataset}/ in it).")
    log(f" [*] {config.dataset} not found in {directory}; downloading it (as `{how}`)")
    try:
        return download.download_idx(config.dataset, config_lib.expand_path(config.data_dir))
    except download.DownloadError as error:
        raise data.DataError(f"{config.dataset} not found in {directory}, and the"
                             f" download failed. {error}") from error


def check_present(config, log=print):
    """That the data set the config names is there (a missing MNIST-style one
    fetched, when --download), without reading it: for test mode's actions
    that read it after test mode has written its grid."""
    if data.is_idx_dataset(config.dataset):
        idx_dataset_directory(config, log)
        return
    directory = os.path.join(config_lib.expand_path(config.data_dir), config.dataset)
    if not data.list_image_files(directory, config.input_fname_pattern)[0]:
        raise _no_files_error(config, directory)


def _no_files_error(config, directory):
    hint = {"mnist": " (MNIST is --dataset mnist)",
            "fashionmnist": " (Fashion-MNIST is --dataset fashion_mnist)",
            "celeba": f" (`python download.py celebA --data_dir {config.data_dir}` fetches"
                      " celebA)",
            "lsun": f" (`python download.py lsun --data_dir {config.data_dir}` fetches LSUN"
                    " bedrooms)"}.get(re.sub(r"[-_ ]", "", config.dataset.lower()), "")
    return data.DataError(
        f"No files match {os.path.join(directory, config.input_fname_pattern)!r}."
        + (_what_the_folder_holds(directory, hint) or
           f" Put images there, or point --data_dir/--dataset/--input_fname_pattern"
           f" at them{hint}."))


def load_training_data(config, system, log=print):
    """The data set named by the config, read as the run's system reads it (its
    `data`), checked before anything is written."""
    if data.is_idx_dataset(config.dataset):
        directory = idx_dataset_directory(config, log)
        try:
            if system.data == "scripts":  # the training split only, resized, in [-1, 1]
                images_u8, labels = data.load_idx_split(directory, "train")
                training_data = data.ScriptIdxData(
                    data.resize_like_torchvision(images_u8, config.output_height), labels,
                    seed=config.seed)
            else:  # the original's: train + test merged, shuffled once
                training_data = data.IdxData(*data.load_idx_dataset(directory))
        except data.DataError as error:
            raise data.DataError(
                f"{error} `python download.py {config.dataset} --data_dir {config.data_dir}`"
                " fetches it again (a file whose checksum is wrong is replaced).") from error
        log(f" [*] {config.dataset}: {training_data.num_examples} images from {directory}")
    else:
        directory = os.path.join(config_lib.expand_path(config.data_dir), config.dataset)
        files, repeats = data.list_image_files(directory, config.input_fname_pattern)
        if repeats:
            log(f" [!] {repeats} paths matching {config.input_fname_pattern!r} reach files"
                " already listed (through symlinked folders): each image is used once.")
        if not files:
            raise _no_files_error(config, directory)
        c_dim, failures = data.probe_image_folder(
            files, config.crop, config.input_height, config.input_width,
            needed=min(config.batch_size, config.train_examples_limit or len(files)))
        for path, reason in failures.items():
            log(f" [!] skipping {data.shown_path(path)}: {reason}")
        training_data = data.ImageFolderData(
            files, c_dim, config.crop, config.input_height, config.input_width,
            config.output_height, config.output_width, seed=config.seed, folder=directory)
        training_data.mark_unusable(failures)
        log(f" [*] {config.dataset}: {len(files)} files in {directory}, c_dim={c_dim}")
        probed = [f for f in files[:len(failures) + config.batch_size] if f not in failures]
        if c_dim == 1:
            _say_if_colour_is_trained_grayscale(probed, log)
        if not config.crop:
            _say_if_scaled_up(config, probed, log)
    if examples_per_epoch(config, training_data) < config.batch_size:
        raise data.DataError(
            f"The data set has {examples_per_epoch(config, training_data)} images (after"
            f" --train_size), fewer than --batch_size={config.batch_size}; pass a smaller"
            " --batch_size or add images.")
    return training_data


def _say_if_colour_is_trained_grayscale(probed, log):
    """A folder's channels are its first image's, as the original decides: a
    grayscale first image turns colour ones gray. Said, with the way out."""
    def is_colour(path):
        try:
            return data.channels_of(path) == 3
        except data.UnusableImage:  # beyond what the probe read: skipped when met
            return False

    colour = sum(map(is_colour, probed))
    if colour:
        log(f" [!] {data.shown_path(probed[0])}, the first image, is grayscale, so every image"
            f" is trained in grayscale (c_dim=1), as the original decides; {colour} of the first"
            f" {len(probed)} read are colour. To train in colour, convert the grayscale"
            " images to RGB, or leave them out with --input_fname_pattern.")


def _say_if_scaled_up(config, probed, log):
    """Images smaller than the output are scaled up to it (the original resizes
    every image to the output size): said, with the flags that train at their
    size instead."""
    largest = data.largest_image_size(probed)
    if largest is None or largest[0] >= config.output_height or \
            largest[1] >= config.output_width:
        return
    height, width = largest
    sizes = f"--output_height {height}" + (f" --output_width {width}" if width != height else "")
    log(f" [!] The images are at most {height}x{width} (the first {len(probed)} read),"
        f" smaller than the {config.output_height}x{config.output_width} output: each is"
        f" scaled up to it, as the original does. {sizes} trains at their size.")


def _what_the_folder_holds(directory, hint):
    """For a pattern that matched nothing: the folder missing, or the images it
    does hold and the --input_fname_pattern that reads them; None when it
    holds no image files at all."""
    if not os.path.isdir(directory):
        return (f" {directory} does not exist: make it and put images there, or point"
                f" --data_dir/--dataset at the folder that holds them{hint}.")
    top, below = data.image_suffixes_under(directory)
    found, where = (top, "") if top else (below, " in its subfolders")
    if not found:
        return None
    kinds = " and ".join(f"{count} {suffix}" for suffix, count in found.most_common(3))
    others = len(found) - 3
    kinds += f" (and {others} more kinds)" if others > 0 else ""
    prefix = "" if top else "**/"
    # One kind: its pattern; several: every file (what no image reader can read
    # is skipped and named, so '*' loses nothing but those).
    pattern = f"{prefix}*{next(iter(found))}" if len(found) == 1 else f"{prefix}*"
    return (f" {directory} holds {kinds} files{where}: pass"
            f" --input_fname_pattern '{pattern}'.")


def examples_per_epoch(config, training_data):
    return min(training_data.num_examples,
               config.train_examples_limit or training_data.num_examples)


def distinct_images(config, training_data):
    """The images a run trains on over its epochs: --train_size's first ones
    where every epoch walks one order (carpedm20's MNIST-style data), every
    image where each epoch draws its share anew (image folders, as the
    original reshuffles them, and the family's data sets)."""
    if training_data.draws_anew_each_epoch:
        return training_data.num_examples
    return examples_per_epoch(config, training_data)
