"""The original's generators and discriminators (carpedm20 `model.py`).

Two families, chosen by `y_dim`, as in the original:
- conditional (`y_dim > 0`, MNIST): labels concatenated to z, to every feature
  map and to every dense layer; G ends in sigmoid, so images are in [0, 1];
- unconditional (celebA-style): 4 deconvs from a (H/16, W/16) projection;
  G ends in tanh, so images are in [-1, 1].

The sampler is the generator called with `training=False` (batch norm uses its
moving averages), as the original's `sampler` shares G's variables.
Models hold no training code.
"""

import dataclasses
import json
import math

import tensorflow as tf

from dcgan_tf.networks import tf1_layers


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the shapes of G and D (and so of a checkpoint)."""

    output_height: int
    output_width: int
    c_dim: int
    y_dim: int = 0
    z_dim: int = 100
    gf_dim: int = 64
    df_dim: int = 64
    gfc_dim: int = 1024
    dfc_dim: int = 1024
    # The critic's normalization: the original's batch norm, layer norm (--loss
    # wgan_gp, whose per-example gradient penalty batch norm would mix), or none
    # (--spectral_norm, as SNGAN's D).
    critic_norm: str = "batch"
    # D's weights spectrally normalized (--spectral_norm: stabilizers.spectral_norm).
    spectral_norm: bool = False

    @property
    def conditional(self):
        return self.y_dim > 0

    @property
    def output_range(self):
        """The generator's value range: sigmoid for conditional, tanh otherwise."""
        return (0.0, 1.0) if self.conditional else (-1.0, 1.0)

    @property
    def image_shape(self):
        return (self.output_height, self.output_width, self.c_dim)

    def validate(self):
        """Raises ValueError, naming the fix, for shapes the original can't build."""
        for name in ("output_height", "output_width", "c_dim", "z_dim",
                     "gf_dim", "df_dim", "gfc_dim", "dfc_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.critic_norm not in ("batch", "layer", "none"):
            raise ValueError(f"critic_norm must be batch, layer or none, got"
                             f" {self.critic_norm!r}.")
        if self.y_dim < 0:
            raise ValueError(f"y_dim must be 0 (unconditional) or positive, got {self.y_dim}.")
        if self.conditional:
            for name in ("output_height", "output_width"):
                size = getattr(self, name)
                if size % 4:
                    raise ValueError(
                        f"The conditional model upsamples {size // 4} -> {size // 2} -> {size}"
                        f" by stride-2 deconvolutions, so --{name} must be a multiple of 4"
                        f" (got {size}); use e.g. --{name}={4 * max(1, round(size / 4))}.")
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def _critic_norm(config, num_features, name):
    """D's normalization layer: batch norm (the original's), layer norm, or none."""
    if config.critic_norm == "layer":
        return tf1_layers.LayerNorm(num_features, name)
    if config.critic_norm == "none":
        return tf1_layers.no_norm
    return tf1_layers.BatchNorm(num_features, name)


def conv_out_size_same(size, stride=tf1_layers.STRIDE):
    """Output size of a SAME convolution, as the original's helper of that name."""
    return int(math.ceil(float(size) / float(stride)))


class ConditionalGenerator(tf.Module):
    """G(z, y) of the conditional (MNIST) model; images in [0, 1]."""

    def __init__(self, config):
        super().__init__(name="generator")
        c = config
        self.config = c
        # The original uses int(s / 2) and int(s / 4) here, not the ceil helper.
        self.s_h, self.s_w = c.output_height, c.output_width
        self.s_h2, self.s_w2 = c.output_height // 2, c.output_width // 2
        self.s_h4, self.s_w4 = c.output_height // 4, c.output_width // 4
        h1_units = c.gf_dim * 2 * self.s_h4 * self.s_w4
        with self.name_scope:
            self.g_h0_lin = tf1_layers.Linear(c.z_dim + c.y_dim, c.gfc_dim, "g_h0_lin")
            self.g_bn0 = tf1_layers.BatchNorm(c.gfc_dim, "g_bn0")
            self.g_h1_lin = tf1_layers.Linear(c.gfc_dim + c.y_dim, h1_units, "g_h1_lin")
            self.g_bn1 = tf1_layers.BatchNorm(h1_units, "g_bn1")
            self.g_h2 = tf1_layers.Deconv2D(c.gf_dim * 2 + c.y_dim, c.gf_dim * 2, "g_h2")
            self.g_bn2 = tf1_layers.BatchNorm(c.gf_dim * 2, "g_bn2")
            self.g_h3 = tf1_layers.Deconv2D(c.gf_dim * 2 + c.y_dim, c.c_dim, "g_h3")

    def __call__(self, z, y, training):
        c = self.config
        y = tf.cast(y, z.dtype)
        yb = tf.reshape(y, [-1, 1, 1, c.y_dim])                     # [B, 1, 1, Y]
        h = tf.concat([z, y], axis=1)                               # [B, Z + Y]
        h = tf.nn.relu(self.g_bn0(self.g_h0_lin(h), training))      # [B, gfc]
        h = tf.concat([h, y], axis=1)                               # [B, gfc + Y]
        h = tf.nn.relu(self.g_bn1(self.g_h1_lin(h), training))      # [B, 2gf * s4 * s4]
        h = tf.reshape(h, [-1, self.s_h4, self.s_w4, c.gf_dim * 2])  # [B, 7, 7, 2gf]
        h = tf1_layers.conv_cond_concat(h, yb)                             # [B, 7, 7, 2gf + Y]
        h = tf.nn.relu(self.g_bn2(self.g_h2(h, self.s_h2, self.s_w2), training))  # [B, 14, 14, 2gf]
        h = tf1_layers.conv_cond_concat(h, yb)                             # [B, 14, 14, 2gf + Y]
        return tf.nn.sigmoid(self.g_h3(h, self.s_h, self.s_w))      # [B, 28, 28, C]


class ConditionalDiscriminator(tf.Module):
    """D(x, y) of the conditional model; returns logits [B, 1]."""

    def __init__(self, config):
        super().__init__(name="discriminator")
        c = config
        self.config = c
        s_h2, s_w2 = conv_out_size_same(c.output_height), conv_out_size_same(c.output_width)
        s_h4, s_w4 = conv_out_size_same(s_h2), conv_out_size_same(s_w2)
        h1_units = s_h4 * s_w4 * (c.df_dim + c.y_dim)
        with self.name_scope:
            # The original gives the first conv c_dim + y_dim filters, not df_dim.
            self.d_h0_conv = tf1_layers.Conv2D(c.c_dim + c.y_dim, c.c_dim + c.y_dim, "d_h0_conv")
            self.d_h1_conv = tf1_layers.Conv2D(c.c_dim + 2 * c.y_dim, c.df_dim + c.y_dim,
                                               "d_h1_conv")
            self.d_bn1 = _critic_norm(c, c.df_dim + c.y_dim, "d_bn1")
            self.d_h2_lin = tf1_layers.Linear(h1_units + c.y_dim, c.dfc_dim, "d_h2_lin")
            self.d_bn2 = _critic_norm(c, c.dfc_dim, "d_bn2")
            self.d_h3_lin = tf1_layers.Linear(c.dfc_dim + c.y_dim, 1, "d_h3_lin")

    def layer_outputs(self, images, y, training, wrap_activation=None):
        """The hidden layers' outputs, after their activations (before the labels
        are appended to them): [h0, h1, h2]. `wrap_activation` replaces lrelu with
        wrap_activation(lrelu) (guided backpropagation's)."""
        c = self.config
        lrelu = wrap_activation(tf1_layers.lrelu) if wrap_activation else tf1_layers.lrelu
        y = tf.cast(y, images.dtype)
        yb = tf.reshape(y, [-1, 1, 1, c.y_dim])                      # [B, 1, 1, Y]
        h = tf1_layers.conv_cond_concat(images, yb)                         # [B, 28, 28, C + Y]
        h0 = lrelu(self.d_h0_conv(h))                                       # [B, 14, 14, C + Y]
        h = tf1_layers.conv_cond_concat(h0, yb)                             # [B, 14, 14, C + 2Y]
        h1 = lrelu(self.d_bn1(self.d_h1_conv(h), training))                 # [B, 7, 7, df + Y]
        h = tf.reshape(h1, [tf.shape(h1)[0], self.d_h2_lin.matrix.shape[0] - c.y_dim])
        h = tf.concat([h, y], axis=1)                                # [B, 49(df + Y) + Y]
        h2 = lrelu(self.d_bn2(self.d_h2_lin(h), training))                  # [B, dfc]
        return [h0, h1, h2]

    def __call__(self, images, y, training):
        h = self.layer_outputs(images, y, training)[-1]
        h = tf.concat([h, tf.cast(y, h.dtype)], axis=1)              # [B, dfc + Y]
        return self.d_h3_lin(h)                                      # [B, 1]


class Generator(tf.Module):
    """G(z) of the unconditional (celebA-style) model; images in [-1, 1]."""

    def __init__(self, config):
        super().__init__(name="generator")
        c = config
        self.config = c
        self.sizes = [(c.output_height, c.output_width)]             # s, s2, s4, s8, s16
        for _ in range(4):
            h, w = self.sizes[-1]
            self.sizes.append((conv_out_size_same(h), conv_out_size_same(w)))
        s_h16, s_w16 = self.sizes[4]
        with self.name_scope:
            self.g_h0_lin = tf1_layers.Linear(c.z_dim, c.gf_dim * 8 * s_h16 * s_w16, "g_h0_lin")
            self.g_bn0 = tf1_layers.BatchNorm(c.gf_dim * 8, "g_bn0")
            self.g_h1 = tf1_layers.Deconv2D(c.gf_dim * 8, c.gf_dim * 4, "g_h1")
            self.g_bn1 = tf1_layers.BatchNorm(c.gf_dim * 4, "g_bn1")
            self.g_h2 = tf1_layers.Deconv2D(c.gf_dim * 4, c.gf_dim * 2, "g_h2")
            self.g_bn2 = tf1_layers.BatchNorm(c.gf_dim * 2, "g_bn2")
            self.g_h3 = tf1_layers.Deconv2D(c.gf_dim * 2, c.gf_dim, "g_h3")
            self.g_bn3 = tf1_layers.BatchNorm(c.gf_dim, "g_bn3")
            self.g_h4 = tf1_layers.Deconv2D(c.gf_dim, c.c_dim, "g_h4")

    def __call__(self, z, y=None, training=True):
        c = self.config
        (s_h, s_w), (s_h2, s_w2), (s_h4, s_w4), (s_h8, s_w8), (s_h16, s_w16) = self.sizes
        h = tf.reshape(self.g_h0_lin(z), [-1, s_h16, s_w16, c.gf_dim * 8])  # [B, 4, 4, 8gf]
        h = tf.nn.relu(self.g_bn0(h, training))
        h = tf.nn.relu(self.g_bn1(self.g_h1(h, s_h8, s_w8), training))      # [B, 8, 8, 4gf]
        h = tf.nn.relu(self.g_bn2(self.g_h2(h, s_h4, s_w4), training))      # [B, 16, 16, 2gf]
        h = tf.nn.relu(self.g_bn3(self.g_h3(h, s_h2, s_w2), training))      # [B, 32, 32, gf]
        return tf.nn.tanh(self.g_h4(h, s_h, s_w))                           # [B, 64, 64, C]


class Discriminator(tf.Module):
    """D(x) of the unconditional model; returns logits [B, 1]."""

    def __init__(self, config):
        super().__init__(name="discriminator")
        c = config
        self.config = c
        s_h, s_w = c.output_height, c.output_width
        for _ in range(4):
            s_h, s_w = conv_out_size_same(s_h), conv_out_size_same(s_w)
        with self.name_scope:
            self.d_h0_conv = tf1_layers.Conv2D(c.c_dim, c.df_dim, "d_h0_conv")
            self.d_h1_conv = tf1_layers.Conv2D(c.df_dim, c.df_dim * 2, "d_h1_conv")
            self.d_bn1 = _critic_norm(c, c.df_dim * 2, "d_bn1")
            self.d_h2_conv = tf1_layers.Conv2D(c.df_dim * 2, c.df_dim * 4, "d_h2_conv")
            self.d_bn2 = _critic_norm(c, c.df_dim * 4, "d_bn2")
            self.d_h3_conv = tf1_layers.Conv2D(c.df_dim * 4, c.df_dim * 8, "d_h3_conv")
            self.d_bn3 = _critic_norm(c, c.df_dim * 8, "d_bn3")
            self.d_h4_lin = tf1_layers.Linear(s_h * s_w * c.df_dim * 8, 1, "d_h4_lin")

    def layer_outputs(self, images, y=None, training=True, wrap_activation=None):
        """The four conv layers' outputs, after their activations. `wrap_activation`
        replaces lrelu with wrap_activation(lrelu) (guided backpropagation's)."""
        lrelu = wrap_activation(tf1_layers.lrelu) if wrap_activation else tf1_layers.lrelu
        h0 = lrelu(self.d_h0_conv(images))                                  # [B, 32, 32, df]
        h1 = lrelu(self.d_bn1(self.d_h1_conv(h0), training))                # [B, 16, 16, 2df]
        h2 = lrelu(self.d_bn2(self.d_h2_conv(h1), training))                # [B, 8, 8, 4df]
        h3 = lrelu(self.d_bn3(self.d_h3_conv(h2), training))                # [B, 4, 4, 8df]
        return [h0, h1, h2, h3]

    def __call__(self, images, y=None, training=True):
        h = self.layer_outputs(images, y, training)[-1]
        h = tf.reshape(h, [tf.shape(h)[0], self.d_h4_lin.matrix.shape[0]])
        return self.d_h4_lin(h)                                      # [B, 1]


def build_models(config):
    """Returns (generator, discriminator) for `config`, G first as in the original."""
    config.validate()
    if config.conditional:
        return ConditionalGenerator(config), ConditionalDiscriminator(config)
    return Generator(config), Discriminator(config)


def config_of(options, c_dim, y_dim, critic_norm):
    """The ModelConfig of a run's flags (`options`) and data (its channels and
    labels): the original's sizes and widths, and the critic's norm."""
    return ModelConfig(
        output_height=options.output_height, output_width=options.output_width, c_dim=c_dim,
        y_dim=y_dim, z_dim=options.z_dim, gf_dim=options.gf_dim, df_dim=options.df_dim,
        gfc_dim=options.gfc_dim, dfc_dim=options.dfc_dim, critic_norm=critic_norm,
        spectral_norm=bool(options.spectral_norm)).validate()


def check_images(options, labelled):
    """Raises ValueError, naming the fix, for sizes the original's networks and
    data cannot make: MNIST-style digits are 28x28."""
    if labelled and (options.output_height, options.output_width) != (28, 28):
        raise ValueError(
            f"{options.dataset} images are 28x28, but --output_height={options.output_height}"
            f" --output_width={options.output_width}; pass --input_height=28"
            " --output_height=28, as the original's README does.")


def variables_by_original_name(*modules):
    """{'generator/g_h0_lin/Matrix': variable, ...}: the TF1 checkpoint keys."""
    return {v.name[:-len(":0")]: v for m in modules for v in m.variables}
