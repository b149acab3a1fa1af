"""--model from the command line: each system's defaults, flags that win, bad
combinations, the scripts' data pipeline, and train -> resume -> test mode
(samples, export, generate, visualize) for all six."""

import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import fakes
import make
from conftest import MNIST_DIR, SHARED_DIR, require_shared
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import systems




def test_each_model_brings_its_scripts_defaults_and_a_given_flag_wins(parsed_flags):
    wgan = parsed_flags("--dataset", "mnist", "--model", "wgan", "--train")
    assert (wgan.learning_rate, wgan.output_height, wgan.output_width, wgan.z_dim,
            wgan.batch_size, wgan.epoch, wgan.z_dist, wgan.n_critic, wgan.clip_value) == (
        5e-5, 28, 28, 100, 64, 200, "normal01", 5, 0.01)
    assert wgan.validate().run_name() == "mnist_wgan.s28.z100.b64"
    acgan = parsed_flags("--dataset", "mnist", "--model", "acgan", "--learning_rate", "1e-4")
    assert (acgan.learning_rate, acgan.beta1, acgan.beta2, acgan.output_height,
            acgan.sample_freq) == (1e-4, 0.5, 0.999, 32, 400)
    assert parsed_flags("--model", "lsgan", "--dataset", "mnist").sample_freq == 1000
    dcgan = parsed_flags("--dataset", "mnist", "--input_height=28", "--output_height=28")
    assert (dcgan.model, dcgan.learning_rate, dcgan.epoch, dcgan.z_dist) == (
        "dcgan", 0.0002, 25, "uniform_signed")


@pytest.mark.parametrize("argv,message", [
    (["--model", "gan", "--clip_value", "0.1"],
     "--clip_value does not apply to --model gan (it is read by --model wgan, --loss wgan);"
     " drop it."),
    (["--model", "wgan", "--beta2", "0.9"], "--beta2 does not apply to --model wgan"),
    (["--model", "gan", "--loss", "wgan", "--beta2", "0.9"],
     "--beta2 does not apply to --model gan --loss wgan"),  # RMSprop
    (["--input_height=28", "--output_height=28", "--n_classes", "5"],
     "--n_classes does not apply to --model dcgan (it is read by --model cgan, --model acgan)"),
    (["--model", "gan", "--gf_dim", "8"], "--gf_dim is a flag of carpedm20's DCGAN"),
    (["--model", "cgan", "--dataset", "faces", "--train"],
     "--model cgan is conditional and needs labelled data"),  # systems.check_images's
    (["--model", "lsgan", "--output_height", "40", "--train"], "must be a multiple of 16, got 40"),
    (["--model", "cgan", "--n_classes", "5"], "--n_classes must be 10, got 5"),
    (["--model", "gan", "--sync_bn"], "--sync_bn synchronizes batch norm over the replicas"),
])
def test_flags_that_dont_fit_the_model_are_errors_naming_the_fix(parsed_flags, argv, message):
    argv = ["--dataset", "mnist", *argv] if "--dataset" not in argv else argv
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        systems.check_images(parsed_flags(*argv).validate())


def test_an_unknown_model_is_rejected(parsed_flags):
    with pytest.raises(flags.IllegalFlagValueError, match="wgan_gp"):
        parsed_flags("--model", "began")
    with pytest.raises(ValueError, match="Unknown --model='began'"):
        config_lib.Config(model="began").validate()


def test_the_scripts_pipeline_reproduces_their_batches():
    """Every golden batch image of the 28x28 and 32x32 scripts that is among the
    22,699 MNIST training digits here comes out of our pipeline (training split,
    Resize, ToTensor, Normalize(0.5, 0.5)) to the last bit."""
    golden_dir = require_shared(os.path.join(SHARED_DIR, "reference", "pytorch-gan"))
    images, labels = data.load_idx_split(require_shared(MNIST_DIR), "train")
    for name, size in (("gan", 28), ("cgan", 32)):
        ours = data.ScriptIdxData(data.resize_like_torchvision(images, size), labels, seed=0)
        pipeline, _ = ours.first_batch(len(images))
        pipeline = pipeline.numpy().reshape(len(images), -1)
        golden = np.load(os.path.join(golden_dir, f"{name}_inputs.npz"))
        found = 0
        for image, label in zip(golden["batches/images"], golden["batches/labels"]):
            candidates = pipeline[labels == label]
            gaps = np.abs(candidates - np.transpose(image, (1, 2, 0)).reshape(1, -1)).max(axis=1)
            if gaps.min() < 0.05:  # the same digit: then equal to rounding, or it is not ours
                assert gaps.min() <= 1e-6, (name, gaps.min())
                found += 1
        assert found >= 40, (name, found)  # ~38% of 192 are among the first 22,699


