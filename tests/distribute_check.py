"""Runs in its own process (TensorFlow's logical devices are fixed once it
starts): trains on 2 logical CPU devices and writes what the tests compare.

    python tests/distribute_check.py checks OUT.json [NAME...]
        the checks named (all by default), each result under its name:
        replicas: MirroredStrategy, 2 replicas, a few iterations; for every
        mirrored variable, the largest difference between its two copies;
        sync_bn: one iteration on one device, and the same iteration (same initial
        weights, batch and z) on 2 replicas with --sync_bn; for each variable,
        the largest difference from the single-device result;
        family, family_rmsprop, family_conv, dcgan_losses, own_statistics, stabilizers,
        uneven_batch: see their docstrings; and always "imports": whether
        main.py's start (its import, then its start_tensorflow: TensorFlow and
        the library imported) started TensorFlow's runtime, and which of
        startup.KERAS_EXTRAS it imported.
    python tests/distribute_check.py worker OUT.npz MAIN_PY_FLAGS...
        main.py's training with those flags (--strategy multi_worker: TF_CONFIG
        names this worker), then, once it ends or a SIGTERM stops it, every
        variable of this worker, by name.
"""

import contextlib
import io
import json
import os
import signal
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.path.dirname(os.path.abspath(__file__))]

import main  # noqa: E402 (main.py's start: its flags, then TensorFlow imported as it does)

main.start_tensorflow()
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import fakes  # noqa: E402
import make  # noqa: E402

from dcgan_tf import app  # noqa: E402
from dcgan_tf import config as config_lib  # noqa: E402
from dcgan_tf import distribute  # noqa: E402
from dcgan_tf import gan as gan_lib  # noqa: E402
from dcgan_tf import startup  # noqa: E402
from dcgan_tf.networks import carpedm20  # noqa: E402

BATCH = 8
CONFIG = carpedm20.ModelConfig(28, 28, 1, y_dim=10, gf_dim=8, df_dim=8, gfc_dim=32, dfc_dim=32)


def gan_on(strategy, sync_bn=False, seed=1):
    return make.gan(CONFIG, batch_size=BATCH, seed=seed, strategy=strategy, sync_bn=sync_bn)


