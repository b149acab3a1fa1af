"""GANs for the tests, composed as train mode composes them: a Config of the
flags given (the --model's and --loss's defaults where none is), its system
from systems.compose, and commands.train.make_gan."""

from dcgan_tf import config as config_lib
from dcgan_tf import gan as gan_lib
from dcgan_tf import systems
from dcgan_tf.commands import train
from dcgan_tf.networks import torch_layers


def config(model="dcgan", **flags):
    """The Config of `--model model` and `flags`, as main.py builds it."""
    fields = dict(model=model, **flags)
    return config_lib.Config(**fields, given_flags=tuple(sorted(fields))).with_model_defaults()


def gan(model_config, model="dcgan", strategy=None, compute_dtype=None, **flags):
    """The GAN that `--model model` with `flags` trains on `model_config` (seed 0
    unless given); `compute_dtype` sets the 16-bit type directly (float16 is
    --mixed_precision's on a GPU only)."""
    flags.setdefault("seed", 0)
    run = config(model, **flags)
    system = systems.compose(run.model, run.loss, run)
    if compute_dtype is None:
        return train.make_gan(run, system, model_config, strategy)
    return gan_lib.GAN(system, model_config, learning_rate=run.learning_rate, beta1=run.beta1,
                       beta2=run.beta2, batch_size=run.batch_size, seed=run.seed,
                       z_dist=run.z_dist, strategy=strategy, compute_dtype=compute_dtype,
                       jit_compile=run.xla, sync_bn=run.sync_bn, sample_interval=run.sample_freq)


def without_dropout(gan):
    """The golden runs made dropout an identity: so do these."""
    for layer in gan.discriminator.submodules:
        if isinstance(layer, torch_layers.Dropout):
            layer.enabled = False
    return gan
