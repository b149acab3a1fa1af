"""Export of the sampler for serving: the TF2 meaning of the original's
--export (a SavedModel) and --freeze (a frozen GraphDef).

Both hold the generator in inference mode (batch norm on its moving averages)
and take z (and one-hot y for conditional models) for any batch size; `images`
come out in the generator's own range: [0, 1] for sigmoid (conditional)
models, [-1, 1] for tanh ones. The SavedModel also draws z itself, from the
run's prior (its `sample` signature), which a user feeding z must otherwise
know. Loading either needs TensorFlow only.
"""

import json
import os

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from dcgan_tf import files
from dcgan_tf import latent


class ServingSampler(tf.Module):
    """The sampler behind a `serving_default` signature (z and, for conditional
    models, one-hot y in; images out) and a `sample` signature (a count and a
    seed in; images, the z drawn from the run's own prior and y out), so that a
    user of the export need not know the prior to sample it right."""

    def __init__(self, generator, model_config, z_dist):
        super().__init__(name="serving_sampler")
        self.generator = generator
        z_spec = tf.TensorSpec([None, model_config.z_dim], tf.float32, name="z")
        if model_config.conditional:
            y_spec = tf.TensorSpec([None, model_config.y_dim], tf.float32, name="y")
            self.serve = tf.function(
                lambda z, y: {"images": tf.identity(self.generator(z, y, training=False),
                                                    name="images")},
                input_signature=[z_spec, y_spec], autograph=False)
        else:
            self.serve = tf.function(
                lambda z: {"images": tf.identity(self.generator(z, None, training=False),
                                                 name="images")},
                input_signature=[z_spec], autograph=False)

        def sample(count, seed):
            z = latent.stateless_latent(seed, z_dist, count, model_config.z_dim)
            if not model_config.conditional:
                return {"images": self.generator(z, None, training=False), "z": z}
            # Labels in turn, 0, 1, ..., as test mode's balanced draws.
            y = tf.one_hot(tf.range(count) % model_config.y_dim, model_config.y_dim)
            return {"images": self.generator(z, y, training=False), "z": z, "y": y}

        # Plain Python over Python values, as the sampler's others: nothing for
        # autograph to convert.
        self.sample = tf.function(sample, autograph=False, input_signature=[
            tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int64, name="seed")])


# Beside each export: where it comes from (the run, the checkpoint, its iteration).
PROVENANCE = "provenance.json"


def export_saved_model(generator, model_config, z_dist, directory, provenance=None):
    """Writes a SavedModel of the sampler (its `sample` signature drawing z from
    `z_dist`) to `directory` (with `provenance` in its provenance.json); returns
    it."""
    module = ServingSampler(generator, model_config, z_dist)
    with files.written_whole(directory) as partial:  # a whole SavedModel, or none
        tf.saved_model.save(module, partial, signatures={"serving_default": module.serve,
                                                         "sample": module.sample})
        if provenance:
            with open(os.path.join(partial, PROVENANCE), "w") as f:
                json.dump(provenance, f, indent=2, sort_keys=True)
    return directory


def export_frozen_graph(generator, model_config, z_dist, path, provenance=None):
    """Writes the sampler as a frozen GraphDef (variables folded into constants):
    inputs `z:0` (and `y:0`; z drawn from `z_dist`, which `provenance` names),
    output `images:0`; `provenance` beside it in <name>.json. Returns the path."""
    module = ServingSampler(generator, model_config, z_dist)
    frozen = convert_to_constants.convert_variables_to_constants_v2(
        module.serve.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    with files.written_whole(path) as partial:
        with open(partial, "wb") as f:
            f.write(graph_def.SerializeToString())
    if provenance:
        files.write_text(os.path.splitext(path)[0] + ".json",
                         json.dumps(provenance, indent=2, sort_keys=True))
    return path


def frozen_graph_tensor_names(path):
    """(input names, output name) of a frozen sampler, read from the file."""
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    inputs = [node.name + ":0" for node in graph_def.node if node.op == "Placeholder"]
    outputs = [node.name + ":0" for node in graph_def.node
               if node.op == "Identity" and node.name.endswith("images")]
    return inputs, outputs[-1]
