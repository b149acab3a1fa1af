"""The networks of PyTorch-GAN's gan, cgan, acgan, wgan, wgan_gp and lsgan
scripts (eriklindernoren/PyTorch-GAN at 36d3c77, implementations/<model>/<model>.py).

Images are NHWC here and NCHW there: wherever a script flattens an image or
views a vector as one (`view(b, -1)`, `view(b, 128, s, s)`), we go through the
channel-first layout, so the same weights compute the same numbers. Labels come
in one-hot ([B, n_classes]), as everywhere in dcgan-tf. Layers carry the
scripts' `state_dict` names (`model.0`, `conv_blocks.2`, ...).
"""

import dataclasses
import json
import math

import tensorflow as tf

from dcgan_tf.networks import torch_layers as layers


def _activation(wrap_activation):
    """The scripts' LeakyReLU(0.2), or what `wrap_activation` makes of it."""
    return wrap_activation(layers.leaky_relu) if wrap_activation else layers.leaky_relu


def _mlp_block(in_features, out_features, index, normalize):
    """The scripts' `block()`: Linear, [BatchNorm1d(out, 0.8)], LeakyReLU(0.2).
    Returns its layers and the index of the next Sequential entry."""
    blocks = [layers.Linear(in_features, out_features, f"model_{index}", f"model.{index}")]
    if normalize:
        blocks.append(layers.BatchNorm(out_features, 0.8, f"model_{index + 1}",
                                       f"model.{index + 1}"))
    return blocks, index + len(blocks) + 1  # + the LeakyReLU


class MLPGenerator(tf.Module):
    """gan / wgan / wgan_gp G (and cgan's, with `n_classes`: the label embedding
    concatenated before z): Linear 128, then 256, 512, 1024 with BatchNorm1d eps
    0.8, LeakyReLU 0.2 throughout, Linear to the image, tanh."""

    def __init__(self, latent_dim, image_shape, n_classes=0):
        super().__init__(name="generator")
        self.image_shape = tuple(image_shape)  # (H, W, C)
        height, width, channels = self.image_shape
        self.n_classes = n_classes
        with self.name_scope:
            self.label_emb = (layers.Embedding(n_classes, n_classes, "label_emb", "label_emb")
                              if n_classes else None)
            self.blocks, index = [], 0
            for in_f, out_f, normalize in ((latent_dim + n_classes, 128, False), (128, 256, True),
                                           (256, 512, True), (512, 1024, True)):
                block, index = _mlp_block(in_f, out_f, index, normalize)
                self.blocks.append(block)
            self.output_layer = layers.Linear(1024, height * width * channels, f"model_{index}",
                                              f"model.{index}")

    def __call__(self, z, y=None, training=True):
        h = z
        if self.label_emb is not None:
            h = tf.concat([self.label_emb(y), z], axis=-1)         # [B, classes + Z]
        for block in self.blocks:
            h = block[0](h)
            if len(block) > 1:
                h = block[1](h, training)
            h = layers.leaky_relu(h)
        h = tf.tanh(self.output_layer(h))                           # [B, C * H * W]
        height, width, channels = self.image_shape
        return layers.to_channels_last(tf.reshape(h, [-1, channels, height, width]))


class MLPDiscriminator(tf.Module):
    """gan (sigmoid output) / wgan / wgan_gp (the critic: no sigmoid) D:
    Linear 512, LeakyReLU, Linear 256, LeakyReLU, Linear 1."""

    def __init__(self, image_shape, sigmoid):
        super().__init__(name="discriminator")
        height, width, channels = image_shape
        self.sigmoid = sigmoid
        with self.name_scope:
            self.hidden = [layers.Linear(height * width * channels, 512, "model_0", "model.0"),
                           layers.Linear(512, 256, "model_2", "model.2")]
            self.output_layer = layers.Linear(256, 1, "model_4", "model.4")

    def layer_outputs(self, images, y=None, training=True, wrap_activation=None):
        """The hidden layers' outputs ([B, 512], [B, 256]), after their LeakyReLUs
        (wrapped by `wrap_activation`, if given)."""
        activation = _activation(wrap_activation)
        h = tf.reshape(layers.to_channels_first(images), [tf.shape(images)[0], -1])
        outputs = []
        for linear in self.hidden:
            h = activation(linear(h))
            outputs.append(h)
        return outputs

    def __call__(self, images, y=None, training=True):
        out = self.output_layer(self.layer_outputs(images, y, training)[-1])  # [B, 1]
        return tf.sigmoid(out) if self.sigmoid else out


