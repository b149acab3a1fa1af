"""The networks dcgan-tf trains: carpedm20's DCGAN (`carpedm20`, with the
original's TF1 layers in `tf1_layers`) and the PyTorch-GAN scripts' (`pytorch_gan`,
with PyTorch's layers in `torch_layers`). Networks hold no training code.

Every kind of networks is one entry of KINDS, and keeps one protocol:
- its config (what fixes the networks' shapes, and so a checkpoint's: what a
  run's record keeps), made from a run's flags and data by `config_of`;
- `check_images`: the sizes its networks and a data set can make;
- `build`: (generator, discriminator) of a config, the initial weights drawn
  under a seed;
and the networks it builds keep theirs, all that gan.GAN relies on:
- generator(z, y, training) -> images [B, H, W, C] in its model config's
  `output_range`, computed in z's dtype;
- discriminator(images, y, training) -> scores [B, 1], or for AC-GAN's
  two-headed D a tuple (validity [B, 1], class probabilities [B, classes]);
- y: one-hot labels [B, classes], or None for unconditional networks;
- a training-mode call (training=True) normalizes with the batch's statistics
  and moves the batch norms' moving averages, as both originals do on every
  training-mode pass; an inference-mode call uses the averages;
- discriminator.layer_outputs(images, y, training, wrap_activation=None) ->
  its hidden layers' outputs after their activations ([B, H, W, C] or [B, F]),
  from the input side; `wrap_activation(activation)` replaces each activation
  (guided backpropagation's); D's output is its head on the last of them;
- every batch norm has `synchronized` (--sync_bn: statistics of the global
  batch over the replicas of a tf.distribute strategy).
"""

import dataclasses
from typing import Callable

import tensorflow as tf

from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import tf1_layers
from dcgan_tf.networks import torch_layers
from dcgan_tf.stabilizers import spectral_norm


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of networks (see the module's docstring)."""

    config: type               # its config class
    # (the run's flags, the data's channels, its classes, the critic's norm) -> config
    config_of: Callable
    # (the run's flags, whether the data set is labelled) -> raises ValueError
    check_images: Callable
    # (config, dropout_rng, raw_scores, critic_norm, normal_init) -> (G, D)
    make: Callable
    # Ops small enough (matmuls of a batch's rows by at most 1,024) that one CPU
    # thread per op trains faster (distribute.set_op_threads).
    small_ops: bool = False
    # The rows a replica's batch needs: PyTorch's batch norm takes the unbiased
    # variance, 0/0 on one row (a NaN running variance; PyTorch refuses it). The
    # family's last, smaller batch keeps to it too (data.MIN_ROWS_PER_REPLICA).
    min_rows: int = 1


def _family(kind, conditional):
    def config_of(options, c_dim, y_dim, critic_norm):
        del critic_norm  # the scripts' D takes layer norms from the --loss (its config's)
        return pytorch_gan.config_of(options, c_dim, options.n_classes if conditional else 0)

    def make(config, dropout_rng, raw_scores, critic_norm, normal_init):
        return pytorch_gan.build_networks(kind, config, dropout_rng, raw_scores, critic_norm,
                                          normal_init)

    return Kind(config=pytorch_gan.FamilyModelConfig, config_of=config_of,
                check_images=lambda options, labelled: pytorch_gan.check_images(
                    options, convolutional=kind.endswith("conv")),
                make=make, small_ops=kind.endswith("mlp"), min_rows=2)


KINDS = {
    "carpedm20": Kind(
        config=carpedm20.ModelConfig,
        config_of=carpedm20.config_of,
        check_images=carpedm20.check_images,
        # Everything, its critic's norm included, is in its ModelConfig.
        make=lambda config, dropout_rng, raw_scores, critic_norm, normal_init:
            carpedm20.build_models(config)),
    "mlp": _family("mlp", conditional=False),
    "conditional_mlp": _family("conditional_mlp", conditional=True),
    "conv": _family("conv", conditional=False),
    "conditional_conv": _family("conditional_conv", conditional=True),
}


def build(kind, model_config, seed, dropout_rng=None, raw_scores=True, critic_norm="batch",
          normal_init=False):
    """(generator, discriminator) of a kind of networks (KINDS), their initial
    weights drawn under `seed` (TensorFlow's global seed, set here for the build:
    the same seed builds the same networks, as the run that trained them did).
    The scripts' networks also take `dropout_rng` (D's dropout draws),
    `raw_scores` (no sigmoid on D's validity), `critic_norm` ("layer": a conv D's
    batch norms become layer norms; "none": none) and `normal_init`
    (weights_init_normal);
    carpedm20's take everything from their ModelConfig. A config that says
    `spectral_norm` gets D's weights spectrally normalized, whatever the kind
    (stabilizers.spectral_norm)."""
    tf.random.set_seed(seed)
    generator, discriminator = KINDS[kind].make(model_config, dropout_rng, raw_scores,
                                                critic_norm, normal_init)
    if model_config.spectral_norm:
        spectral_norm.apply(discriminator)
    return generator, discriminator


def batch_norms(*modules):
    """Every batch-norm layer of `modules` (either original's), in build order."""
    return [layer for module in modules for layer in module.submodules
            if isinstance(layer, (tf1_layers.BatchNorm, torch_layers.BatchNorm))]

