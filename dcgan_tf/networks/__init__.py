"""The networks dcgan-tf trains: carpedm20's DCGAN (`carpedm20`, with the
original's TF1 layers in `tf1_layers`) and the PyTorch-GAN scripts' (`pytorch_gan`,
with PyTorch's layers in `torch_layers`). Networks hold no training code.

The protocol every network keeps, and all that gan.GAN relies on:
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

from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import tf1_layers
from dcgan_tf.networks import torch_layers

KINDS = ("carpedm20", "mlp", "conditional_mlp", "conv", "conditional_conv")
# The kinds whose ops (matmuls of a batch's rows by at most 1,024) are small
# enough that one CPU thread per op trains faster (distribute.set_op_threads).
SMALL_OP_KINDS = ("mlp", "conditional_mlp")


def build(kind, model_config, dropout_rng=None, raw_scores=True, critic_norm="batch",
          normal_init=False):
    """(generator, discriminator) of a kind of network (KINDS). carpedm20's take
    everything from their ModelConfig (its critic_norm included); the scripts'
    take `dropout_rng` (D's dropout draws), `raw_scores` (no sigmoid on D's
    validity), `critic_norm` ("layer": a conv D's batch norms become layer norms)
    and `normal_init` (the scripts' weights_init_normal)."""
    if kind == "carpedm20":
        return carpedm20.build_models(model_config)
    return pytorch_gan.build_networks(kind, model_config, dropout_rng, raw_scores,
                                      layer_norm=critic_norm == "layer", normal_init=normal_init)


def batch_norms(*modules):
    """Every batch-norm layer of `modules` (either original's), in build order."""
    return [layer for module in modules for layer in module.submodules
            if isinstance(layer, (tf1_layers.BatchNorm, torch_layers.BatchNorm))]