class ConditionalMLPDiscriminator(tf.Module):
    """cgan's D: the image and its label embedding concatenated, Linear 512,
    LeakyReLU, then twice Linear 512, Dropout(0.4), LeakyReLU, and Linear 1 (no
    sigmoid: the script trains it with MSELoss)."""

    def __init__(self, image_shape, n_classes, rng, dropout=0.4):
        super().__init__(name="discriminator")
        height, width, channels = image_shape
        with self.name_scope:
            self.label_embedding = layers.Embedding(n_classes, n_classes, "label_embedding",
                                                    "label_embedding")
            self.input_layer = layers.Linear(height * width * channels + n_classes, 512,
                                             "model_0", "model.0")
            self.hidden = [(layers.Linear(512, 512, f"model_{i}", f"model.{i}"),
                            layers.Dropout(dropout, False, rng, f"dropout_{i + 1}"))
                           for i in (2, 5)]
            self.output_layer = layers.Linear(512, 1, "model_8", "model.8")

    def layer_outputs(self, images, y, training=True, wrap_activation=None):
        """The three hidden layers' outputs ([B, 512] each), after their LeakyReLUs
        (wrapped by `wrap_activation`, if given)."""
        activation = _activation(wrap_activation)
        flat = tf.reshape(layers.to_channels_first(images), [tf.shape(images)[0], -1])
        h = tf.concat([flat, self.label_embedding(y)], axis=-1)     # [B, C*H*W + classes]
        outputs = [activation(self.input_layer(h))]
        for linear, dropout in self.hidden:
            outputs.append(activation(dropout(linear(outputs[-1]), training)))
        return outputs

    def __call__(self, images, y, training=True):
        return self.output_layer(self.layer_outputs(images, y, training)[-1])  # [B, 1]


class ConvGenerator(tf.Module):
    """lsgan G (and acgan's, with `n_classes`: the label embedding multiplied into
    z, and a BatchNorm2d(128) with the default eps before the first upsampling):
    Linear to 128 x (S/4)^2, then twice Upsample(2) + 3x3 Conv + BatchNorm2d(eps
    0.8) + LeakyReLU, and a 3x3 Conv to the image, tanh."""

    def __init__(self, latent_dim, image_shape, n_classes=0):
        super().__init__(name="generator")
        height, width, channels = image_shape
        if height != width or height % 4:
            raise ValueError(f"The conv generator needs a square image whose size is a multiple"
                             f" of 4, got {height}x{width}.")
        self.init_size = height // 4
        self.image_shape = tuple(image_shape)
        first = 1 if n_classes else 0  # acgan's Sequential starts with its extra norm
        with self.name_scope:
            self.label_emb = (layers.Embedding(n_classes, latent_dim, "label_emb", "label_emb")
                              if n_classes else None)
            self.l1 = layers.Linear(latent_dim, 128 * self.init_size ** 2, "l1_0", "l1.0")
            self.input_norm = (layers.BatchNorm(128, layers.BATCH_NORM_EPSILON,
                                                "conv_blocks_0", "conv_blocks.0")
                               if n_classes else None)
            i = first
            self.conv1 = layers.Conv2d(128, 128, 3, 1, 1, f"conv_blocks_{i + 1}",
                                       f"conv_blocks.{i + 1}")
            self.norm1 = layers.BatchNorm(128, 0.8, f"conv_blocks_{i + 2}", f"conv_blocks.{i + 2}")
            self.conv2 = layers.Conv2d(128, 64, 3, 1, 1, f"conv_blocks_{i + 5}",
                                       f"conv_blocks.{i + 5}")
            self.norm2 = layers.BatchNorm(64, 0.8, f"conv_blocks_{i + 6}", f"conv_blocks.{i + 6}")
            self.conv3 = layers.Conv2d(64, channels, 3, 1, 1, f"conv_blocks_{i + 8}",
                                       f"conv_blocks.{i + 8}")

    def __call__(self, z, y=None, training=True):
        h = z if self.label_emb is None else self.label_emb(y) * z  # [B, Z]
        h = self.l1(h)                                               # [B, 128 * s * s]
        s = self.init_size
        h = layers.to_channels_last(tf.reshape(h, [-1, 128, s, s]))  # [B, s, s, 128]
        if self.input_norm is not None:
            h = self.input_norm(h, training)
        h = layers.upsample_nearest_2x(h)                            # [B, 2s, 2s, 128]
        h = layers.leaky_relu(self.norm1(self.conv1(h), training))
        h = layers.upsample_nearest_2x(h)                            # [B, 4s, 4s, 128]
        h = layers.leaky_relu(self.norm2(self.conv2(h), training))   # [B, 4s, 4s, 64]
        return tf.tanh(self.conv3(h))                                # [B, S, S, C]


