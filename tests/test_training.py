"""The training steps and loop, on tiny models and data the tests make."""

import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import fakes
import same_numbers
import make
from helpers import TINY_MODEL
from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import curves
from dcgan_tf import data
from dcgan_tf import gan as gan_lib
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf import training
from dcgan_tf.commands import train
from dcgan_tf.networks import carpedm20


def tiny_gan(conditional=True, batch_size=8, seed=0, **flags):
    if conditional:
        config = carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL)
    else:
        config = carpedm20.ModelConfig(16, 16, 3, **TINY_MODEL)
    return make.gan(config, batch_size=batch_size, seed=seed, **flags)


def values(variables):
    return [v.numpy().copy() for v in variables]


def _family_run(tmp_path, model, steps_per_call):
    """A family model trained two epochs of 44 digits (five batches of 8 and one
    of 4 each), sampling every 10 iterations and saving every 9: with 4 per
    call, calls are cut by a grid, by a checkpoint and by the smaller batch.
    Returns (its log lines without their times, its folder)."""
    data_dir = tmp_path / "data"
    if not data_dir.exists():
        fakes.make_mnist(str(data_dir / "mnist"), n_train=44, n_test=8, seed=7)
    lines = []
    name = f"{model}_{steps_per_call}"
    make.run(log=lines.append, dataset="mnist", model=model, data_dir=str(data_dir),
             out_dir=str(tmp_path / "out"), out_name=name, batch_size=8, epoch=2, seed=0,
             sample_freq=10, ckpt_freq=9, max_to_keep=5, train=True,
             steps_per_call=steps_per_call)
    logged = [line.split(" time: ")[0] + line.split(" time: ")[1].split(",", 1)[1]
              for line in lines if " Epoch:" in line]
    return logged, tmp_path / "out" / name


def _saved(run):
    """Every checkpoint's numbers, every grid's bytes, every scalar summary."""
    folder = run / "checkpoints"
    prefixes = sorted(str(folder / f[:-len(".index")]) for f in os.listdir(folder)
                      if f.endswith(".index"))
    grids = {f: (run / "samples" / f).read_bytes() for f in sorted(os.listdir(run / "samples"))
             if f.startswith("train_")}
    return ({os.path.basename(p): same_numbers.checkpoint_numbers(p) for p in prefixes}, grids,
            same_numbers.event_scalars(str(run / "logs")))


# First in the file, the longest here: as the suite's last tests, one worker
# would run them alone while the other waits.
# The family's MLPs, one per schedule (carpedm20's networks run one per call):
# G-first with and without labels, the clipped RMSprop critic, the penalty. CI
# runs one of each schedule, with the most inputs per iteration: cgan's labels,
# wgan_gp's penalty draws; -m slow the others.
@pytest.mark.parametrize("model", [pytest.param("gan", marks=pytest.mark.slow), "cgan",
                                   pytest.param("wgan", marks=pytest.mark.slow), "wgan_gp"])
def test_several_iterations_per_call_log_save_and_sample_as_one_per_call(tmp_path, model):
    """Same log lines, checkpoints (where and what), grids and summaries, bit
    for bit: the loop runs the same ops on the same inputs in the same order,
    and the numbers are compared on the same CPU, so rounding cannot differ."""
    one_logged, one_run = _family_run(tmp_path, model, 1)
    assert len(one_logged) == 12
    several_logged, several_run = _family_run(tmp_path, model, 4)
    assert several_logged == one_logged
    one, several = _saved(one_run), _saved(several_run)
    assert list(several[0]) == list(one[0]) == ["model.b8-12", "model.b8-9"]
    assert several == one
    # Summaries at the original's tags, not under the loop's name scope.
    assert "d_loss" in several[2] and len(several[2]["d_loss"]) == 12


