"""The original's visualizations (utils.py `visualize`), fixed, plus two for
conditional models; numpy and Pillow only.

Every option honours the run's z distribution and feeds labels to conditional
models (the original's options 3 and 4 didn't), works for any batch size, and
writes under the run's samples folder. The sweeps cover the distribution's
range (U[-1, 1], U[0, 1], or +-2 sigma for N(0, 1)) rather than the original's
fixed [0, 1).

  0  a grid of random samples                     test_<time>.png
  1  one grid per z dimension, that dimension swept   test_arange_<dim>.png
  2  random z with one dimension swept, as GIFs   test_gif_<dim>.gif (random dims;
                                                  test_gif_random_<dim>.gif under "all")
  3  a sweep of each dimension from z = 0, as GIFs    test_gif_<dim>.gif
  4  option 3 plus one GIF of all dimensions at once  test_gif_merged.gif
  class_grid            one row per label, the same z down each column
  label_interpolation   one-hot y moving smoothly 0 -> 1 -> ... -> 9 -> 0 at fixed z

and the DCGAN paper's (experiments/):
  walk                  rows of walks through --walk_points random z    walk.png, walk.gif
  arithmetic            a numbered grid of samples to pick exemplars from
                        (arithmetic_samples.png); with --arithmetic, the
                        concepts' means, A - B + C and its neighbours    arithmetic.png
  guided_backprop       what D's last conv features see in real images
                        (needs D and the data: commands/experiments.py)  guided_backprop.png

Options 2, 3 and 4 write the original's names, the same ones: --visualize_option
all (ours) gives option 2's GIFs names of their own and runs option 4 for 3,
so that no option's files replace another's.
"""

import os
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from dcgan_tf import choices
from dcgan_tf import files
from dcgan_tf import images
from dcgan_tf import latent
from dcgan_tf.experiments import latent_space

# The options drawn from G alone (Visualizer), then those that read D too.
GENERATOR_OPTIONS = choices.GENERATOR_VISUALIZATIONS
DISCRIMINATOR_OPTIONS = choices.DISCRIMINATOR_VISUALIZATIONS
OPTIONS = choices.VISUALIZATIONS
CONDITIONAL_OPTIONS = ("class_grid", "label_interpolation")  # they need labels
# walk: this many walks (one per label for conditional models), each leg drawn
# in WALK_PNG_STEPS steps in the picture and WALK_GIF_STEPS frames in the GIF.
WALK_ROWS = 10
WALK_PNG_STEPS = 4
WALK_GIF_STEPS = 16
WALK_FRAME_MS = 60
# arithmetic: the numbered samples exemplars are picked from, and the result's
# neighbours (the paper's eight).
ARITHMETIC_POOL = 100
ARITHMETIC_NEIGHBOURS = 8


def walk_bytes(model_config, walk_points):
    """About the memory `walk` holds at its peak: per image of the GIF 34 bytes a
    pixel (decoded float32 batches and their concatenation, the merged frames,
    their array, to_uint8's float64 and uint8, Pillow's frames; measured: 5.0 GB
    above start-up for 1,000 points of 28x28 images), of the picture 18, and
    each image's z (float64)."""
    pixels = model_config.output_height * model_config.output_width * model_config.c_dim
    columns = (walk_points - 1) * WALK_PNG_STEPS + 1
    frames = walk_points * WALK_GIF_STEPS
    return WALK_ROWS * (frames * (34 * pixels + 8 * model_config.z_dim)
                        + columns * (18 * pixels + 8 * model_config.z_dim))