class ConvDiscriminator(tf.Module):
    """lsgan D (one linear validity head, no sigmoid) and acgan D (validity through
    a sigmoid, and a softmax head over the classes): four blocks of 3x3 stride-2
    Conv (padding 1), LeakyReLU, Dropout2d(0.25), and BatchNorm2d(eps 0.8) but in
    the first; 16, 32, 64, 128 channels.

    Under --loss: acgan's validity is the raw score (`raw_validity`), and under
    --loss wgan_gp every BatchNorm2d is a layer norm (`critic_norm` "layer";
    GroupNorm(1, C) in PyTorch's terms), which the gradient penalty needs; under
    --spectral_norm there is none ("none")."""

    def __init__(self, image_shape, rng, n_classes=0, dropout=0.25, raw_validity=False,
                 critic_norm="batch"):
        super().__init__(name="discriminator")
        height, width, channels = image_shape
        self.n_classes = n_classes
        self.raw_validity = raw_validity
        prefix = "conv_blocks" if n_classes else "model"
        ds_size = height // 2 ** 4
        with self.name_scope:
            self.blocks, index, in_channels = [], 0, channels
            for out_channels, normalize in ((16, False), (32, True), (64, True), (128, True)):
                conv = layers.Conv2d(in_channels, out_channels, 3, 2, 1, f"{prefix}_{index}",
                                     f"{prefix}.{index}")
                dropout_layer = layers.Dropout(dropout, True, rng, f"{prefix}_{index + 2}")
                norm = None
                if normalize and critic_norm == "layer":
                    norm = layers.LayerNorm(out_channels, f"{prefix}_{index + 3}",
                                            f"{prefix}.{index + 3}")
                elif normalize and critic_norm == "batch":
                    norm = layers.BatchNorm(out_channels, 0.8, f"{prefix}_{index + 3}",
                                            f"{prefix}.{index + 3}")
                self.blocks.append((conv, dropout_layer, norm))
                index += 4 if normalize else 3
                in_channels = out_channels
            features = 128 * ds_size ** 2
            if n_classes:
                self.adv_layer = layers.Linear(features, 1, "adv_layer_0", "adv_layer.0")
                self.aux_layer = layers.Linear(features, n_classes, "aux_layer_0", "aux_layer.0")
            else:
                self.adv_layer = layers.Linear(features, 1, "adv_layer", "adv_layer")

    def layer_outputs(self, images, y=None, training=True, wrap_activation=None):
        """The four blocks' outputs ([B, S/2, S/2, 16] ... [B, S/16, S/16, 128]): conv,
        LeakyReLU (wrapped by `wrap_activation`, if given), dropout, [norm]."""
        activation = _activation(wrap_activation)
        outputs, h = [], images
        for conv, dropout, norm in self.blocks:
            h = dropout(activation(conv(h)), training)
            if norm is not None:
                h = norm(h, training)
            outputs.append(h)
        return outputs

    def __call__(self, images, y=None, training=True):
        h = self.layer_outputs(images, y, training)[-1]
        h = tf.reshape(layers.to_channels_first(h), [tf.shape(images)[0], -1])  # [B, 128 * ds^2]
        if not self.n_classes:
            return self.adv_layer(h)                                  # [B, 1]
        # acgan: (validity probability [B, 1] (its score under --loss), class
        # probabilities [B, classes]).
        validity = self.adv_layer(h)
        if not self.raw_validity:
            validity = tf.sigmoid(validity)
        return validity, tf.nn.softmax(self.aux_layer(h))


def weights_init_normal(*modules):
    """acgan's and lsgan's `weights_init_normal`: every Conv's weight ~ N(0, 0.02)
    (its bias keeps PyTorch's default), every BatchNorm2d's weight ~ N(1, 0.02)
    and bias 0. Linear layers, BatchNorm1d and embeddings keep their defaults."""
    for module in modules:
        for layer in module.submodules:
            if isinstance(layer, layers.Conv2d):
                layer.kernel.assign(tf.random.normal(layer.kernel.shape, 0.0, 0.02))
            elif isinstance(layer, layers.BatchNorm):
                layer.gamma.assign(tf.random.normal(layer.gamma.shape, 1.0, 0.02))
                layer.beta.assign(tf.zeros_like(layer.beta))