@pytest.mark.parametrize("conditional", [True, False])
def test_one_iteration_updates_everything_and_reports_finite_losses(conditional):
    gan = tiny_gan(conditional)
    shape = (8, 28, 28, 1) if conditional else (8, 16, 16, 3)
    real = tf.random.uniform(shape)
    y = tf.one_hot(tf.range(8) % 10, 10) if conditional else None
    everything = gan.generator.variables + gan.discriminator.variables
    before = values(everything)
    result = gan.train_step(real, y)
    assert np.isfinite(float(result["d_loss"])) and np.isfinite(float(result["g_loss"]))
    np.testing.assert_allclose(float(result["d_loss"]),
                               float(result["d_loss_real"] + result["d_loss_fake"]), rtol=1e-6)
    unchanged = [v.name for v, old in zip(everything, before) if np.array_equal(v.numpy(), old)]
    assert unchanged == []  # weights, gammas, betas and every moving average moved
    assert int(gan.iteration) == 1
    # D once, G twice: each Adam counts its own steps in its beta1 power.
    assert float(gan.d_optimizer.beta1_power) == pytest.approx(0.5 ** 2)
    assert float(gan.g_optimizer.beta1_power) == pytest.approx(0.5 ** 3)


def test_a_schedule_says_what_it_cannot_do_and_shares_g_z_with_one_g_update():
    with pytest.raises(ValueError, match="at least one G update"):
        systems.Schedule(generator_updates=0)
    # carpedm20's iteration (D's G(z) shared with G's update) with one G update:
    # that update is the iteration's G loss (it once was never assigned).
    system = systems.compose("dcgan", "", make.config(batch_size=8, seed=0))
    once = dataclasses.replace(system, schedule=dataclasses.replace(system.schedule,
                                                                    generator_updates=1))
    gan = gan_lib.GAN(once, carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL),
                      batch_size=8, seed=0)
    result = gan.train_step(tf.random.uniform((8, 28, 28, 1)), tf.one_hot(tf.range(8), 10))
    assert np.isfinite(float(result["g_loss"])) and result["G"].shape == (8, 28, 28, 1)
    assert float(gan.g_optimizer.beta1_power) == pytest.approx(0.5 ** 2)  # one G step


def test_steps_trace_once():
    gan = tiny_gan(conditional=False)
    for _ in range(3):
        gan.train_step(tf.random.uniform((8, 16, 16, 3)), None)
    assert gan.train_step.experimental_get_tracing_count() == 1


def test_xla_iteration_computes_the_same_update():
    """The step compiled by XLA (--xla) against the same step run op by op, on the
    same z (XLA draws its own random numbers). XLA fuses and reorders float ops,
    so they agree to float rounding, not to the bit."""
    plain, compiled = tiny_gan(seed=4), tiny_gan(seed=5, xla=True)
    for mine, theirs in zip(compiled.generator.variables + compiled.discriminator.variables,
                            plain.generator.variables + plain.discriminator.variables):
        mine.assign(theirs)  # the same start
    real, y = tf.random.uniform((8, 28, 28, 1), seed=1), tf.one_hot(tf.range(8), 10)
    draws = gan_lib.Draws(tf.random.uniform((8, 8), -1, 1, seed=2))
    expected = plain.step(real, y, draws, 0)
    got = compiled.step(real, y, draws, 0)
    np.testing.assert_allclose([float(got["d_loss"]), float(got["g_loss"])],
                               [float(expected["d_loss"]), float(expected["g_loss"])], rtol=1e-4)
    # A bias right before a batch norm has a true gradient of exactly 0: Adam turns
    # its float noise into +-lr steps, so any reordering of float ops moves it
    # arbitrarily. Every other variable must agree.
    before_batch_norm = ("d_h1_conv/biases", "d_h2_lin/bias", "g_h0_lin/bias",
                         "g_h1_lin/bias", "g_h2/biases")
    compared = 0
    for mine, theirs in zip(compiled.generator.trainable_variables + compiled.discriminator.
                            trainable_variables, plain.generator.trainable_variables
                            + plain.discriminator.trainable_variables):
        if not any(name in mine.name for name in before_batch_norm):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-5, err_msg=mine.name)
            compared += 1
    assert compared == 26 - len(before_batch_norm)


@pytest.mark.parametrize("z_dist,low,high", [("uniform_signed", -1, 1),
                                             ("uniform_unsigned", 0, 1)])
