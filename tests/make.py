"""Configs, commands and GANs for the tests, made as main.py makes them: the
flags given are the flags typed (the --model's and --loss's defaults fill the
others: config.of_command_line), a system from systems.compose, and
commands.train.make_gan."""

import tensorflow as tf

from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import systems
from dcgan_tf.commands import train
from dcgan_tf.networks import torch_layers


def config(model="dcgan", **flags):
    """The Config of `--model model` and `flags`, as main.py builds it, unchecked
    (app.run validates what it runs; a GAN built in a test takes a strategy
    object of its own, whatever --strategy says)."""
    fields = dict(model=model, **flags)
    return config_lib.with_defaults(config_lib.Config(**fields), fields)


def run(log=print, **flags):
    """What main.py does with `flags` typed, in this process: their Config, the
    run's record for what was not typed, app.run. Returns app.run's result."""
    return app.run(config_lib.of_command_line(flags, flags), log=log, typed=frozenset(flags))


def gan(model_config, model="dcgan", strategy=None, compute_dtype=None, **flags):
    """The GAN that `--model model` with `flags` trains on `model_config` (seed 0
    unless given); `compute_dtype` sets the 16-bit type directly (float16 is
    --mixed_precision's on a GPU only)."""
    flags.setdefault("seed", 0)
    run_config = config(model, **flags)
    system = systems.compose(run_config.model, run_config.loss, run_config)
    return train.make_gan(run_config, system, model_config, strategy, compute_dtype)


def without_dropout(gan):
    """The golden runs made dropout an identity: so do these."""
    for layer in gan.discriminator.submodules:
        if isinstance(layer, torch_layers.Dropout):
            layer.enabled = False
    return gan


def checkpoint_variables(gan):
    """Every variable a GAN's checkpoint holds, each once: (a name unique among
    them, the variable); a random generator by its state."""
    seen, found = set(), []
    for attribute, value in gan.checkpoint_objects().items():
        if isinstance(value, tf.random.Generator):
            value = value.state
        for index, variable in enumerate(getattr(value, "variables", None) or [value]):
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append((f"{attribute}/{index}/{variable.name}", variable))
    return found
