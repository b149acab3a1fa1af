"""Runs the original TF1 graphs (../shared/reference/carpedm20-tf1/*.meta) in
graph mode, with names from that folder's README, for the equivalence tests."""

import os

import numpy as np
import tensorflow as tf

# name -> (meta file, G output in training mode, sampler output, D logits real, fake)
GRAPHS = {
    "mnist": ("mnist_conditional_28x28.meta", "generator/Sigmoid:0", "generator_1/Sigmoid:0",
              "discriminator/d_h3_lin/add:0", "discriminator_1/d_h3_lin/add:0"),
    "celebA": ("celebA_64x64.meta", "generator/Tanh:0", "generator_1/Tanh:0",
               "discriminator/d_h4_lin/add:0", "discriminator_1/d_h4_lin/add:0"),
}
LOSSES = {"d_loss_real": "Mean:0", "d_loss_fake": "Mean_1:0", "g_loss": "Mean_2:0",
          "d_loss": "add:0"}
# The gradients each optimizer applies: d_optim's (scope "gradients"), g_optim's.
OPTIMIZED_BY_SCOPE = {"gradients": "discriminator", "gradients_1": "generator"}


def seeded_meta_graph(path, seed):
    """The MetaGraphDef at `path` with every random op's seed pair fixed: the
    graph's own initializers were exported with seed 0 (a new draw each run), and
    a graph-level seed set after the import cannot reach ops already built. With
    (seed, k) on the k-th random op by name, the same seed draws the same weights."""
    meta = tf.compat.v1.MetaGraphDef()
    with open(path, "rb") as f:
        meta.ParseFromString(f.read())
    random_ops = sorted((node for node in meta.graph_def.node if "seed2" in node.attr),
                        key=lambda node: node.name)
    for k, node in enumerate(random_ops, start=1):
        node.attr["seed"].i, node.attr["seed2"].i = seed, k
    return meta


def ordered_batch_norm_updates(meta):
    """Orders the original's batch-norm updates within one D update; returns the
    gates added (tensor name -> the variable whose value it passes on).

    D(real) ("discriminator/") and D(fake) ("discriminator_1/") update the same
    moving averages (tf.contrib's batch_norm with updates_collections=None), and
    nothing in the original's graph orders the two: each process's executor
    picks an order (measured: the moving means of one iteration differ by ~1e-3
    between processes). Ours updates for the real batch first, so D(fake)'s
    update reads the moving average through a gate that passes on D(real)'s
    updated value. A run without real images (G's updates run D(fake) only)
    feeds each gate the variable's current value instead, which is what the
    original reads there."""
    nodes = {node.name: node for node in meta.graph_def.node}
    gates = {}
    for name, node in sorted(nodes.items()):
        if not (name.startswith("discriminator_1/") and name.endswith("/sub")
                and "/AssignMovingAvg" in name):
            continue
        real_update = "discriminator/" + name[len("discriminator_1/"):-len("/sub")]
        variable_read = node.input[0]
        assert real_update in nodes and variable_read.endswith("/read"), name
        gate = meta.graph_def.node.add()
        gate.name, gate.op = name + "_gate", "Identity"
        gate.input.append(real_update)
        gate.attr["T"].CopyFrom(nodes[real_update].attr["T"])
        node.input[0] = gate.name
        gates[gate.name + ":0"] = variable_read[:-len("/read")]
    return gates