def check_image_size(image_size):
    """The conv nets halve 4 times and upsample twice: sizes that are multiples of 16."""
    if image_size % 16:
        raise ValueError(f"The conv models need an image size that is a multiple of 16, got"
                         f" {image_size}; use e.g. {16 * max(1, math.ceil(image_size / 16))}.")


@dataclasses.dataclass(frozen=True)
class FamilyModelConfig:
    """What fixes a family model's networks (and so its checkpoint): written to
    model.json, read by test mode. Offers what generation, visualization and
    export read of carpedm20's ModelConfig."""

    model: str
    image_size: int
    c_dim: int
    z_dim: int = 100
    n_classes: int = 0
    # --loss: another objective on these networks; D then gives raw scores.
    loss: str = ""
    # D's weights spectrally normalized (--spectral_norm: stabilizers.spectral_norm).
    spectral_norm: bool = False

    @property
    def conditional(self):
        return self.n_classes > 0

    @property
    def y_dim(self):
        return self.n_classes

    @property
    def output_height(self):
        return self.image_size

    @property
    def output_width(self):
        return self.image_size

    @property
    def image_shape(self):
        return (self.image_size, self.image_size, self.c_dim)

    @property
    def output_range(self):
        return (-1.0, 1.0)  # every family generator ends in tanh

    def validate(self):
        """Raises ValueError for sizes no family network can build."""
        for name in ("image_size", "c_dim", "z_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.n_classes < 0 or self.n_classes == 1:
            raise ValueError(f"--model {self.model} is conditional: --n_classes must be at least"
                             f" 2, got {self.n_classes}.")
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def config_of(options, c_dim, n_classes):
    """The FamilyModelConfig of a run's flags (`options`) and data (its channels;
    `n_classes` for the conditional kinds, else 0)."""
    return FamilyModelConfig(model=options.model, image_size=options.output_height,
                             c_dim=c_dim, z_dim=options.z_dim, n_classes=n_classes,
                             loss=options.loss,
                             spectral_norm=bool(options.spectral_norm)).validate()


def check_images(options, convolutional):
    """Raises ValueError, naming the fix, for sizes the scripts' networks cannot
    make: square images, and for the conv nets multiples of 16."""
    if options.output_height != options.output_width:
        raise ValueError(f"--model {options.model} makes square images: pass --output_height"
                         " alone.")
    if convolutional and options.output_height % 16:
        raise ValueError(f"--model {options.model}'s conv nets halve the image 4 times: its"
                         f" --output_height must be a multiple of 16, got"
                         f" {options.output_height}.")


def build_networks(kind, config, rng, raw_scores, critic_norm, normal_init):
    """(generator, discriminator) of one kind of the scripts' networks: "mlp"
    (gan, wgan, wgan_gp), "conditional_mlp" (cgan), "conv" (lsgan) or
    "conditional_conv" (acgan). `rng` feeds D's dropout; `raw_scores` leaves
    out the sigmoid of D's validity output; `critic_norm` "layer" puts layer
    norms in a conv D's batch norms' place, "none" nothing; `normal_init`
    applies weights_init_normal."""
    config.validate()
    shape, classes = config.image_shape, config.n_classes
    if kind.endswith("conv"):
        check_image_size(config.image_size)
    if kind == "mlp":
        networks = (MLPGenerator(config.z_dim, shape),
                    MLPDiscriminator(shape, sigmoid=not raw_scores))
    elif kind == "conditional_mlp":
        networks = (MLPGenerator(config.z_dim, shape, classes),
                    ConditionalMLPDiscriminator(shape, classes, rng))
    elif kind == "conv":
        networks = (ConvGenerator(config.z_dim, shape),
                    ConvDiscriminator(shape, rng, critic_norm=critic_norm))
    elif kind == "conditional_conv":
        networks = (ConvGenerator(config.z_dim, shape, classes),
                    ConvDiscriminator(shape, rng, classes, raw_validity=raw_scores,
                                      critic_norm=critic_norm))
    else:
        raise ValueError(f"Unknown kind of network {kind!r}.")
    if normal_init:
        weights_init_normal(*networks)
    return networks
