"""--mixed_precision: bfloat16 steps stay close to float32, float16's dynamic loss
scaling skips overflowing steps and grows back, and main.py wires it up."""

import numpy as np
import pytest
import tensorflow as tf

import fakes
import make
from conftest import cpu_only
from helpers import TINY_MODEL
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import gan as gan_lib
from dcgan_tf import precision
from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan

CONFIG = carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL)


def gan_in(dtype):
    return make.gan(CONFIG, batch_size=8, seed=3, compute_dtype=dtype)


def batch():
    rng = np.random.default_rng(0)
    return (tf.constant(rng.uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)),
            tf.one_hot(tf.range(8) % 10, 10))


def weights(gan):
    return {v.name: v.numpy() for v in gan.generator.variables + gan.discriminator.variables}


# float16 runs emulated on a CPU (slow): CI runs its loss-scaling tests below.
@pytest.mark.parametrize("dtype", ["bfloat16", pytest.param("float16", marks=pytest.mark.slow)])
def test_low_precision_iteration_tracks_float32(dtype):
    reference, mixed = gan_in("float32"), gan_in(dtype)
    start = weights(reference)
    for name, variable in carpedm20.variables_by_original_name(
            mixed.generator, mixed.discriminator).items():
        variable.assign(start[name + ":0"])
    expected, result = reference.train_step(*batch()), mixed.train_step(*batch())
    # Same z (same seed), same batch: the losses agree to 16-bit precision.
    for name in ("d_loss", "g_loss"):
        assert float(result[name]) == pytest.approx(float(expected[name]), abs=0.02), name
    assert result["G"].dtype == tf.float32
    after, moved = weights(mixed), weights(reference)
    for name, value in after.items():
        assert value.dtype == np.float32, name  # variables (and BN statistics) stay float32
        assert not np.array_equal(value, start[name]), f"{name} did not move"
    # Adam's first step is about lr * sign(g): most weights take the same step.
    same_direction = np.mean(np.concatenate([
        (np.sign(after[n] - start[n]) == np.sign(moved[n] - start[n])).ravel()
        for n in after if "moving" not in n]))
    assert same_direction > 0.9


def test_float16_overflow_skips_the_step_and_halves_the_scale():
    gan = gan_in("float16")
    assert gan.g_optimizer.loss_scale is not None
    gan.d_optimizer.loss_scale.scale.assign(2.0 ** 100)  # float16 gradients overflow
    d_weights = [v.numpy() for v in gan.d_optimizer.var_list]
    result = gan.train_step(*batch())
    assert np.isfinite(float(result["d_loss"]))
    for variable, before in zip(gan.d_optimizer.var_list, d_weights):
        np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
    assert float(gan.d_optimizer.beta1_power) == 0.5  # the skipped step is not counted
    assert float(gan.d_optimizer.loss_scale.scale) == 2.0 ** 99
    assert int(gan.d_optimizer.loss_scale.good_steps) == 0
    # G's scale was fine: both its steps were taken.
    assert float(gan.g_optimizer.beta1_power) == 0.5 ** 3
    assert int(gan.g_optimizer.loss_scale.good_steps) == 2


def test_loss_scale_doubles_after_enough_good_steps():
    gan = gan_in("float16")
    scale = gan.g_optimizer.loss_scale
    scale.growth_interval = 4  # G takes 2 steps per iteration
    start = float(scale.scale)
    gan.train_step(*batch())
    assert float(scale.scale) == start and int(scale.good_steps) == 2
    gan.train_step(*batch())
    assert float(scale.scale) == 2 * start and int(scale.good_steps) == 0


def test_float32_has_no_loss_scale():
    gan = gan_in("float32")
    assert gan.d_optimizer.loss_scale is None and gan.g_optimizer.loss_scale is None