def batch(seed):
    rng = np.random.default_rng(seed)
    real = rng.uniform(0, 1, (BATCH, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    return tf.constant(real), tf.constant(y)


def state(gan):
    """Every variable of the models and optimizers, by name, as numpy (mirrored
    ones read from the first replica; batch-norm moving averages as their mean)."""
    named = carpedm20.variables_by_original_name(gan.generator, gan.discriminator)
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        named.update(optimizer.slots_by_original_name)
        named[optimizer.name + "/beta1_power"] = optimizer.beta1_power
        named[optimizer.name + "/beta2_power"] = optimizer.beta2_power
    return named


def replicas(strategy):
    gan = gan_on(strategy)
    losses = []
    for step in range(3):
        result = gan.train_step(*batch(step))
        losses.append([float(result["d_loss"]), float(result["g_loss"])])
    differences = {}
    for name, variable in state(gan).items():
        copies = [v.numpy() for v in variable.values]
        differences[name] = max(float(np.abs(c - copies[0]).max()) for c in copies)
    return {"replicas": gan.replicas, "losses": losses,
            "iteration": int(gan.iteration), "copy_differences": differences,
            "devices": [v.device for v in gan.generator.trainable_variables[0].values]}


def sync_bn(strategy):
    single = gan_on(tf.distribute.get_strategy())
    initial = {name: v.numpy() for name, v in state(single).items()}
    real, y = batch(0)
    single.train_step(real, y)
    expected = {name: v.numpy() for name, v in state(single).items()}
    gan = gan_on(strategy, sync_bn=True, seed=1)
    for name, variable in state(gan).items():  # the single device's start
        variable.assign(initial[name])
    gan.train_step(real, y)
    return {"replicas": gan.replicas,
            "sync": {name: float(np.abs(variable.numpy() - expected[name]).max())
                     for name, variable in state(gan).items()},
            "moved": {name: float(np.abs(expected[name] - initial[name]).max())
                      for name in expected}}


def family_state(gan):
    """Every variable of a family gan's networks and optimizers, by name."""
    from dcgan_tf.networks import torch_layers  # noqa: PLC0415

    named = {f"G/{k}": v for k, (v, _, _) in torch_layers.torch_state(gan.generator).items()}
    named.update({f"D/{k}": v for k, (v, _, _) in
                  torch_layers.torch_state(gan.discriminator).items()})
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        for i, variable in enumerate(optimizer.variables):
            named[f"{optimizer.name}/{i}/{variable.name}"] = variable
    return named


def family(strategy):
    """For wgan_gp (critic first, the penalty): two iterations on one device, and
    the same on 2 replicas, on a batch whose two halves are equal, so that each
    replica's batch norm sees what the single device sees. And gan (G first;
    its G has batch norms) on a batch of 8 different rows, on 2 replicas with
    --sync_bn ("gan_sync_bn")."""
    return _family_cases(strategy, (("wgan_gp", "wgan_gp", 8, True, False),
                                    ("gan_sync_bn", "gan", 8, False, True)))


def family_rmsprop(strategy):
    """As `family`, for wgan (critic first, clipping, RMSprop)."""
    return _family_cases(strategy, (("wgan", "wgan", 8, True, False),))


def family_conv(strategy):
    """As `family`, for acgan (G first, conv networks, batch norms, two heads)."""
    return _family_cases(strategy, (("acgan", "acgan", 16, True, False),))


def _family_cases(strategy, cases):
    from dcgan_tf.networks import pytorch_gan  # noqa: PLC0415

    results = {}
    for label, model, size, halves, sync_bn in cases:
        config = pytorch_gan.FamilyModelConfig(model, size, 1, 4,
                                               10 if model == "acgan" else 0)
        rng = np.random.default_rng(0)
        half = lambda *shape: (np.concatenate([rng.normal(size=shape)] * 2) if halves  # noqa: E731
                               else rng.normal(size=(2 * shape[0],) + shape[1:])).astype(
                                   np.float32)
        labels = np.eye(10, dtype=np.float32)[np.tile(rng.integers(0, 10, BATCH // 2), 2)]
        draws = []
        for index in range(2):
            y = labels if model == "acgan" else None
            alpha = np.tile(rng.uniform(size=(BATCH // 2, 1, 1, 1)), (2, 1, 1, 1)).astype(
                np.float32) if model == "wgan_gp" else None
            draws.append((np.tanh(half(BATCH // 2, size, size, 1)), y, half(BATCH // 2, 4),
                          y, alpha, index))
        finals, copies = [], {}
        initial = None
        for on in (tf.distribute.get_strategy(), strategy):
            gan = make.without_dropout(make.gan(
                config, model, learning_rate=2e-4, beta2=0.999, batch_size=BATCH, seed=1,
                strategy=on, sync_bn=sync_bn and on is strategy))
            state_now = family_state(gan)
            if initial is None:
                initial = {n: v.numpy() for n, v in state_now.items()}
            for name, variable in state_now.items():
                variable.assign(initial[name])
            for real, y, z, fake_labels, alpha, index in draws:
                gan.step(real, y, gan_lib.Draws(z, fake_labels, alpha),
                         tf.constant(index, tf.int64))
            finals.append({n: v.numpy() for n, v in family_state(gan).items()})
            if on is strategy:
                copies = {n: max(float(np.abs(c.numpy() - v.values[0].numpy()).max())
                                 for c in v.values)
                          for n, v in family_state(gan).items()
                          if hasattr(v, "values") and "running" not in n}
        single, mirrored = finals
        results[label] = {
            "replicas": strategy.num_replicas_in_sync,
            "gaps": {n: float(np.abs(mirrored[n] - single[n]).max()) for n in single},
            "median": float(np.median(np.concatenate(
                [np.abs(mirrored[n] - single[n]).ravel() for n in single
                 if "running_var" not in n]))),
            "moved": {n: float(np.abs(single[n] - initial[n]).max()) for n in single},
            "copy_differences": copies}
    return results


def dcgan_losses(strategy):
    """The DCGAN with --loss wgan and wgan_gp (the critic schedule, clipping, the
    penalty) on 2 replicas, three iterations (G at batch 0 and 2 of n_critic 2):
    for every mirrored variable, the largest difference between its copies;
    the losses; D's largest weight."""
    results = {}
    for loss in ("wgan", "wgan_gp"):
        config = carpedm20.ModelConfig(28, 28, 1, y_dim=10, gf_dim=8, df_dim=8, gfc_dim=32,
                                    dfc_dim=32, critic_norm="layer" if loss == "wgan_gp"
                                    else "batch")
        gan = make.gan(config, loss=loss, learning_rate=1e-4, batch_size=BATCH, seed=1,
                           n_critic=2, strategy=strategy)
        losses = [[float(v) for v in (r["d_loss"], r["g_loss"])]
                  for r in (gan.train_step(*batch(step)) for step in range(3))]
        variables = (list(gan.generator.trainable_variables)
                     + list(gan.discriminator.trainable_variables)
                     + list(gan.d_optimizer.variables) + list(gan.g_optimizer.variables))
        results[loss] = {
            "losses": losses,
            # RMSprop counts its steps; TF1's Adam keeps beta1^(steps + 1).
            "g_steps": (int(gan.g_optimizer.step.numpy())
                        if hasattr(gan.g_optimizer, "step") else
                        round(np.log(gan.g_optimizer.beta1_power.numpy()) / np.log(0.5)) - 1),
            "copy_differences": max(max(float(np.abs(c.numpy() - v.values[0].numpy()).max())
                                        for c in v.values) for v in variables
                                    if hasattr(v, "values")),
            "largest_d_weight": max(float(np.abs(v.numpy()).max())
                                    for v in gan.discriminator.trainable_variables)}
    return results


def own_statistics(strategy):
    """Each kind of batch norm on 2 replicas, each on rows of its own: a
    training-mode call, a cross-replica sum (as D's update holds between G's
    pass and the repeat), then repeat_last_update (the shared G(z) pass's
    second move). Each replica's running means, and the rows' means per
    replica."""
    from dcgan_tf.networks import tf1_layers  # noqa: PLC0415
    from dcgan_tf.networks import torch_layers  # noqa: PLC0415

    rows = np.arange(16, dtype=np.float32).reshape(4, 4)  # two rows per replica
    result = {"row_means": [rows[:2].mean(0).tolist(), rows[2:].mean(0).tolist()]}
    kinds = {"torch": lambda: torch_layers.BatchNorm(4, 1e-5, "bn", "bn"),
             "tf1": lambda: tf1_layers.BatchNorm(4, "bn")}
    for kind, make_norm in kinds.items():
        with strategy.scope():
            norm = make_norm()

        def twice(x, norm=norm):
            norm(x, training=True)
            total = tf.distribute.get_replica_context().all_reduce("sum", tf.reduce_sum(x))
            norm.repeat_last_update()
            return {"total": total}

        tf.function(lambda x, twice=twice: distribute.run_on_rows(strategy, twice, x))(
            tf.constant(rows))
        result[kind] = [v.numpy().tolist()
                        for v in strategy.experimental_local_results(norm.moving_mean)]
    return result


def stabilizers(strategy):
    """The family's gan (G has batch norms) on 2 replicas with --sync_bn and every
    stabilizer, each away from its default (as helpers.ALL_STABILIZERS): three
    iterations, R1 at the first and third (--r1_every 2). For every mirrored
    variable a checkpoint holds, the largest difference between its copies;
    what each part did."""
    from dcgan_tf.networks import pytorch_gan  # noqa: PLC0415

    config = pytorch_gan.FamilyModelConfig("gan", 28, 1, spectral_norm=True)
    gan = make.gan(config, "gan", batch_size=BATCH, seed=1, strategy=strategy, sync_bn=True,
                   spectral_norm=True, ema_decay=0.9, ema_start=1,
                   diffaugment="color,translation,cutout", r1_gamma=1.0, r1_every=2,
                   d_learning_rate=4e-4, g_learning_rate=1e-4, g_updates=1)
    u_before = [norm.u.numpy() for norm in gan.spectral_norms]
    results = [gan.train_step(batch(step)[0] * 2 - 1) for step in range(3)]
    copies = {}
    for name, variable in make.checkpoint_variables(gan):
        if hasattr(variable, "values"):
            values = [v.numpy() for v in variable.values]
            copies[name] = max(float(np.abs(v - values[0]).max()) for v in values)
    return {"replicas": gan.replicas, "copy_differences": copies,
            "losses": [[float(r["d_loss"]), float(r["g_loss"])] for r in results],
            "r1_penalties": [float(r["r1_penalty"]) for r in results],
            "u_moved": [float(np.abs(norm.u.numpy() - u).max())
                        for norm, u in zip(gan.spectral_norms, u_before)],
            "spectral_norms": len(gan.spectral_norms), "ema_updates": int(gan.ema.updates.numpy())}


def uneven_batch(strategy):
    """main.py's command line (in this process) training on 2 replicas with a
    --batch_size of 15: its exit status, what it wrote to stderr, and whether
    it made its output folder. Run last: it makes a strategy of its own."""
    del strategy  # train.run makes its own, over the same 2 logical devices
    with tempfile.TemporaryDirectory() as folder:
        fakes.make_mnist(os.path.join(folder, "data", "mnist"), n_train=70, n_test=10)
        main.FLAGS(["main.py", "--dataset", "mnist", "--input_height=28", "--output_height=28",
                    "--batch_size=15", "--z_dim=8", "--gf_dim=4", "--df_dim=4", "--gfc_dim=16",
                    "--dfc_dim=16", "--train", "--epoch=1", "--strategy=mirrored",
                    "--logical_cpus=2", f"--data_dir={os.path.join(folder, 'data')}",
                    f"--out_dir={os.path.join(folder, 'runs')}"])
        values, typed = main.command_line()
        stderr = io.StringIO()
        status = 0
        with contextlib.redirect_stderr(stderr):
            try:
                app.run(config_lib.of_command_line(values, typed), log=lambda line: None,
                        typed=typed)
            except SystemExit as exited:
                status = exited.code
        main.FLAGS.unparse_flags()
        return {"status": status, "stderr": stderr.getvalue(),
                "wrote": os.path.exists(os.path.join(folder, "runs"))}


def worker(out, *argv):
    """main.py's command line in this process (app.run: its log, messages and
    exit statuses); then, once it has trained all its epochs or been stopped by
    a SIGTERM, every variable of this worker's GAN."""
    from dcgan_tf.commands import train  # noqa: PLC0415

    made = []
    make_gan = train.make_gan

    def making(*args, **kwargs):  # the GAN train.run trains, to read once it ends
        made.append(make_gan(*args, **kwargs))
        return made[-1]

    train.make_gan = making
    main.FLAGS(["main.py", *argv])
    values, typed = main.command_line()
    try:
        app.run(config_lib.of_command_line(values, typed), typed=typed)
    except SystemExit as exited:
        if exited.code == 128 + signal.SIGTERM:  # every worker stops after one iteration,
            _dump(made[-1], out)  # so each reaches the dump's collective reads
        raise
    _dump(made[-1], out)


def _dump(gan, out):
    # Batch-norm moving averages read as a checkpoint stores them: their mean
    # over all replicas (a collective, so every worker reads them in one order).
    np.savez(out, **{name: v.numpy() for name, v in state(gan).items()})


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "worker":
        worker(out, *sys.argv[3:])
    else:  # all the checks, in one process (each start costs seconds)
        from tensorflow.python.eager import context  # noqa: PLC0415
        started = context.context()._context_handle is not None  # noqa: SLF001
        imports = {"tensorflow_started": started,  # and what Keras imported that we never use
                   "keras_extras": sorted(set(startup.KERAS_EXTRAS) & set(sys.modules))}
        if imports["tensorflow_started"]:  # no logical devices now: that alone is reported
            with open(out, "w") as f:
                json.dump({"imports": imports}, f)
            raise SystemExit(0)
        distribute.split_cpu(2)
        checks = {"replicas": replicas, "sync_bn": sync_bn, "family": family,
                  "family_rmsprop": family_rmsprop, "family_conv": family_conv,
                  "dcgan_losses": dcgan_losses, "own_statistics": own_statistics,
                  "stabilizers": stabilizers, "uneven_batch": uneven_batch}
        checks = {name: checks[name] for name in sys.argv[3:] or checks}
        strategy = distribute.make_strategy("mirrored")  # one per process: they share collectives
        with open(out, "w") as f:
            json.dump({"imports": imports,
                       **{name: check(strategy) for name, check in checks.items()}}, f, indent=1)
