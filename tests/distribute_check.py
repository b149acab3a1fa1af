"""Runs in its own process (TensorFlow's logical devices are fixed once it
starts): trains on 2 logical CPU devices and writes what the tests compare.

    python tests/distribute_check.py replicas OUT.json
        MirroredStrategy, 2 replicas, a few iterations; for every mirrored
        variable, the largest difference between its two copies.
    python tests/distribute_check.py worker OUT.npz MAIN_PY_FLAGS...
        main.py's training with those flags (--strategy multi_worker: TF_CONFIG
        names this worker), then every variable of this worker, by name.
    python tests/distribute_check.py sync_bn OUT.json
        one iteration on one device, and the same iteration (same initial
        weights, batch and z) on 2 replicas with --sync_bn and without; for each
        variable, the largest difference from the single-device result.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dcgan_tf import distribute  # noqa: E402
from dcgan_tf import models  # noqa: E402
from dcgan_tf import training  # noqa: E402

BATCH = 8
CONFIG = models.ModelConfig(28, 28, 1, y_dim=10, gf_dim=8, df_dim=8, gfc_dim=32, dfc_dim=32)


def trainer_on(strategy, sync_bn=False, seed=1):
    tf.random.set_seed(seed)
    return training.GANTrainer(CONFIG, 0.0002, 0.5, "uniform_signed", BATCH, seed,
                               strategy=strategy, sync_bn=sync_bn)


def batch(seed):
    rng = np.random.default_rng(seed)
    real = rng.uniform(0, 1, (BATCH, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    return tf.constant(real), tf.constant(y)


def state(trainer):
    """Every variable of the models and optimizers, by name, as numpy (mirrored
    ones read from the first replica; batch-norm moving averages as their mean)."""
    named = models.variables_by_original_name(trainer.generator, trainer.discriminator)
    for optimizer in (trainer.d_optimizer, trainer.g_optimizer):
        named.update(optimizer.slots_by_original_name)
        named[optimizer.name + "/beta1_power"] = optimizer.beta1_power
        named[optimizer.name + "/beta2_power"] = optimizer.beta2_power
    return named


def replicas(out):
    strategy = distribute.make_strategy("mirrored")
    trainer = trainer_on(strategy)
    losses = []
    for step in range(3):
        result = trainer.train_step(*batch(step))
        losses.append([float(result["d_loss"]), float(result["g_loss"])])
    differences = {}
    for name, variable in state(trainer).items():
        copies = [v.numpy() for v in variable.values]
        differences[name] = max(float(np.abs(c - copies[0]).max()) for c in copies)
    json.dump({"replicas": trainer.replicas, "losses": losses,
               "iteration": int(trainer.iteration), "copy_differences": differences,
               "devices": [v.device for v in trainer.generator.trainable_variables[0].values]},
              open(out, "w"), indent=1)


def sync_bn(out):
    single = trainer_on(tf.distribute.get_strategy())
    initial = {name: v.numpy() for name, v in state(single).items()}
    real, y = batch(0)
    single.train_step(real, y)
    expected = {name: v.numpy() for name, v in state(single).items()}
    results = {"replicas": None}
    strategy = distribute.make_strategy("mirrored")
    for synchronized in (True, False):
        trainer = trainer_on(strategy, sync_bn=synchronized, seed=1)
        for name, variable in state(trainer).items():  # the single device's start
            variable.assign(initial[name])
        trainer.train_step(real, y)
        results["replicas"] = trainer.replicas
        results["sync" if synchronized else "per_replica"] = {
            name: float(np.abs(variable.numpy() - expected[name]).max())
            for name, variable in state(trainer).items()}
    results["moved"] = {name: float(np.abs(expected[name] - initial[name]).max())
                        for name in expected}
    json.dump(results, open(out, "w"), indent=1)


def worker(out, *argv):
    import main  # noqa: PLC0415 (defines main.py's flags)
    from dcgan_tf import app  # noqa: PLC0415

    main.FLAGS(["main.py", *argv])
    trainer = app.train(main.config_from_flags().validate())
    # Batch-norm moving averages read as a checkpoint stores them: their mean
    # over all replicas (a collective, so every worker reads them in one order).
    np.savez(out, **{name: v.numpy() for name, v in state(trainer).items()})


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "worker":
        worker(out, *sys.argv[3:])
    else:
        distribute.split_cpu(2)
        {"replicas": replicas, "sync_bn": sync_bn}[mode](out)