def frame_ms(total_ms, frames):
    """A GIF frame time that spreads `total_ms` over `frames`: GIFs store delays in
    10 ms units, and browsers slow anything under 20 ms down to 100 ms."""
    return max(20, total_ms // frames // 10 * 10)


# Frame time of the sweeps, as the original's make_gif(duration=2) over 64 frames.
GIF_FRAME_MS = frame_ms(2000, 64)


def sweep_values(z_dist, count):
    """`count` values spanning the prior's range, low to high."""
    low, high = {"uniform_signed": (-1.0, 1.0), "uniform_unsigned": (0.0, 1.0),
                 "normal01": (-2.0, 2.0)}[z_dist]
    return np.linspace(low, high, count, dtype=np.float32)


def sample_prior(z_rng, z_dist, count, z_dim):
    """z [count, z_dim] as numpy, drawn as training draws it (latent.sample_latent)."""
    return latent.sample_latent(z_rng, z_dist, count, z_dim).numpy()


def save_gif(frames, path, value_range, frame_time_ms=GIF_FRAME_MS, source=None):
    """Writes images [T, H, W, C] (or grids) in `value_range` as a looping GIF,
    with `source` (where it comes from) as its comment."""
    pictures = [Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
                for frame in images.to_uint8(np.asarray(frames), value_range)]
    with files.written_whole(path) as partial:
        pictures[0].save(partial, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=frame_time_ms, loop=0, comment=(source or "").encode())
    return path


class Visualizer:
    """Runs the visualizations for one generator.

    `sample(z, y)` returns images [N, H, W, C] in `model_config.output_range`;
    y is None for unconditional models."""

    def __init__(self, sample, model_config, z_dist, batch_size, directory, seed=0, *,
                 walk_points=9, walk_interpolation="auto", arithmetic="", run_seed=None,
                 source=None, random_sweeps_apart=False):
        self.sample = sample
        self.config = model_config
        self.z_dist = z_dist
        self.batch_size = batch_size
        self.directory = directory
        self.rng = np.random.default_rng(seed)                # labels, dimensions
        self.z_rng = tf.random.Generator.from_seed(seed)     # z
        self.walk_points = walk_points
        self.walk_interpolation = walk_interpolation
        self.arithmetic_text = arithmetic
        # The numbered samples of `arithmetic` stay the same for a run: its seed.
        self.run_seed = seed if run_seed is None else run_seed
        self.source = source  # where the pictures come from, written into each
        # Option 2's GIFs under names option 4's do not take (--visualize_option all).
        self.random_gif_name = "test_gif_random_{}.gif" if random_sweeps_apart else \
            "test_gif_{}.gif"

    def _labels(self, count, label=None):
        if not self.config.conditional:
            return None
        if label is None:  # a different random label per image, as the original
            label = self.rng.integers(0, self.config.y_dim, count)
        return np.eye(self.config.y_dim, dtype=np.float32)[np.broadcast_to(label, (count,))]

    def _sample(self, z, y):
        return np.asarray(self.sample(z, y))

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _gif(self, frames, name, frame_time_ms=GIF_FRAME_MS):
        return save_gif(frames, self._path(name), self.config.output_range, frame_time_ms,
                        source=self.source)

    def _grid(self, samples, name):
        return images.save_grid(samples, self._path(name), self.config.output_range,
                                source=self.source)

    def _sweep(self, base, dim):
        """`base` z [B, Z] with dimension `dim` swept across the prior's range."""
        z = np.array(base, np.float32)
        z[:, dim] = sweep_values(self.z_dist, len(z))
        return z

    def option_0(self):
        z = sample_prior(self.z_rng, self.z_dist, self.batch_size, self.config.z_dim)
        name = "test_%s.png" % time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return [self._grid(self._sample(z, self._labels(self.batch_size)), name)]

    def option_1(self):
        written = []
        for dim in range(self.config.z_dim):
            base = sample_prior(self.z_rng, self.z_dist, self.batch_size, self.config.z_dim)
            samples = self._sample(self._sweep(base, dim), self._labels(self.batch_size))
            written.append(self._grid(samples, f"test_arange_{dim}.png"))
        return written

    def option_2(self):
        written = []
        for dim in self.rng.integers(0, self.config.z_dim, self.config.z_dim):
            point = sample_prior(self.z_rng, self.z_dist, 1, self.config.z_dim) * 0.2
            z = self._sweep(np.repeat(point, self.batch_size, axis=0), dim)
            label = self.rng.integers(0, max(self.config.y_dim, 1))  # one digit per GIF
            samples = self._sample(z, self._labels(self.batch_size, label))
            written.append(self._gif(samples, self.random_gif_name.format(dim)))
        return written

    def _sweeps_from_zero(self):
        label = self.rng.integers(0, max(self.config.y_dim, 1))
        y = self._labels(self.batch_size, label)
        zeros = np.zeros((self.batch_size, self.config.z_dim), np.float32)
        for dim in range(self.config.z_dim):
            yield dim, self._sample(self._sweep(zeros, dim), y)

    def option_3(self):
        return [self._gif(samples, f"test_gif_{dim}.gif")
                for dim, samples in self._sweeps_from_zero()]

    def option_4(self):
        written, sweeps = [], []
        for dim, samples in self._sweeps_from_zero():
            sweeps.append(samples)
            written.append(self._gif(samples, f"test_gif_{dim}.gif"))
        rows, cols = images.grid_shape(self.config.z_dim)
        frames = [images.merge(np.stack([sweep[t] for sweep in sweeps]), rows, cols)
                  for t in list(range(self.batch_size)) + list(range(self.batch_size - 1, -1, -1))]
        written.append(self._gif(frames, "test_gif_merged.gif",
                                 frame_time_ms=frame_ms(8000, len(frames))))
        return written

    def _require_conditional(self, option):
        if not self.config.conditional:
            raise ValueError(f"--visualize_option={option} needs a conditional model"
                             " (one trained with labels, like MNIST).")

    def class_grid(self, columns=10):
        """Row k shows label k; column j uses the same z in every row."""
        self._require_conditional("class_grid")
        y_dim = self.config.y_dim
        z = sample_prior(self.z_rng, self.z_dist, columns, self.config.z_dim)
        z = np.tile(z, (y_dim, 1))                                   # [Y * cols, Z]
        y = np.eye(y_dim, dtype=np.float32)[np.repeat(np.arange(y_dim), columns)]
        return [images.save_grid(self._sample(z, y), self._path("class_grid.png"),
                                 self.config.output_range, shape=(y_dim, columns),
                                 source=self.source)]

    def label_interpolation(self, columns=8, steps=8):
        """At fixed z (one per column), y moves linearly from each label to the next."""
        self._require_conditional("label_interpolation")
        y_dim = self.config.y_dim
        z = sample_prior(self.z_rng, self.z_dist, columns, self.config.z_dim)
        eye = np.eye(y_dim, dtype=np.float32)
        frames = []
        for label in range(y_dim):
            for t in np.arange(steps) / steps:
                y = (1 - t) * eye[label] + t * eye[(label + 1) % y_dim]
                frames.append(images.merge(self._sample(z, np.tile(y, (columns, 1))), 1, columns))
        return [self._gif(frames, "label_interpolation.gif", frame_time_ms=80)]

    def _decode(self, z, labels=None):
        """G's images of z [N, Z] (labels int [N] for conditional models), in
        batches of batch_size (the last one padded: one traced shape)."""
        z = np.asarray(z, np.float32)
        outputs = []
        for start in range(0, len(z), self.batch_size):
            rows = z[start:start + self.batch_size]
            pad = self.batch_size - len(rows)
            padded = np.concatenate([rows, np.zeros((pad, rows.shape[1]), np.float32)])
            y = None
            if self.config.conditional:
                chunk = np.concatenate([labels[start:start + self.batch_size],
                                        np.zeros(pad, np.int64)])
                y = np.eye(self.config.y_dim, dtype=np.float32)[chunk]
            outputs.append(self._sample(padded, y)[:len(rows)])
        return np.concatenate(outputs)

    def _row_labels(self, rows):
        return np.arange(rows) % max(self.config.y_dim, 1)

    def walk(self):
        """WALK_ROWS walks, each through walk_points random z (for conditional models
        row r keeps label r): walk.png, a row per walk with every point and the
        steps between; walk.gif, all walks at once, looping back to the start."""
        kind = latent_space.interpolation_for(self.walk_interpolation, self.z_dist)
        points = sample_prior(self.z_rng, self.z_dist, WALK_ROWS * self.walk_points,
                              self.config.z_dim).reshape(WALK_ROWS, self.walk_points, -1)
        labels = self._row_labels(WALK_ROWS)
        paths = np.stack([latent_space.walk(p, WALK_PNG_STEPS, kind) for p in points])
        columns = paths.shape[1]
        grid = self._decode(paths.reshape(-1, paths.shape[-1]), np.repeat(labels, columns))
        png = images.save_grid(grid, self._path("walk.png"), self.config.output_range,
                               shape=(WALK_ROWS, columns), source=self.source)
        loops = np.stack([latent_space.walk(p, WALK_GIF_STEPS, kind, closed=True)
                          for p in points])                       # [rows, frames, Z]
        frames_count = loops.shape[1]
        decoded = self._decode(loops.reshape(-1, loops.shape[-1]),
                               np.repeat(labels, frames_count))
        decoded = decoded.reshape(WALK_ROWS, frames_count, *decoded.shape[1:])
        rows, cols = (2, WALK_ROWS // 2)
        frames = [images.merge(decoded[:, t], rows, cols) for t in range(frames_count)]
        gif = self._gif(frames, "walk.gif", frame_time_ms=WALK_FRAME_MS)
        return [png, gif]

    def arithmetic_pool(self):
        """The numbered samples: z [ARITHMETIC_POOL, Z] from the run's seed, and their
        labels (0, 1, ..., 9, 0, ... for conditional models, else None)."""
        rng = tf.random.Generator.from_seed(self.run_seed)
        z = sample_prior(rng, self.z_dist, ARITHMETIC_POOL, self.config.z_dim)
        return z, (self._row_labels(ARITHMETIC_POOL) if self.config.conditional else None)

    def arithmetic(self):
        """arithmetic_samples.png (the numbered samples); with an expression,
        arithmetic.png: each concept's exemplars and the decoded mean of their z,
        then the result of the signed sum and its eight neighbours."""
        z_pool, pool_labels = self.arithmetic_pool()
        pool = self._decode(z_pool, pool_labels)
        written = [images.numbered_grid(pool, self._path("arithmetic_samples.png"),
                                        self.config.output_range, shape=(10, 10),
                                        source=self.source)]
        if not self.arithmetic_text:
            return written
        expression = latent_space.parse_arithmetic(self.arithmetic_text, ARITHMETIC_POOL)
        means, result = latent_space.evaluate(z_pool, expression)
        first = [term.exemplars[0] for term in expression.terms]
        mean_labels = pool_labels[first] if self.config.conditional else None
        result_label = None
        if self.config.conditional:
            chosen = expression.label if expression.label is not None else pool_labels[first[0]]
            result_label = np.full(1 + ARITHMETIC_NEIGHBOURS, chosen)
        near = latent_space.neighbours(result, ARITHMETIC_NEIGHBOURS,
                                       np.random.default_rng(self.run_seed))
        decoded_means = self._decode(means, mean_labels)
        decoded_results = self._decode(np.concatenate([result[None], near]), result_label)
        rows, captions = [], []
        for index, (term, mean) in enumerate(zip(expression.terms, decoded_means)):
            rows.append([pool[n] for n in term.exemplars] + [None, mean])
            sign = "-" if term.sign < 0 else ("+" if index else " ")
            captions.append(f"{sign} {chr(ord('A') + index)}")
        rows.append(list(decoded_results[:1]) + [None] + list(decoded_results[1:]))
        captions.append("=")
        written.append(images.captioned_rows(rows, captions, self.config.output_range,
                                             self._path("arithmetic.png"), source=self.source))
        return written

    def run(self, option):
        """Runs one option drawn from G alone (GENERATOR_OPTIONS); returns the files
        written."""
        if option not in GENERATOR_OPTIONS:
            raise ValueError(f"Unknown --visualize_option={option!r} for the generator; use"
                             f" one of {', '.join(GENERATOR_OPTIONS)}.")
        method = getattr(self, option if not option.isdigit() else f"option_{option}")
        return method()
