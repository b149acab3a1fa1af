"""An exponential moving average of G's weights, for sampling (Yazici et al.
2019; every BigGAN- and StyleGAN-class recipe): a second generator whose
weights follow G's, averaged <- decay * averaged + (1 - decay) * G, after each
of G's updates. The averaged G is what test mode, --generate, --evaluate,
--visualize, the paper's experiments and --export sample (--raw_generator
reaches the trained one), and what training's sample grids show.

Warm-up as PyTorch-StudioGAN's (src/utils/ema.py): before `start` G updates
the average is a copy of G (decay 0), so it does not carry the random initial
weights into the average. Batch norm's moving statistics are not weights: by
default they are copied from G after each update ("copied", StudioGAN's
buffers), or averaged like the weights ("averaged"); bench/stabilizers.py
measures which samples better (README).
"""

import tensorflow as tf

from dcgan_tf import distribute

STATISTICS = ("copied", "averaged")


class ExponentialMovingAverage(tf.Module):
    """The average of `generator`'s variables, held in `averaged` (a generator of
    the same networks); `update()` after each of G's updates."""

    # Both generators are tracked where they belong (the GAN's checkpoint).
    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"generator", "averaged"})

    def __init__(self, generator, averaged, decay, start=0, statistics="copied",
                 name="ema"):
        super().__init__(name=name)
        if not 0 < decay < 1:
            raise ValueError(f"An EMA's decay is in (0, 1), got {decay}.")
        if statistics not in STATISTICS:
            raise ValueError(f"statistics is one of {', '.join(STATISTICS)}, got {statistics!r}.")
        self.generator = self._no_dependency(generator)
        self.averaged = self._no_dependency(averaged)
        self.decay, self.start, self.statistics = float(decay), int(start), statistics
        with self.name_scope:
            # G's updates averaged so far (the warm-up counts them).
            self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self._weights = list(zip(generator.trainable_variables, averaged.trainable_variables))
        trained = {id(v) for v in generator.trainable_variables}
        self._statistics = [(source, target) for source, target
                            in zip(generator.variables, averaged.variables)
                            if id(source) not in trained]
        if [s.shape for s, _ in self._weights] != [t.shape for _, t in self._weights]:
            raise ValueError("The averaged generator's variables are not G's.")

    def copy(self):
        """The averaged generator := G (a new run's start)."""
        for source, target in self._weights + self._statistics:
            target.assign(source)

    def update(self):
        """One update after G's: decay 0 (a copy) before `start` updates, then
        `decay`."""
        decay = tf.where(self.updates >= self.start, self.decay, 0.0)
        averaged = [(target, (source, decay)) for source, target in self._weights]
        if self.statistics == "averaged":
            averaged += [(target, (source, decay)) for source, target in self._statistics]
        copied = [(target, (source,)) for source, target in self._statistics
                  if self.statistics == "copied"]
        distribute.update_each_copy(averaged, _average)
        distribute.update_each_copy(copied, lambda target, source: target.assign(source))
        distribute.update_each_copy([(self.updates, ())], lambda count: count.assign_add(1))


def _average(target, source, decay):
    """target <- decay * target + (1 - decay) * source, as target -= (1 - decay)
    (target - source): one op, exact for decay 0."""
    return target.assign_sub((1.0 - decay) * (target - source))
