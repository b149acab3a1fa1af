"""Checkpoints written by the original TF1 code, loaded into our models.

The original saves with `tf.train.Saver`: name-based keys such as
`generator/g_h0_lin/Matrix`, Adam slots `<var>/Adam` (first moment) and
`<var>/Adam_1` (second moment), and `beta1_power`/`beta2_power` for D's Adam
(built first) and `beta1_power_1`/`beta2_power_1` for G's. Our variables carry
exactly those names, so loading is a by-name copy; the model's dimensions are
read off the variables' shapes, so no data set is needed.
"""

import math
import os
import re

import numpy as np
import tensorflow as tf

from dcgan_tf.networks import carpedm20

# Which optimizer owns which beta powers in the original graph.
OPTIMIZER_POWER_NAMES = {"d_optimizer": ("beta1_power", "beta2_power"),
                         "g_optimizer": ("beta1_power_1", "beta2_power_1")}


class CheckpointMismatchError(ValueError):
    """The checkpoint doesn't fit the model; the message names variable and shapes."""


def iteration_of(checkpoint_path):
    """The original's counter, from the file name ('model.b64-1200' -> 1200)."""
    match = re.search(r"-(\d+)$", os.path.basename(checkpoint_path))
    return int(match.group(1)) if match else 0


def is_tf1_checkpoint(checkpoint_path):
    shapes = dict(tf.train.list_variables(checkpoint_path))
    return "generator/g_h0_lin/Matrix" in shapes and "_CHECKPOINTABLE_OBJECT_GRAPH" not in shapes


def _output_size(size_hint, reduced, halvings):
    """The output size whose `halvings` SAME stride-2 reductions give `reduced`:
    the hint when it does, else the largest such size (reduced * 2**halvings)."""
    if size_hint:
        size = size_hint
        for _ in range(halvings):
            size = carpedm20.conv_out_size_same(size)
        if size == reduced:
            return size_hint
    return reduced * 2 ** halvings


def _projected_size(checkpoint_path, projection, output_height, output_width, reduce, scale):
    """(height, width) of the grid G's first layer projects to, `projection`
    positions in all: those of the output size given (its width the height's
    where none is given, as the flags' default), which must make exactly so
    many, else the square that does (`reduce`: output size -> grid size;
    `scale`: about how many pixels a grid position becomes)."""
    side = math.isqrt(projection)
    square = side * side == projection
    if output_height:
        width = output_width or output_height
        if reduce(output_height) * reduce(width) == projection:
            return reduce(output_height), reduce(width)
        trained = (f"a {side}x{side} grid (images of about {scale * side}x{scale * side})"
                   if square else f"a grid of {projection} positions")
        raise CheckpointMismatchError(
            f"{checkpoint_path} was not trained at {output_height}x{width}: its generator"
            f" projects to {trained}, and {output_height}x{width} makes a"
            f" {reduce(output_height)}x{reduce(width)} one. Pass the --output_height (and"
            " --output_width) it was trained at, or leave them out to take the checkpoint's.")
    if not square:
        raise CheckpointMismatchError(
            f"{checkpoint_path} projects to {projection} positions, which no square image"
            " makes: pass the --output_height and --output_width it was trained at.")
    return side, side


