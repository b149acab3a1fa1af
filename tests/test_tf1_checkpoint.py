"""Original-format (TF1) checkpoints: loading, inference of the model's shape,
shape errors, test mode, export and continued training, on checkpoints that our
own TF1-style reference (tests/tf1_reference_model.py) writes on any machine."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import fakes
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import export
import make
from dcgan_tf import tf1_checkpoint
from dcgan_tf.networks import carpedm20
from tf1_reference_model import TF1ReferenceDCGAN

CONDITIONAL = dict(output_height=28, output_width=28, c_dim=1, y_dim=10, z_dim=6, gf_dim=4,
                   df_dim=4, gfc_dim=16, dfc_dim=16)
UNCONDITIONAL = dict(output_height=32, output_width=32, c_dim=3, y_dim=0, z_dim=6, gf_dim=4,
                     df_dim=4)


@pytest.fixture(scope="module", params=[10, 0], ids=["conditional", "unconditional"])
def reference(request, tmp_path_factory):
    """A TF1-style model after 3 training iterations, and its checkpoint, saved
    as the original saves (`model.b8-3`, absolute paths in the index file)."""
    model = TF1ReferenceDCGAN(y_dim=request.param)
    model.train_iterations(3)
    directory = tmp_path_factory.mktemp("tf1")
    os.makedirs(directory / "run" / "checkpoint")
    model.path = model.save(str(directory / "run" / "checkpoint" / "model.b8"), step=3)
    return model


def inputs(model, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, (model.batch_size, 6)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, model.batch_size)] \
        if model.y_dim else None
    return z, y


def test_model_shape_is_read_off_the_checkpoint(reference):
    expected = CONDITIONAL if reference.y_dim else UNCONDITIONAL
    inferred = tf1_checkpoint.infer_model_config(reference.path)
    assert {k: getattr(inferred, k) for k in expected} == expected
    assert tf1_checkpoint.is_tf1_checkpoint(reference.path)
    assert tf1_checkpoint.iteration_of(reference.path) == 3
    assert tf1_checkpoint.iteration_of("/x/DCGAN.model-27002") == 27002


def test_an_output_size_the_checkpoint_was_not_trained_at_is_refused(reference):
    """The weights fit a generator of other proportions: sampled at 64x64, the
    32x32 checkpoint made 64x16 images, exit 0."""
    trained = (CONDITIONAL if reference.y_dim else UNCONDITIONAL)["output_height"]
    fits = tf1_checkpoint.infer_model_config(reference.path, trained, trained)
    assert (fits.output_height, fits.output_width) == (trained, trained)
    with pytest.raises(tf1_checkpoint.CheckpointMismatchError,
                       match=f"was not trained at 64x64: its generator projects to a (7x7|2x2)"
                             f" grid \\(images of about {trained}x{trained}\\), and 64x64 makes a"
                             " (16x16|4x4) one"):
        tf1_checkpoint.infer_model_config(reference.path, 64)


def test_loaded_trainer_matches_the_reference_sampler_and_optimizer_state(reference):
    config = tf1_checkpoint.infer_model_config(reference.path)
    gan = make.gan(config, batch_size=8)
    assert tf1_checkpoint.load_into_gan(reference.path, gan) == 3
    z, y = inputs(reference)
    np.testing.assert_allclose(gan.sample(z, y), reference.sample(z, y), atol=1e-6)
    saved = reference.values()
    assert float(gan.d_optimizer.beta1_power) == pytest.approx(saved["beta1_power"])
    assert float(gan.g_optimizer.beta1_power) == pytest.approx(saved["beta1_power_1"])
    assert saved["beta1_power_1"] == pytest.approx(0.5 ** 7)  # G stepped twice as often
    for name, slot in gan.g_optimizer.slots_by_original_name.items():
        np.testing.assert_array_equal(slot.numpy(), saved[name])
    assert int(gan.iteration) == 3


def test_a_checkpoint_that_does_not_fit_names_the_variable_and_shapes(reference):
    config = tf1_checkpoint.infer_model_config(reference.path)
    wrong = carpedm20.ModelConfig(**{**config.__dict__, "z_dim": 9})
    generator, _ = carpedm20.build_models(wrong)
    before = generator.g_h0_lin.matrix.numpy().copy()
    with pytest.raises(tf1_checkpoint.CheckpointMismatchError,
                       match=r"generator/g_h0_lin/Matrix has shape \[\d+, \d+\], but the model"
                             r" built from the flags expects \[\d+, \d+\]"):
        tf1_checkpoint.load_into_models(reference.path, generator)
    np.testing.assert_array_equal(generator.g_h0_lin.matrix.numpy(), before)  # nothing changed


def moved_copy(reference, tmp_path):
    """The run folder copied elsewhere: its `checkpoint` file's absolute paths now
    point at the old place, as with any original run brought from another machine."""
    source = os.path.dirname(reference.path)
    target = str(tmp_path / "from_elsewhere")
    shutil.copytree(source, target)
    return target


def test_export_and_freeze_from_an_original_checkpoint_folder(reference, tmp_path):
    folder = moved_copy(reference, tmp_path)
    size = 28 if reference.y_dim else 32
    config = config_lib.Config(
        dataset="mnist" if reference.y_dim else "faces", input_height=size, output_height=size,
        checkpoint_dir=folder, sample_dir=str(tmp_path / "samples"), export=True, freeze=True,
        batch_size=8, z_dim=6)
    app.run(config, log=lambda line: None)
    z, y = inputs(reference)
    expected = reference.sample(z, y)
    loaded = tf.saved_model.load(os.path.join(folder, "export_b8"))
    feeds = {"z": tf.constant(z)} if y is None else {"z": tf.constant(z), "y": tf.constant(y)}
    served = loaded.signatures["serving_default"](**feeds)["images"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)
    # `sample` draws z from the original's prior (uniform on [-1, 1]: --z_dist's default).
    drawn = loaded.signatures["sample"](count=tf.constant(8), seed=tf.constant(3, tf.int64))
    np.testing.assert_array_equal(drawn["z"], tf.random.stateless_uniform([8, 6], [3, 0], -1, 1))
    labels = drawn["y"].numpy() if "y" in drawn else None
    np.testing.assert_allclose(drawn["images"], reference.sample(drawn["z"].numpy(), labels),
                               atol=1e-6)
    assert os.listdir(tmp_path / "samples" / "from_elsewhere") == ["test_00000003.png"]

    frozen = os.path.join(folder, "frozen_b8", "model.b8-000003_frz.pb")
    input_names, output_name = export.frozen_graph_tensor_names(frozen)
    graph_def = tf.compat.v1.GraphDef()
    with open(frozen, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            values = {"z:0": z, "y:0": y}
            out = session.run(output_name, {name: values[name] for name in input_names})
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_training_continues_an_original_checkpoint_without_touching_it(reference, tmp_path):
    folder = moved_copy(reference, tmp_path)
    original_files = sorted(os.listdir(folder))
    if reference.y_dim:
        fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
        data_flags = dict(dataset="mnist", input_height=28, output_height=28)
    else:  # 80 images: 10 batches of 8, as for MNIST
        fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=80, size=(36, 36))
        data_flags = dict(dataset="faces", input_fname_pattern="*.png", input_height=32,
                          output_height=32, crop=True)
    config = config_lib.Config(
        data_dir=str(tmp_path / "data"), checkpoint_dir=folder,
        sample_dir=str(tmp_path / "samples"), train=True, epoch=1, batch_size=8, z_dim=6,
        gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16, seed=0, sample_freq=100, ckpt_freq=100,
        **data_flags)
    lines = []
    gan = app.run(config, log=lines.append)
    assert any("Loaded the original TF1 checkpoint" in line for line in lines)
    first = next(line for line in lines if "Epoch:" in line)
    assert first.startswith("[       4 Epoch:[ 0/ 1] [   3/  10]")  # after the original's 3
    assert int(gan.iteration) == 10
    assert sorted(os.listdir(folder)) == sorted(original_files + ["tf2"])
    assert os.path.exists(os.path.join(folder, "tf2", "model.b8-10.index"))