def family_flags(tmp_path, model, **extra):
    return dict(dataset="mnist", model=model, data_dir=str(tmp_path / "data"),
                out_dir=str(tmp_path / "out"), batch_size=8, seed=1, sample_freq=4,
                **extra)


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    fakes.make_mnist(str(root / "data" / "mnist"), n_train=20, n_test=8)
    return root


FAMILY = [model for model in systems.SYSTEMS if model != "dcgan"]
# CI: cgan, an MLP with labels (their balanced labels in the .npz and the
# export's y input); every model with -m slow (their numbers are in the golden
# runs). Without labels, in CI elsewhere: the gan trains, resumes and generates
# under --xla (test_every_flag.py), and carpedm20's unconditional DCGAN exports
# and serves without y (test_paths.py). acgan's conv networks and class head
# train, resume and sample in CI under --mixed_precision and --loss hinge, one
# test (test_every_flag.py).
IN_CI = ("cgan",)


@pytest.mark.parametrize("model", [pytest.param(m, marks=() if m in IN_CI else pytest.mark.slow)
                                   for m in FAMILY])
def test_every_model_trains_resumes_samples_exports_and_generates(tiny_mnist, model):
    """20 digits, batches of 8 (the last one 4, as the scripts keep it): 3 iterations
    an epoch; one epoch, then a second resumed from the first's checkpoint."""
    values = family_flags(tiny_mnist, model)
    config = make.config(**values, epoch=1, train=True)
    lines = []
    app.run(config, log=lines.append)
    assert [line[1:9].strip() for line in lines if " Epoch:" in line] == ["1", "2", "3"]
    assert "[   2/   3]" in [line for line in lines if " Epoch:" in line][-1]
    resumed = []
    app.run(config_lib.dataclasses.replace(config, epoch=2), log=resumed.append)
    assert [line[1:9].strip() for line in resumed if " Epoch:" in line] == ["4", "5", "6"]
    if model == "acgan":
        assert all(", acc: " in line for line in resumed if " Epoch:" in line)
    run = tiny_mnist / "out" / config.run_name()
    size = config.output_height
    assert (run / "samples" / "train_00000004.png").exists()
    assert (run / "checkpoints" / "model.b8-6.index").exists()

    make.run(**values, export=True, generate=12, log=lambda line: None)
    with np.load(run / "samples" / "generated_12.npz") as arrays:
        assert arrays["images"].shape == (12, size, size, 1)
        assert -1.0 <= arrays["images"].min() and arrays["images"].max() <= 1.0
        if config.conditional:
            assert sorted(np.bincount(arrays["labels"], minlength=10)) == [1] * 8 + [2] * 2
    signatures = tf.saved_model.load(str(run / "checkpoints" / "export_b8")).signatures
    feeds = {"z": tf.random.normal([3, 100])}
    if config.conditional:
        feeds["y"] = tf.one_hot([0, 1, 2], 10)
    assert signatures["serving_default"](**feeds)["images"].shape == (3, size, size, 1)
    # `sample` draws z from the run's prior (the family's: N(0, 1)), and labels in turn.
    drawn = signatures["sample"](count=tf.constant(12), seed=tf.constant(7, tf.int64))
    np.testing.assert_array_equal(drawn["z"], tf.random.stateless_normal([12, 100], [7, 0]))
    feeds = {"z": drawn["z"]}
    if config.conditional:
        np.testing.assert_array_equal(drawn["y"], tf.one_hot(np.arange(12) % 10, 10))
        feeds["y"] = drawn["y"]
    np.testing.assert_array_equal(drawn["images"],
                                  signatures["serving_default"](**feeds)["images"])


def test_resuming_a_run_with_another_model_is_refused(tiny_mnist, capsys):
    values = family_flags(tiny_mnist, "gan", out_name="shared_name", epoch=1, train=True)
    make.run(**values, log=lambda line: None)
    with pytest.raises(SystemExit):
        make.run(**dict(values, model="wgan"), log=lambda line: None)
    assert ("was trained with --model gan (these flags: --model wgan). Drop --model wgan to"
            " resume it" in capsys.readouterr().err)


def test_an_unconditional_model_trains_on_an_image_folder(tmp_path):
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(40, 40))
    config = make.config(dataset="faces", input_fname_pattern="*.png", model="lsgan",
                         data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"),
                         batch_size=8, epoch=1, train=True, seed=0)
    trainer = app.run(config, log=lambda line: None)
    assert trainer.model_config.image_shape == (32, 32, 3)  # channels read from the images
    assert int(trainer.iteration) == 2


def test_a_loss_on_a_family_model_names_its_run(tiny_mnist):
    """(cgan with --loss fgan trains in CI in test_same_numbers, to its numbers.)"""
    values = family_flags(tiny_mnist, "cgan", loss="fgan", divergence="js", epoch=1, train=True)
    config = make.config(**values)
    assert config.run_name() == "mnist_cgan.s32.z100.b8.fgan_js"