def test_bfloat16_on_cpus_without_it_is_detected(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("flags\t\t: fpu sse2 avx2 fma amx_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("flags\t\t: fpu sse2 avx2 fma avx512f\n")
    assert precision.cpu_has_native_bf16(str(with_amx))
    assert not precision.cpu_has_native_bf16(str(without))
    assert not precision.cpu_has_native_bf16(str(tmp_path / "missing"))
    assert precision.compute_dtype(False) == "float32"


@cpu_only
def test_mixed_precision_is_bfloat16_without_a_gpu():
    assert precision.compute_dtype(True) == "bfloat16"


# CI trains --mixed_precision through main.py's flags in test_every_flag.py.
@pytest.mark.slow
@cpu_only
def test_main_trains_with_mixed_precision(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=40, n_test=8)
    config = config_lib.Config(
        dataset="mnist", input_height=28, output_height=28, train=True, epoch=1, batch_size=8,
        data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"), sample_freq=100,
        mixed_precision=True, seed=1, **TINY_MODEL).validate()
    lines = []
    gan = app.run(config, log=lines.append)
    assert " [*] Mixed precision: the steps compute in bfloat16" in lines
    assert int(gan.iteration) == 6
    assert any(line.startswith(" [*] Training done: 6 iterations") for line in lines)


@pytest.mark.parametrize("model,size,classes", [("gan", 28, 0), ("acgan", 32, 10)])
def test_a_family_model_in_bfloat16_tracks_float32(model, size, classes):
    """The family's layers compute in bfloat16 under --mixed_precision (batch norms
    and losses in float32): one iteration on the same draws as float32's."""
    config = pytorch_gan.FamilyModelConfig(model, size, 1, 8, classes)
    reference, mixed = (make.without_dropout(make.gan(config, model, batch_size=8, seed=3,
                                                      compute_dtype=dtype))
                        for dtype in ("float32", "bfloat16"))
    start = {v.name: v.numpy() for v in reference.generator.variables
             + reference.discriminator.variables}
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (8, size, size, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)] if classes else None
    draws = gan_lib.Draws(rng.normal(size=(8, 8)).astype(np.float32),
                          np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)] if classes else None)
    expected, result = reference.step(real, y, draws, 0), mixed.step(real, y, draws, 0)
    for name in ("d_loss", "g_loss"):
        assert result[name].dtype == tf.float32
        assert float(result[name]) == pytest.approx(float(expected[name]), abs=0.02), name
    after = {v.name: v for v in mixed.generator.variables + mixed.discriminator.variables}
    moved = {v.name: v.numpy() for v in reference.generator.variables
             + reference.discriminator.variables}
    assert not [v.name for v in after.values() if v.dtype in (tf.bfloat16, tf.float16)]
    same_direction = np.mean(np.concatenate([
        (np.sign(after[n].numpy() - start[n]) == np.sign(moved[n] - start[n])).ravel()
        for n in after if "running" not in n and "moving" not in n and "num_batches" not in n]))
    assert same_direction > 0.9


def test_float16_overflow_skips_a_torch_adam_step_and_halves_the_scale():
    """PyTorch's Adam under float16 (--mixed_precision on a GPU): an overflowing
    step changes nothing but the loss scale, as TF1's Adam's does."""
    gan = make.gan(pytorch_gan.FamilyModelConfig("gan", 8, 1, 4), "gan", batch_size=6,
                   compute_dtype="float16")
    gan.d_optimizer.loss_scale.scale.assign(2.0 ** 100)  # float16 gradients overflow
    weights = [v.numpy() for v in gan.d_optimizer.var_list]
    result = gan.step(np.zeros((6, 8, 8, 1), np.float32), None,
                      gan_lib.Draws(np.ones((6, 4), np.float32)), 0)
    assert np.isfinite(float(result["d_loss"]))
    for variable, before in zip(gan.d_optimizer.var_list, weights):
        np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
    assert int(gan.d_optimizer.step) == 0 and float(gan.d_optimizer.loss_scale.scale) == 2.0 ** 99
    assert int(gan.g_optimizer.step) == 1  # G's scale was fine: its step was taken
