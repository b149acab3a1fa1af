"""Memory a flag can ask for, checked before it is asked: a size whose networks
or buffers cannot fit gets a message with the size it asks for, instead of
TensorFlow's ResourceExhaustedError (or the kernel's OOM killer) minutes in.

The networks' needs are measured, not restated: they are built in a graph of
their own (graph mode: variables and activations are shapes there, nothing is
allocated), their parameters and the forward pass's tensors counted.
"""

import functools

import numpy as np
import tensorflow as tf

from dcgan_tf import networks

# Per trained parameter: the weight, Adam's two moments (RMSprop's one, fewer)
# and its gradient, in float32.
TRAINING_BYTES_PER_PARAMETER = 16
FLOAT_BYTES = 4
GB = 1e9


class NotEnoughMemoryError(ValueError):
    """What was asked for needs more memory than this machine has free."""


def available_bytes():
    """Memory this process can still take: the kernel's MemAvailable, within the
    cgroup's limit where one is set; None where neither can be read."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            with open("/sys/fs/cgroup/memory.current") as f:
                found.append(int(limit) - int(f.read().strip()))
    except OSError:
        pass
    return min(found) if found else None


def gigabytes(count):
    """Bytes in GB, as a message shows them: 3.2, 48, 96,800."""
    value = count / GB
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def check_fits(needed, what, fix):
    """Raises NotEnoughMemoryError, naming what asks for how much, where `needed`
    bytes exceed what is available."""
    available = available_bytes()
    if available is not None and needed > available:
        raise NotEnoughMemoryError(
            f"{what} needs about {gigabytes(needed)} GB of memory, and this machine has"
            f" {gigabytes(available)} GB free: {fix}")


@functools.lru_cache(maxsize=64)
def network_sizes(kind, model_config, batch_size, discriminator=True):
    """(parameters, floats in the forward pass's tensors) of a kind of networks:
    G alone, or G and D on G's images, for a batch of `batch_size`. Counted once
    per process for each (building them takes a tenth of a second or more)."""
    with tf.Graph().as_default() as graph:
        rng = tf.random.Generator.from_seed(0)
        generator, critic = networks.build(kind, model_config, 0, rng)
        modules = (generator, critic) if discriminator else (generator,)
        parameters = sum(int(np.prod(v.shape)) for m in modules for v in m.trainable_variables)
        first = len(graph.get_operations())
        z = tf.compat.v1.placeholder(tf.float32, [batch_size, model_config.z_dim])
        y = (tf.compat.v1.placeholder(tf.float32, [batch_size, model_config.y_dim])
             if model_config.conditional else None)
        images = generator(z, y, training=True)
        if discriminator:
            critic(images, y, training=True)
        floats = sum(int(np.prod(output.shape)) for op in graph.get_operations()[first:]
                     for output in op.outputs
                     if output.dtype.is_floating and output.shape.is_fully_defined())
    return parameters, floats


def check_training_fits(kind, model_config, batch_size):
    """Training's networks: their weights, optimizer state and gradients, and a
    batch's forward pass (backprop needs about as much again)."""
    parameters, floats = network_sizes(kind, model_config, batch_size)
    needed = TRAINING_BYTES_PER_PARAMETER * parameters + 2 * FLOAT_BYTES * floats
    check_fits(needed, f"Training these networks ({parameters:,} parameters) on batches of"
                       f" {batch_size}", "pass smaller widths (--gf_dim, --df_dim, --gfc_dim,"
                                         " --dfc_dim), --z_dim or --batch_size.")


def check_sampling_fits(kind, model_config, batch_size):
    """Test mode's generator: its weights and a batch's forward pass."""
    parameters, floats = network_sizes(kind, model_config, batch_size, discriminator=False)
    needed = FLOAT_BYTES * (parameters + floats)
    check_fits(needed, f"This run's generator ({parameters:,} parameters) on batches of"
                       f" {batch_size}", "pass a smaller --batch_size.")