def infer_model_config(checkpoint_path, output_height=None, output_width=None):
    """The ModelConfig that an original checkpoint's variable shapes imply.

    The output size given must make the checkpoint's projection (an error
    otherwise: a wrong one built a generator of other proportions that the
    same weights fit); without one, the square the projection makes (the
    conditional model's 4 * the 7x7 projection; the unconditional one's
    16 * its H/16 x W/16, the largest of the 16 sizes that fit)."""
    shapes = dict(tf.train.list_variables(checkpoint_path))
    if "generator/g_h0_lin/Matrix" not in shapes:
        raise CheckpointMismatchError(
            f"{checkpoint_path} is not a DCGAN checkpoint: it has no generator/g_h0_lin/Matrix.")
    conditional = "generator/g_h1_lin/Matrix" in shapes
    read = (("generator/g_h2/w", "generator/g_h3/w", "discriminator/d_h1_conv/w",
             "discriminator/d_h2_lin/Matrix") if conditional
            else ("generator/g_h4/w", "discriminator/d_h0_conv/w"))
    missing = [name for name in read if name not in shapes]
    if missing:
        raise CheckpointMismatchError(
            f"{checkpoint_path} lacks {', '.join(missing)}, which every"
            f" {'conditional' if conditional else 'unconditional'} DCGAN checkpoint of the"
            " original holds: it is damaged, or not the original's. Restore it, or pass"
            " another --checkpoint_dir.")
    if conditional:  # the MNIST model
        g_h2 = shapes["generator/g_h2/w"]          # [5, 5, 2gf, 2gf + y]
        gf2, y_dim = g_h2[2], g_h2[3] - g_h2[2]
        z_plus_y, gfc_dim = shapes["generator/g_h0_lin/Matrix"]
        projection = shapes["generator/g_h1_lin/Matrix"][1] // gf2  # s4h * s4w
        s4h, s4w = _projected_size(checkpoint_path, projection, output_height, output_width,
                                   lambda size: size // 4, 4)
        return carpedm20.ModelConfig(
            output_height=4 * s4h, output_width=4 * s4w,
            c_dim=shapes["generator/g_h3/w"][2], y_dim=y_dim, z_dim=z_plus_y - y_dim,
            gf_dim=gf2 // 2, df_dim=shapes["discriminator/d_h1_conv/w"][3] - y_dim,
            gfc_dim=gfc_dim, dfc_dim=shapes["discriminator/d_h2_lin/Matrix"][1])
    z_dim, units = shapes["generator/g_h0_lin/Matrix"]
    gf_dim = shapes["generator/g_h4/w"][3]
    projection = units // (gf_dim * 8)                      # s16h * s16w

    def sixteenth(size):
        for _ in range(4):
            size = carpedm20.conv_out_size_same(size)
        return size

    s16h, s16w = _projected_size(checkpoint_path, projection, output_height, output_width,
                                 sixteenth, 16)
    return carpedm20.ModelConfig(
        output_height=_output_size(output_height, s16h, 4),
        output_width=_output_size(output_width or output_height, s16w, 4),
        c_dim=shapes["generator/g_h4/w"][2], y_dim=0, z_dim=z_dim, gf_dim=gf_dim,
        df_dim=shapes["discriminator/d_h0_conv/w"][3], gfc_dim=1024, dfc_dim=1024)


def _assign_all(reader, shapes, targets, checkpoint_path):
    """Copies checkpoint values into {original name: variable}, checking shapes first
    so that a mismatch changes nothing."""
    for name, variable in targets.items():
        if name not in shapes:
            raise CheckpointMismatchError(f"{checkpoint_path} has no variable {name}"
                                          f" (expected shape {variable.shape.as_list()}).")
        if list(shapes[name]) != variable.shape.as_list():
            raise CheckpointMismatchError(
                f"Checkpoint variable {name} has shape {list(shapes[name])}, but the model built"
                f" from the flags expects {variable.shape.as_list()}. Pass the flags the"
                " checkpoint was trained with (or leave the model's shape to the checkpoint).")
    for name, variable in targets.items():
        variable.assign(np.asarray(reader.get_tensor(name), variable.dtype.as_numpy_dtype))


def load_into_models(checkpoint_path, generator, discriminator=None):
    """Copies G's (and D's) weights and batch-norm statistics from an original
    checkpoint."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    shapes = reader.get_variable_to_shape_map()
    modules = [m for m in (generator, discriminator) if m is not None]
    _assign_all(reader, shapes, carpedm20.variables_by_original_name(*modules), checkpoint_path)


def load_into_gan(checkpoint_path, gan):
    """Copies everything an original checkpoint holds into carpedm20's gan.GAN: weights,
    moving averages, both Adams' slots and beta powers, and the iteration counter
    (from the file name), so training continues where the original stopped.
    Returns the iteration."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    shapes = reader.get_variable_to_shape_map()
    targets = carpedm20.variables_by_original_name(gan.generator, gan.discriminator)
    has_optimizer_state = "beta1_power" in shapes
    if has_optimizer_state:
        for attribute, (beta1_name, beta2_name) in OPTIMIZER_POWER_NAMES.items():
            optimizer = getattr(gan, attribute)
            targets.update(optimizer.slots_by_original_name)
            targets[beta1_name] = optimizer.beta1_power
            targets[beta2_name] = optimizer.beta2_power
    _assign_all(reader, shapes, targets, checkpoint_path)
    iteration = iteration_of(checkpoint_path)
    gan.iteration.assign(iteration)
    return iteration
