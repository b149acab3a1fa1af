"""Export of the sampler for serving: the TF2 meaning of the original's
--export (a SavedModel) and --freeze (a frozen GraphDef).

Both hold the generator in inference mode (batch norm on its moving averages)
and take z (and one-hot y for conditional models) for any batch size; `images`
come out in the generator's own range: [0, 1] for sigmoid (conditional)
models, [-1, 1] for tanh ones. Loading either needs TensorFlow only.
"""

import json
import os

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from dcgan_tf import files


class ServingSampler(tf.Module):
    """The sampler behind a `serving_default` signature."""

    def __init__(self, generator, model_config):
        super().__init__(name="serving_sampler")
        self.generator = generator
        z_spec = tf.TensorSpec([None, model_config.z_dim], tf.float32, name="z")
        if model_config.conditional:
            y_spec = tf.TensorSpec([None, model_config.y_dim], tf.float32, name="y")
            self.serve = tf.function(
                lambda z, y: {"images": tf.identity(self.generator(z, y, training=False),
                                                    name="images")},
                input_signature=[z_spec, y_spec])
        else:
            self.serve = tf.function(
                lambda z: {"images": tf.identity(self.generator(z, None, training=False),
                                                 name="images")},
                input_signature=[z_spec])


# Beside each export: where it comes from (the run, the checkpoint, its iteration).
PROVENANCE = "provenance.json"


def export_saved_model(generator, model_config, directory, provenance=None):
    """Writes a SavedModel of the sampler to `directory` (with `provenance` in its
    provenance.json); returns it."""
    module = ServingSampler(generator, model_config)
    with files.written_whole(directory) as partial:  # a whole SavedModel, or none
        tf.saved_model.save(module, partial, signatures={"serving_default": module.serve})
        if provenance:
            with open(os.path.join(partial, PROVENANCE), "w") as f:
                json.dump(provenance, f, indent=2, sort_keys=True)
    return directory


def export_frozen_graph(generator, model_config, path, provenance=None):
    """Writes the sampler as a frozen GraphDef (variables folded into constants):
    inputs `z:0` (and `y:0`), output `images:0`; `provenance` beside it in
    <name>.json. Returns the path."""
    module = ServingSampler(generator, model_config)
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
