"""Guided backpropagation of D's features (the DCGAN paper's Figure 5; the method
of Springenberg et al. 2015, "Striving for simplicity"): which pixels of a real
image make one feature of D's last convolutional layer fire.

The gradient of a feature's response (its largest value over the image) is
taken with respect to the image, with every activation's backward pass
"guided": only the positive part of the incoming gradient passes, times the
activation's own derivative. For a ReLU that is Springenberg's rule (gradient
where both the input and the incoming gradient are positive); for D's leaky
ReLUs the derivative is 1 or 0.2, so negative inputs pass a fifth of a positive
gradient. The features shown are those most active on average over a pool of
real images, each on the real images it responds to most; the same for D at
its initial weights (the paper's "random filters") shows what training added.
"""

import numpy as np
import tensorflow as tf


def guided(activation):
    """`activation` with guided backpropagation's backward pass: its derivative
    times relu(incoming gradient)."""

    @tf.custom_gradient
    def guided_activation(x):
        def backward(upstream):
            with tf.GradientTape() as tape:
                tape.watch(x)
                again = activation(x)
            return tape.gradient(again, x, output_gradients=tf.nn.relu(upstream))

        return activation(x), backward

    return guided_activation


def last_convolutional_layer(layer_shapes):
    """The index of the last convolutional layer ([H, W, C]) among D's layers, or of
    the last layer where D has none (an MLP critic: its last hidden layer)."""
    convolutional = [i for i, shape in enumerate(layer_shapes) if len(shape) == 3]
    return convolutional[-1] if convolutional else len(layer_shapes) - 1


def _responses(layer):
    """Each feature's response per image: the largest value over its positions."""
    return tf.reduce_max(layer, axis=[1, 2]) if layer.shape.rank == 4 else layer


def responses(discriminator, images, y, layer_index, batch_size=256):
    """[N, features] responses of layer `layer_index` to images [N, H, W, C]."""
    rows = []
    for start in range(0, len(images), batch_size):
        labels = None if y is None else tf.constant(y[start:start + batch_size], tf.float32)
        layers = discriminator.layer_outputs(tf.constant(images[start:start + batch_size]),
                                             labels, training=False)
        rows.append(_responses(tf.cast(layers[layer_index], tf.float32)).numpy())
    return np.concatenate(rows)


def input_gradients(discriminator, images, y, layer_index, feature):
    """The guided gradient of feature `feature`'s response of layer `layer_index`
    with respect to each of images [N, H, W, C]: [N, H, W, C] float32."""
    images = tf.constant(images, tf.float32)
    labels = None if y is None else tf.constant(y, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        layers = discriminator.layer_outputs(images, labels, training=False,
                                             wrap_activation=guided)
        response = tf.reduce_sum(_responses(tf.cast(layers[layer_index], tf.float32))[:, feature])
    return tape.gradient(response, images).numpy()


def most_active(discriminator, images, y, layer_index, features, images_per_feature):
    """The `features` features of the layer most active on average over the
    images, each with its `images_per_feature` strongest images: [(feature,
    image indices)]."""
    response = responses(discriminator, images, y, layer_index)
    chosen = np.argsort(-response.mean(0), kind="stable")[:features]
    return [(int(f), np.argsort(-response[:, f], kind="stable")[:images_per_feature])
            for f in chosen]


def visible(gradient):
    """A gradient map shown as an image in [0, 1]: zero at mid-grey, the map's
    largest magnitude at black or white."""
    scale = np.max(np.abs(gradient))
    return 0.5 + 0.5 * gradient / scale if scale > 0 else np.full_like(gradient, 0.5)


def feature_rows(discriminator, images, y, layer_index, features=6, images_per_feature=5):
    """For the most active features: (caption, [image, its map, image, map, ...])
    rows, images and maps in [0, 1] (images given in [0, 1] too, for display,
    as `images[1]`): `images` = (model inputs, display images)."""
    inputs, shown = images
    rows = []
    for feature, members in most_active(discriminator, inputs, y, layer_index, features,
                                        images_per_feature):
        gradients = input_gradients(discriminator, inputs[members],
                                    None if y is None else y[members], layer_index, feature)
        cells = []
        for member, gradient in zip(members, gradients):
            cells += [shown[member], visible(gradient)]
        rows.append((f"#{feature}", cells))
    return rows