class OriginalGraph:
    """One imported original graph in its own session; `seed` fixes the initial
    weights its own initializers draw."""

    def __init__(self, reference_dir, name, seed):
        meta, self.g_output, self.sampler_output, self.real_logits, self.fake_logits = GRAPHS[name]
        self.graph = tf.Graph()
        with self.graph.as_default():
            meta_graph = seeded_meta_graph(os.path.join(reference_dir, meta), seed)
            gates = ordered_batch_norm_updates(meta_graph)
            self.saver = tf.compat.v1.train.import_meta_graph(meta_graph)
            self.variables = {v.name[:-2]: v for v in tf.compat.v1.global_variables()}
            self.gates = {gate: self.variables[variable] for gate, variable in gates.items()}
            self.init = tf.compat.v1.variables_initializer(list(self.variables.values()))
            # The original's own saver (from the .meta) may leave out Adam's state
            # (its Saver predates the optimizers); this one holds every variable.
            self.saver_of_everything = tf.compat.v1.train.Saver(var_list=self.variables)
        self.session = tf.compat.v1.Session(graph=self.graph)
        self._noise = {}
        self.conditional = "y:0" in [op.name + ":0" for op in self.graph.get_operations()]

    def initialize(self):
        self.session.run(self.init)

    def save(self, prefix, step):
        """Writes a real TF1-format checkpoint, as the original's saver does."""
        with self.graph.as_default():
            return self.saver.save(self.session, prefix, global_step=step)

    def restore(self, path):
        with self.graph.as_default():
            self.saver.restore(self.session, path)

    def save_everything(self, prefix):
        """A snapshot of every variable, Adam's included, for `restore_everything`."""
        with self.graph.as_default():
            return self.saver_of_everything.save(self.session, prefix)

    def restore_everything(self, path):
        with self.graph.as_default():
            self.saver_of_everything.restore(self.session, path)

    def feed(self, z, y=None, real=None):
        feed = {"z:0": z}
        if self.conditional:
            feed["y:0"] = y
        if real is not None:
            feed["real_images:0"] = real
        else:  # no D(real) update to wait for: the gates pass on the current values
            feed.update(zip(self.gates, self.session.run(list(self.gates.values()))))
        return feed

    def run(self, fetches, **inputs):
        return self.session.run(fetches, self.feed(**inputs))

    def iteration(self, real, z, y=None, cancelled=None):
        """One original training iteration: d_optim, then g_optim twice, same z (and
        y). Returns the losses each update computed, fetched in the update's own
        run (an extra run would move the batch-norm averages). With `cancelled`
        (the biases' layers of `cancellation_noise`), also that noise in each of
        the three updates, under "noise"."""
        noise = self.cancellation_noise(cancelled or {})
        d_loss, d_noise = self.run(["Adam", LOSSES["d_loss"], noise["gradients"]],
                                   real=real, z=z, y=y)[1:]
        g_noise = [self.run(["Adam_1", noise["gradients_1"]], z=z, y=y)[1]]
        _, g_loss, last = self.run(["Adam_1", LOSSES["g_loss"], noise["gradients_1"]], z=z, y=y)
        losses = {"d_loss": d_loss, "g_loss": g_loss}
        return dict(losses, noise=[d_noise] + g_noise + [last]) if cancelled else losses

    def cancellation_noise(self, layers):
        """For each `layers` entry (bias variable -> the batch norm over its channels,
        e.g. "generator/g_h3/biases" -> "generator/g_bn3"), per channel, how large
        rounding can make that bias's gradient in each optimizer's gradients
        ("gradients": d_optim's, "gradients_1": g_optim's), where it is zero but for
        rounding: the norm's backward pass subtracts its mean over the N positions.

        Each position adds |scale| r (|dy| + |mean dy| + (|x| + |mean x|) r |mean(dy xhat)|),
        r = 1 / sqrt(var + eps): the magnitudes of the terms that cancel (|x|, not
        |x - mean x|, as x - mean x is rounded relative to x). Summed over the
        positions that is S, and rounding errors adding up as a random walk reach
        sqrt(N) u S, u = 2^-24 (Higham, Accuracy and Stability of Numerical
        Algorithms, 2nd ed., section 4.2: sqrt(n) u is the rule of thumb, n u the
        worst case). The worst case is no bound here: n u S is as large as the
        gradient a norm that did not cancel would leave (about S / sqrt(N)).
        A network's norm run on real and on fake images adds both."""
        key = tuple(sorted(layers.items()))
        if key not in self._noise:
            self._noise[key] = {scope: {} for scope in OPTIMIZED_BY_SCOPE}
            with self.graph.as_default():
                for op in self.graph.get_operations():
                    if not op.type.startswith("FusedBatchNormGrad"):
                        continue
                    scope, network, norm = op.name.split("/")[:3]
                    network = network.split("_")[0]  # discriminator_1: D on G's images
                    for bias, norm_name in layers.items():
                        if (norm_name != f"{network}/{norm}"
                                or OPTIMIZED_BY_SCOPE.get(scope) != network):
                            continue
                        noises = self._noise[key][scope]
                        noise = self._rounding_noise(*op.inputs[:5], op.get_attr("epsilon"))
                        noises[bias] = noises[bias] + noise if bias in noises else noise
        return self._noise[key]

    @staticmethod
    def _rounding_noise(dy, x, scale, mean, variance, epsilon):
        axes = [0, 1, 2]
        r = tf.math.rsqrt(variance + epsilon)
        mean_dy = tf.reduce_mean(dy, axes)
        mean_dy_xhat = tf.reduce_mean(dy * (x - mean) * r, axes)
        terms = tf.abs(scale) * r * (tf.abs(dy) + tf.abs(mean_dy)
                                     + (tf.abs(x) + tf.abs(mean)) * r * tf.abs(mean_dy_xhat))
        positions = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        return tf.sqrt(positions) * 2.0 ** -24 * tf.reduce_sum(terms, axes)

    def values(self):
        names = sorted(self.variables)
        return dict(zip(names, self.session.run([self.variables[n] for n in names])))


def random_batch(rng, name, batch_size=64):
    """(real, z, y) for a graph: images in the real placeholder's range."""
    z = rng.uniform(-1, 1, (batch_size, 100)).astype(np.float32)
    if name == "mnist":
        real = rng.uniform(0, 1, (batch_size, 28, 28, 1)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch_size)]
        return real, z, y
    real = rng.uniform(-1, 1, (batch_size, 64, 64, 3)).astype(np.float32)
    return real, z, None
