"""Generate on demand: N images (and balanced labels) from a generator, batch
by batch, streamed into an .npz and optionally PNG files: memory does not grow
with N, the free space needed is checked first, a progress bar shows the rate
and what is left, and the files appear whole or not at all."""

import contextlib
import json
import os
import sys
import zipfile

import numpy as np
import tensorflow as tf
import tqdm
from PIL import Image

from dcgan_tf import checkpoints
from dcgan_tf import files
from dcgan_tf import images
from dcgan_tf import interrupts
from dcgan_tf import visualize

# Conditional labels are balanced within each block of this many images (a
# multiple of the label count), each block in its own seeded order: N labels
# need no more memory than a block, and up to this many the order is that of
# one permutation of all N, as before streaming.
LABEL_BLOCK = 10_000


def _label_blocks(count, y_dim, seed):
    """Yields the labels of `count` images block by block: each class count //
    y_dim times or once more overall (every full block is balanced, and the
    last, partial one is balanced as `count` is)."""
    rng = np.random.default_rng(seed)
    block = max(y_dim, LABEL_BLOCK // y_dim * y_dim)
    for start in range(0, count, block):
        yield rng.permutation(np.arange(min(block, count - start)) % y_dim)


def checked_finite(images, source):
    """`images`, refused where any value is NaN or inf (nothing made of them is
    written): `source` names the generator."""
    if not np.isfinite(images).all():
        raise checkpoints.NonFiniteStateError(
            f"The generator of {source} made images holding NaN or inf; nothing made of them"
            " is written. Its weights are finite, so its activations overflowed: train it"
            " again with a lower --learning_rate.")
    return images


def labels_of(model_config, count, seed=0):
    """Every label `generated_batches` gives (int64 [count]), or None."""
    if not model_config.conditional:
        return None
    return np.concatenate(list(_label_blocks(count, model_config.y_dim, seed)))


def generated_batches(sample, model_config, count, z_dist, batch_size=64, seed=0):
    """Yields (images float32 [b, H, W, C] in the model's range, labels int [b] or
    None) for `count` images, `batch_size` at a time."""
    z_rng = tf.random.Generator.from_seed(seed)
    blocks = (_label_blocks(count, model_config.y_dim, seed) if model_config.conditional
              else None)
    pending = np.zeros([0], np.int64)
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        z = visualize.sample_prior(z_rng, z_dist, size, model_config.z_dim)
        labels = y = None
        if blocks is not None:
            while len(pending) < size:
                pending = np.concatenate([pending, next(blocks)])
            labels, pending = pending[:size], pending[size:]
            y = np.eye(model_config.y_dim, dtype=np.float32)[labels]
        yield checked_finite(np.asarray(sample(z, y), np.float32), "this run"), labels


def generate(sample, model_config, count, z_dist, batch_size=64, seed=0):
    """All of `generated_batches` in memory: (images [count, H, W, C], labels or None)."""
    batches = list(generated_batches(sample, model_config, count, z_dist, batch_size, seed))
    labels = None if batches[0][1] is None else np.concatenate([b[1] for b in batches])
    return np.concatenate([b[0] for b in batches]), labels


def bytes_needed(model_config, count, pngs):
    """An upper bound on what `write` puts on disk: the .npz uncompressed (a
    generator's floats barely compress), and a PNG per image at most its raw
    pixels plus a header, in whole 4 KiB blocks."""
    pixels = model_config.output_height * model_config.output_width * model_config.c_dim
    total = count * (4 * pixels + 8) + 2**20
    if pngs:
        total += count * -(-(pixels + 1024) // 4096) * 4096
    return total


def _write_npy_member(archive, name, shape, dtype, chunks):
    """One array of an .npz written chunk by chunk (np.load reads it as usual)."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": tuple(shape)})
        for chunk in chunks:
            member.write(np.ascontiguousarray(chunk, dtype).tobytes())


def write(sample, model_config, count, z_dist, batch_size, seed, npz_path, png_dir=None,
          progress=True, provenance=None):
    """Streams `count` generated images into `npz_path` (`images` [N, H, W, C],
    `labels` [N] for conditional models, `value_range`, and `provenance`: where
    they come from, as JSON text) and, with `png_dir`,
    one PNG each (000123.png, or 000123_label7.png). Both are written under
    temporary names and renamed when complete; SIGINT / SIGTERM, a full disk or
    any error remove them. Returns (npz_path, png_dir)."""
    value_range = model_config.output_range
    shape = (count, model_config.output_height, model_config.output_width, model_config.c_dim)
    bar = tqdm.tqdm(total=count, unit="img", desc="generate", file=sys.stderr,
                    disable=not progress, mininterval=1.0)
    with interrupts.raised(f"writing {count} generated images"), bar, \
            files.written_whole(npz_path) as partial_npz, \
            (files.written_whole(png_dir) if png_dir else contextlib.nullcontext()) as partial_pngs:
        if partial_pngs:
            os.makedirs(partial_pngs)

        def image_batches():
            done = 0
            for generated, labels in generated_batches(sample, model_config, count, z_dist,
                                                       batch_size, seed):
                if partial_pngs:
                    _write_pngs(partial_pngs, generated, labels, value_range, done)
                done += len(generated)
                bar.update(len(generated))
                yield generated

        with zipfile.ZipFile(partial_npz, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            _write_npy_member(archive, "images", shape, np.float32, image_batches())
            if model_config.conditional:
                _write_npy_member(archive, "labels", (count,), np.int64,
                                  _label_blocks(count, model_config.y_dim, seed))
            _write_npy_member(archive, "value_range", (2,), np.float32,
                              [np.asarray(value_range, np.float32)])
            if provenance:
                text = np.asarray(json.dumps(provenance, sort_keys=True))
                _write_npy_member(archive, "provenance", (), text.dtype, [text])
    return npz_path, png_dir


def _write_pngs(directory, generated, labels, value_range, first):
    for i, image in enumerate(images.to_uint8(generated, value_range)):
        suffix = "" if labels is None else f"_label{labels[i]}"
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            os.path.join(directory, f"{first + i:06d}{suffix}.png"))