def test_z_dist_is_honoured(z_dist, low, high):
    z = tiny_gan(False, batch_size=64, z_dist=z_dist).sample_z.numpy()
    assert z.min() >= low and z.max() <= high and z.min() < low + 0.1 and z.max() > high - 0.1
    normal = tiny_gan(False, batch_size=64, z_dist="normal01").sample_z.numpy()
    assert normal.min() < -1.5 and abs(normal.std() - 1) < 0.1


def run_config(tmp_path, **overrides):
    options = dict(dataset="mnist", input_height=28, output_height=28, batch_size=8,
                   epoch=1, sample_freq=5, ckpt_freq=10, max_to_keep=2, train=True,
                   out_dir=str(tmp_path / "out"), seed=3, **TINY_MODEL)
    options.update(overrides)
    return config_lib.Config(**options).validate()


def mnist_data(tmp_path, n_train=150, n_test=10):
    return data.IdxData(*data.load_idx_dataset(fakes.make_mnist(str(tmp_path / "mnist"),
                                                                n_train, n_test)))


def train_once(tmp_path, config, source):
    """The training loop on the GAN train mode makes of `config` (its seed included)."""
    model_config = carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL)
    gan = train.make_gan(config, systems.compose(config.model, config.loss, config), model_config)
    lines = []
    training.train(gan, source, config, runs.RunPaths.for_run(config), lines.append)
    return gan, lines


def test_smoke_train_writes_samples_checkpoints_and_resumes(tmp_path):
    source = mnist_data(tmp_path)               # 160 images -> 20 batches of 8
    config = run_config(tmp_path)
    paths = runs.RunPaths.for_run(config)
    gan, lines = train_once(tmp_path, config, source)
    log = [line for line in lines if line.startswith("[") and "Epoch" in line]
    assert len(log) == 20
    assert log[0].startswith("[       1 Epoch:[ 0/ 1] [   0/  20] time: ")
    assert ", d_loss: " in log[0] and ", g_loss: " in log[0]
    assert sorted(os.listdir(paths.sample_dir)) == [f"train_{i:08d}.png" for i in (5, 10, 15, 20)]
    assert checkpoints.latest_checkpoint(paths.checkpoint_dir).endswith("model.b8-20")
    assert len([f for f in os.listdir(paths.checkpoint_dir) if f.endswith(".index")]) == 2
    assert not [line for line in lines if "was traced" in line]  # no retracing
    scalars = curves.read_scalars(paths.log_dir, ("d_loss", "g_loss", "d_loss_real",
                                                  "d_loss_fake"))
    for tag, (steps, values) in scalars.items():  # the original's names, every iteration
        np.testing.assert_array_equal(steps, np.arange(1, 21), err_msg=tag)
    d_loss_line = float(log[-1].split("d_loss: ")[1].split(",")[0])
    assert scalars["d_loss"][1][-1] == pytest.approx(d_loss_line, abs=1e-7)

    written = {path: os.stat(path).st_mtime_ns for folder in (paths.sample_dir,
                                                              paths.checkpoint_dir)
               for path in glob.glob(os.path.join(folder, "*"))}
    again, lines = train_once(tmp_path, config, source)  # its one epoch is done
    assert int(again.iteration) == 20
    assert " [*] The run has trained its 1 epoch already (iteration 20): nothing to train." \
           " An --epoch above 1 trains on from here." in lines
    assert not [line for line in lines if " Epoch:" in line or "[Sample]" in line]
    assert {path: os.stat(path).st_mtime_ns for path in written} == written
    assert len(glob.glob(os.path.join(paths.log_dir, "*"))) == 1  # no second event file

    resumed, lines = train_once(tmp_path, dataclasses.replace(config, epoch=2), source)
    log = [line for line in lines if line.startswith("[") and "Epoch" in line]
    assert log[0].startswith("[      21 Epoch:[ 1/ 2] [   0/  20]")
    assert int(resumed.iteration) == 40 and int(resumed.epoch) == 2
    _, lines = train_once(tmp_path, config, source)  # --epoch 1 again, on a run of two
    assert " [*] The run has trained 2 epochs already, more than --epoch 1 (iteration 40):" \
           " nothing to train. An --epoch above 2 trains on from here." in lines


