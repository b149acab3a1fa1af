"""Sample grids as PNG files: numpy and Pillow only, so tests can check pixels.

Fixes two bugs of the original's `save_images`: it mapped every generator
output with (x + 1) / 2, which turns the MNIST model's [0, 1] sigmoid output
into washed-out grey [0.5, 1]; and its grid asserted a square batch size.
"""

import math

import numpy as np
from PIL import Image
from PIL import PngImagePlugin

from dcgan_tf import files

# The PNG text chunk that says where a picture comes from (the run, the
# checkpoint and its iteration): `Image.open(path).text[SOURCE_KEY]`.
SOURCE_KEY = "Source"


def save_png(picture, path, source=None):
    """Writes a Pillow image as a PNG, whole or not at all, with `source` (where
    it comes from) in its text chunk."""
    info = None
    if source:
        info = PngImagePlugin.PngInfo()
        info.add_text(SOURCE_KEY, source)
    with files.written_whole(path) as partial:  # a killed run never leaves half a PNG
        picture.save(partial, format="PNG", pnginfo=info)
    return path

def grid_shape(num_images):
    """(rows, cols) for `num_images`: the original's floor/ceil of sqrt when that
    fits exactly (64 -> 8x8), otherwise enough rows to hold them all."""
    rows = max(1, int(math.floor(math.sqrt(num_images))))
    cols = int(math.ceil(num_images / rows))
    return rows, cols


def to_uint8(images, value_range):
    """Maps floats in `value_range` (lo, hi) to uint8 [0, 255], clipping outliers."""
    lo, hi = value_range
    scaled = (np.asarray(images, np.float64) - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def merge(images, rows, cols):
    """Tiles [N, H, W, C] images row-major into one [rows*H, cols*W, C] image;
    cells past N stay black, as image i goes to row i // cols, column i % cols."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if n > rows * cols:
        raise ValueError(f"{n} images don't fit a {rows}x{cols} grid.")
    grid = np.zeros((rows * h, cols * w, c), images.dtype)
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        grid[row * h:(row + 1) * h, col * w:(col + 1) * w] = image
    return grid


def save_grid(images, path, value_range, shape=None, source=None):
    """Writes [N, H, W, C] images in `value_range` as one PNG grid; returns the path."""
    rows, cols = shape or grid_shape(len(images))
    grid = merge(to_uint8(images, value_range), rows, cols)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    return save_png(Image.fromarray(grid), path, source)


def _font():
    from PIL import ImageFont  # noqa: PLC0415

    return ImageFont.load_default()


def numbered_grid(images, path, value_range, shape=None, source=None):
    """A grid like save_grid's with each image's index written in its corner (a
    dark box under light text), so a user can name images by number."""
    from PIL import ImageDraw  # noqa: PLC0415

    rows, cols = shape or grid_shape(len(images))
    tiles = to_uint8(images, value_range)
    height, width = tiles.shape[1:3]
    grid = merge(tiles, rows, cols)
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).convert("RGB")
    draw, font = ImageDraw.Draw(picture), _font()
    for index in range(len(tiles)):
        row, col = divmod(index, cols)
        left, top = col * width, row * height
        box = draw.textbbox((left + 1, top), str(index), font=font)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((left + 1, top), str(index), fill=(255, 255, 0), font=font)
    return save_png(picture, path, source)


def captioned_rows(rows, captions, value_range, path, gap=2, caption_width=None, source=None):
    """Rows of images (each a list of [H, W, C] arrays in `value_range`, None for an
    empty cell) drawn one under another on a grey ground, each with its caption
    at the left; written as a PNG. Returns the path."""
    from PIL import ImageDraw  # noqa: PLC0415

    font = _font()
    cells = [cell for row in rows for cell in row if cell is not None]
    height, width = np.asarray(cells[0]).shape[:2]
    if caption_width is None:
        caption_width = 6 + max((int(font.getlength(text)) for text in captions), default=0)
    columns = max(len(row) for row in rows)
    canvas = Image.new("RGB", (caption_width + columns * (width + gap),
                               len(rows) * (height + gap)), (96, 96, 96))
    draw = ImageDraw.Draw(canvas)
    for r, (row, caption) in enumerate(zip(rows, captions)):
        top = r * (height + gap)
        draw.text((3, top + height // 2 - 5), caption, fill=(255, 255, 255), font=font)
        for c, cell in enumerate(row):
            if cell is None:
                continue
            tile = to_uint8(np.asarray(cell), value_range)
            tile = Image.fromarray(tile[..., 0] if tile.shape[-1] == 1 else tile).convert("RGB")
            canvas.paste(tile, (caption_width + c * (width + gap), top))
    return save_png(canvas, path, source)
