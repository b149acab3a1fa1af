"""--loss on carpedm20's DCGAN: each objective's defaults and flags, its
schedule and optimizer in the gan, and train -> resume -> test mode."""

import numpy as np
import pytest
import tensorflow as tf

import fakes
import make
from dcgan_tf import optim
from dcgan_tf import systems
from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import tf1_layers

MNIST = ["--dataset", "mnist", "--input_height=28", "--output_height=28"]
TINY = dict(output_height=28, output_width=28, c_dim=1, y_dim=10, z_dim=6, gf_dim=4, df_dim=4,
            gfc_dim=16, dfc_dim=16)


def test_each_loss_brings_its_papers_settings_and_a_given_flag_wins(parsed_flags):
    wgan = parsed_flags(*MNIST, "--loss", "wgan").validate()
    assert (wgan.learning_rate, wgan.n_critic, wgan.clip_value) == (5e-5, 5, 0.01)
    assert wgan.run_name() == "mnist_x28.z100.uniform_signed.y28.b64.wgan"
    gp = parsed_flags(*MNIST, "--loss", "wgan_gp", "--learning_rate", "3e-4").validate()
    assert (gp.learning_rate, gp.beta1, gp.beta2, gp.n_critic, gp.lambda_gp) == (
        3e-4, 0.5, 0.9, 5, 10.0)
    fgan = parsed_flags(*MNIST, "--loss", "fgan", "--divergence", "hellinger").validate()
    assert fgan.run_name().endswith(".fgan_hellinger") and fgan.learning_rate == 0.0002
    assert parsed_flags(*MNIST, "--loss", "lsgan", "--ls_abc=-1,1,0").ls_targets == (-1, 1, 0)


@pytest.mark.parametrize("argv,message", [
    (["--loss", "lsgan", "--clip_value", "0.1"], "--clip_value does not apply to --model dcgan"
                                                 " --loss lsgan (it is read by --model wgan,"
                                                 " --loss wgan)"),
    (["--divergence", "js"], "--divergence does not apply to --model dcgan (it is read by"
                             " --loss fgan)"),
    (["--loss", "lsgan", "--ls_abc", "0,1"], "--ls_abc takes three numbers"),
    (["--loss", "hinge", "--original_loss_eval"], "drop it with --loss"),
])
def test_flags_that_dont_fit_the_loss_are_errors(parsed_flags, argv, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parsed_flags(*MNIST, *argv).validate()


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)),
            tf.constant(np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]))


@pytest.mark.parametrize("loss", list(systems.LOSSES))
def test_every_loss_trains_the_dcgan(loss):
    critic_norm = "layer" if loss == "wgan_gp" else "batch"
    config = carpedm20.ModelConfig(**TINY, critic_norm=critic_norm)
    gan = make.gan(config, loss=loss, batch_size=8)
    g_before = [v.numpy() for v in gan.generator.trainable_variables]
    d_before = [v.numpy() for v in gan.discriminator.trainable_variables]
    for _ in range(2):  # batch indices 0 and 1
        result = gan.train_step(*batch())
        assert np.isfinite(float(result["d_loss"])) and np.isfinite(float(result["g_loss"]))
    changed = lambda before, variables: any(  # noqa: E731
        not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))
    assert changed(g_before, gan.generator.trainable_variables)  # (critics: at batch 0)
    assert changed(d_before, gan.discriminator.trainable_variables)
    if loss == "wgan":
        assert isinstance(gan.d_optimizer, optim.TorchRMSprop)
        assert max(float(np.abs(v.numpy()).max())
                   for v in gan.discriminator.trainable_variables) <= 0.01
    if loss == "wgan_gp":
        norms = [m for m in gan.discriminator.submodules
                 if isinstance(m, (tf1_layers.BatchNorm, tf1_layers.LayerNorm))]
        assert norms and all(isinstance(m, tf1_layers.LayerNorm) for m in norms)
        assert "gradient_penalty" in result and gan.d_optimizer.beta2 == 0.9


def test_the_critic_schedule_updates_g_every_n_critic_batches():
    config = carpedm20.ModelConfig(**TINY)
    gan = make.gan(config, loss="wgan", n_critic=3, batch_size=8)
    g_steps = []
    for _ in range(7):  # batch indices 0..6: G at 0, 3, 6
        gan.train_step(*batch())
        g_steps.append(int(gan.g_optimizer.step.numpy()))
    assert g_steps == [1, 1, 1, 2, 2, 2, 3]
    assert int(gan.d_optimizer.step.numpy()) == 7


# CI trains, resumes and serves --loss wgan and --loss hinge runs through
# main.py's flags in test_every_flag.py.
@pytest.mark.slow
def test_a_loss_trains_resumes_and_serves_through_main(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=30, n_test=10)
    flags = dict(dataset="mnist", input_height=28, output_height=28, batch_size=8, seed=0,
                 data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"), z_dim=6,
                 gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16, loss="wgan_gp")
    lines = []
    make.run(train=True, epoch=1, **flags, log=lines.append)
    make.run(train=True, epoch=2, **flags, log=lines.append)
    iterations = [int(line[1:9]) for line in lines if " Epoch:" in line]
    assert iterations == list(range(1, 11))  # 5 an epoch; the second run resumed at 6
    run = tmp_path / "out" / "mnist_x28.z6.uniform_signed.y28.b8.wgan_gp"
    assert '"critic_norm": "layer"' in (run / "checkpoints" / "model.json").read_text()
    make.run(generate=12, export=True, **flags, log=lambda line: None)
    with np.load(run / "samples" / "generated_12.npz") as arrays:
        assert arrays["images"].shape == (12, 28, 28, 1)
    assert (run / "checkpoints" / "export_b8" / "saved_model.pb").exists()


@pytest.mark.parametrize("loss", ["wgan_gp", "fgan"])
def test_losses_and_the_penalty_stay_float32_under_mixed_precision(loss):
    """--mixed_precision: the steps compute in bfloat16, the objectives (and the
    gradient penalty) in float32; the iteration tracks the float32 one."""
    config = carpedm20.ModelConfig(**TINY, critic_norm="layer" if loss == "wgan_gp" else "batch")
    results = {}
    for dtype in ("float32", "bfloat16"):
        gan = make.gan(config, loss=loss, learning_rate=1e-4, batch_size=8,
                           compute_dtype=dtype)
        results[dtype] = gan.train_step(*batch())
    for key in ("d_loss", "g_loss"):
        assert results["bfloat16"][key].dtype == tf.float32
        assert float(results["bfloat16"][key]) == pytest.approx(float(results["float32"][key]),
                                                                rel=0.05, abs=0.05), key