def test_resume_mid_epoch_continues_at_the_saved_batch(tmp_path):
    source = mnist_data(tmp_path)
    config = run_config(tmp_path, train_size=80, ckpt_freq=3, max_to_keep=10)  # 10 batches
    train_once(tmp_path, config, source)
    paths = runs.RunPaths.for_run(config)
    # As if killed after iteration 9: the run's latest checkpoint is model.b8-9.
    for path in checkpoints.files_of(os.path.join(paths.checkpoint_dir, "model.b8-10")):
        os.remove(path)
    _, lines = train_once(tmp_path, config, source)
    log = [line for line in lines if line.startswith("[") and "Epoch" in line]
    assert len(log) == 1 and log[0].startswith("[      10 Epoch:[ 0/ 1] [   9/  10]")


def test_checkpoint_round_trip_restores_every_value(tmp_path):
    gan = tiny_gan()
    gan.train_step(tf.random.uniform((8, 28, 28, 1)), tf.one_hot(tf.range(8), 10))
    keeper = checkpoints.CheckpointKeeper(gan.checkpoint_objects(), str(tmp_path), 1, 8)
    keeper.save(1)
    fresh = tiny_gan(seed=99)
    restored = checkpoints.CheckpointKeeper(fresh.checkpoint_objects(), str(tmp_path), 1, 8)
    restored.restore(checkpoints.newest_intact(str(tmp_path), print))
    saved = {name for name, _ in tf.train.list_variables(keeper.latest)}
    def state(obj):
        if isinstance(obj, tf.random.Generator):
            return [obj.state]
        return obj.variables if isinstance(obj, tf.Module) else [obj]

    for name, obj in gan.checkpoint_objects().items():
        theirs = state(fresh.checkpoint_objects()[name])
        assert len(state(obj)) == len(theirs)
        for a, b in zip(state(obj), theirs):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert int(fresh.iteration) == 1
    # The original's 92 (36 model variables, 52 Adam slots, 4 beta powers), then
    # iteration, epoch, epoch_batch, rng state, sample_z, sample_y, and TF's own 2.
    assert len(saved) == 92 + 6 + 2
    # The generator's random state came back: both draw the same next z.
    np.testing.assert_array_equal(gan.rng.normal([3]), fresh.rng.normal([3]))


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    source = mnist_data(tmp_path)
    config = run_config(tmp_path, ckpt_freq=5)
    gan = tiny_gan(seed=3)
    paths = runs.RunPaths.for_run(config)
    clean_epoch = source.epoch_dataset

    def epoch_with_a_nan_batch(*args, **kwargs):  # batch 8 holds a NaN pixel
        return clean_epoch(*args, **kwargs).enumerate().map(
            lambda i, batch: (tf.where(tf.equal(i, 7), batch[0] * np.nan, batch[0]), batch[1]))

    source.epoch_dataset = epoch_with_a_nan_batch
    with pytest.raises(training.NonFiniteLossError, match="d_loss became nan at iteration 8"):
        training.train(gan, source, config, paths, lambda line: None)
    assert checkpoints.latest_checkpoint(paths.checkpoint_dir).endswith("model.b8-5")


# CI holds --original_loss_eval to the original's graph (test_equivalence_original)
# and to its recorded numbers (test_same_numbers).
@pytest.mark.slow
def test_original_loss_eval_changes_only_the_moving_averages(tmp_path):
    """The original's three post-iteration evaluations run in training mode: they
    move the batch-norm moving averages and nothing else."""
    source = mnist_data(tmp_path)
    plain, _ = train_once(tmp_path, run_config(tmp_path, out_name="plain", train_size=48),
                          source)
    evaluated, lines = train_once(
        tmp_path, run_config(tmp_path, out_name="eval", train_size=48, original_loss_eval=True),
        source)
    assert sum(" Epoch:" in line for line in lines) == 6
    pairs = list(zip(plain.generator.variables + plain.discriminator.variables,
                     evaluated.generator.variables + evaluated.discriminator.variables))
    for a, b in pairs:
        if "moving_" in a.name:
            assert not np.array_equal(a.numpy(), b.numpy()), a.name
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
