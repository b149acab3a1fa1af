"""Where a run reads and writes: --out_dir with relative, absolute and `~`
--checkpoint_dir / --sample_dir, in train and test mode, for our runs and for
original TF1 folders (the original joins `os.path.join(out_dir, checkpoint_dir)`,
which keeps an absolute path as given)."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import fakes
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf.commands import compare
from dcgan_tf.networks import carpedm20
from tf1_reference_model import TF1ReferenceDCGAN

TINY = dict(z_dim=6, gf_dim=4, df_dim=4, gfc_dim=16, dfc_dim=16, batch_size=8)
FACES = dict(dataset="faces", input_fname_pattern="*.png", input_height=32, output_height=32,
             crop=True)
QUIET = dict(log=lambda line: None)


@pytest.fixture(scope="module")
def original_run(tmp_path_factory):
    """An original-format (TF1) run folder of the unconditional 32x32 model after 3
    iterations, and the reference model that wrote it."""
    model = TF1ReferenceDCGAN(y_dim=0)
    model.train_iterations(3)
    folder = tmp_path_factory.mktemp("tf1") / "old_tf1_run"
    os.makedirs(folder)
    model.save(str(folder / "model.b8"), step=3)
    return model, str(folder)


def served_images(export_dir, z):
    loaded = tf.saved_model.load(export_dir)
    return loaded.signatures["serving_default"](z=tf.constant(z))["images"].numpy()


@pytest.mark.parametrize("spelling", ["absolute", "home"])
def test_out_dir_keeps_an_absolute_checkpoint_dir_of_an_original_run(
        original_run, tmp_path, monkeypatch, spelling):
    model, source = original_run
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = shutil.copytree(source, str(tmp_path / "home" / "old_tf1_run"))
    checkpoint_dir = folder if spelling == "absolute" else "~/old_tf1_run"
    config = config_lib.Config(checkpoint_dir=checkpoint_dir, out_dir=str(tmp_path / "runs"),
                               export=True, **FACES, **TINY)
    app.run(config, **QUIET)
    z = np.random.default_rng(0).uniform(-1, 1, (8, 6)).astype(np.float32)
    np.testing.assert_allclose(served_images(os.path.join(folder, "export_b8"), z),
                               model.sample(z), atol=1e-6)
    # Samples follow --out_dir: <out_dir>/<folder name>/<sample_dir>.
    assert os.listdir(tmp_path / "runs" / "old_tf1_run" / "samples") == ["test_00000003.png"]


def test_training_continues_an_original_run_named_absolutely_beside_out_dir(
        original_run, tmp_path):
    _, source = original_run
    folder = shutil.copytree(source, str(tmp_path / "old_tf1_run"))
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    config = config_lib.Config(checkpoint_dir=folder, out_dir=str(tmp_path / "runs"),
                               data_dir=str(tmp_path / "data"), train=True, epoch=2, seed=0,
                               **FACES, **TINY)
    trainer = app.run(config, **QUIET)
    assert int(trainer.iteration) == 4  # 2 batches an epoch: the original's 3rd was epoch 2's 1st
    assert os.path.exists(os.path.join(folder, "tf2", "model.b8-4.index"))
    assert not os.path.exists(tmp_path / "runs" / config.run_name())


@pytest.mark.parametrize("checkpoint_dir,sample_dir", [
    ("checkpoints", "samples"), ("ABSOLUTE/ckpt", "samples"), ("checkpoints", "ABSOLUTE/smp")])
def test_our_run_under_out_dir_with_relative_or_absolute_folders(
        tmp_path, checkpoint_dir, sample_dir):
    checkpoint_dir = checkpoint_dir.replace("ABSOLUTE", str(tmp_path / "elsewhere"))
    sample_dir = sample_dir.replace("ABSOLUTE", str(tmp_path / "elsewhere"))
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    flags = dict(checkpoint_dir=checkpoint_dir, sample_dir=sample_dir,
                 out_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "data"), seed=0,
                 **FACES, **TINY)
    app.run(config_lib.Config(train=True, epoch=1, **flags), **QUIET)
    run = tmp_path / "runs" / config_lib.Config(**flags).run_name()
    checkpoints = (tmp_path / "elsewhere" / "ckpt" if os.path.isabs(checkpoint_dir)
                   else run / "checkpoints")
    samples = tmp_path / "elsewhere" / "smp" if os.path.isabs(sample_dir) else run / "samples"
    assert (checkpoints / "model.b8-2.index").exists() and (checkpoints / "model.json").exists()
    assert (run / "FLAGS.json").exists() and (run / "logs").is_dir()
    assert (samples / "train_00000002.png").exists()
    # Test mode with the same flags finds the run, exports beside its checkpoint
    # and writes its grid where training wrote its samples.
    app.run(config_lib.Config(export=True, **flags), **QUIET)
    assert (checkpoints / "export_b8" / "saved_model.pb").exists()
    assert (samples / "test_00000002.png").exists()


def test_test_mode_takes_our_run_folder_named_directly(tmp_path, capsys):
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    flags = dict(data_dir=str(tmp_path / "data"), seed=0, **FACES, **TINY)
    app.run(config_lib.Config(train=True, epoch=1, checkpoint_dir=str(tmp_path / "ck"),
                              sample_dir=str(tmp_path / "s"), **flags), **QUIET)
    run_folder = str(tmp_path / "ck" / config_lib.Config(**flags).run_name())
    app.run(config_lib.Config(checkpoint_dir=run_folder, sample_dir=str(tmp_path / "s"),
                              **flags), **QUIET)
    app.run(config_lib.Config(checkpoint_dir=run_folder, out_dir=str(tmp_path / "runs"),
                              **flags), **QUIET)
    name = os.path.basename(run_folder)
    assert sorted(os.listdir(tmp_path / "s" / name)) == ["test_00000002.png",
                                                         "train_00000002.png"]
    assert os.listdir(tmp_path / "runs" / name / "samples") == ["test_00000002.png"]
    # Training with it started another run inside it, from iteration 0: refused.
    before = sorted(os.listdir(run_folder))
    lines = []
    with pytest.raises(SystemExit):
        app.run(config_lib.Config(train=True, epoch=2, checkpoint_dir=run_folder,
                                  sample_dir=str(tmp_path / "s"), **flags), log=lines.append)
    assert f"is the folder of a run ({name}: its model.json and checkpoints), and --train would" \
        f" start another run inside it ({run_folder}/{name}), not resume it. To resume it, pass" \
        f" --checkpoint_dir {tmp_path / 'ck'} --out_name {name};" in capsys.readouterr().err
    assert sorted(os.listdir(run_folder)) == before
    app.run(config_lib.Config(train=True, epoch=2, checkpoint_dir=str(tmp_path / "ck"),
                              out_name=name, sample_dir=str(tmp_path / "s"), **flags),
            log=lines.append)  # what the refusal says to pass: it resumes
    assert any("resuming after iteration 2" in line for line in lines), lines


def test_compare_with_an_original_run_from_a_run_under_out_dir(original_run, tmp_path,
                                                              monkeypatch):
    _, source = original_run
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(source, str(tmp_path / "old_tf1_run"))
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    flags = dict(out_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "data"), seed=0,
                 **FACES, **TINY)
    monkeypatch.chdir(tmp_path)  # no ./logs either
    app.run(config_lib.Config(train=True, epoch=1, **flags), **QUIET)
    lines = []
    app.run(config_lib.Config(compare_with="~/old_tf1_run", **flags), log=lines.append)
    samples = tmp_path / "runs" / config_lib.Config(**flags).run_name() / "samples"
    assert (samples / "compare_samples.png").exists()
    assert f" [!] Losses of ours alone, no original losses found (no logs/ folder); --compare_logs" \
        f" names the original run's logs/ folder: {samples / 'compare_losses.png'}" in lines, lines
    # An image folder's runs are not scored here: said, with how to score each.
    assert " [*] No metrics of both: --compare_with scores conditional MNIST-style runs (the" \
        " digit classifier's figures); score each run of an image folder with --evaluate (ours:" \
        " this command's flags; the original's: --checkpoint_dir ~/old_tf1_run --evaluate)." \
        in lines, lines


def test_compare_logs_without_the_originals_losses_are_refused_before_anything_is_written(
        original_run, tmp_path, capsys):
    """A --compare_logs that does not exist, or holds no d_loss/g_loss, drew
    our losses alone under "Losses of both runs", with exit 0."""
    _, source = original_run
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    flags = dict(out_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "data"), seed=0,
                 **FACES, **TINY)
    app.run(config_lib.Config(train=True, epoch=1, **flags), **QUIET)
    other = tmp_path / "other_logs"
    with tf.summary.create_file_writer(str(other)).as_default():
        tf.summary.scalar("accuracy", 0.5, step=1)
    (tmp_path / "empty").mkdir()
    samples = tmp_path / "runs" / config_lib.Config(**flags).run_name() / "samples"
    before = sorted(os.listdir(samples))
    for folder, words in (("nowhere", "does not exist"),
                          ("empty", "holds no d_loss or g_loss summaries"),
                          ("other_logs", "holds no d_loss or g_loss summaries")):
        with pytest.raises(SystemExit):
            app.run(config_lib.Config(compare_with=source, compare_logs=str(tmp_path / folder),
                                      **flags), **QUIET)
        err = capsys.readouterr().err
        assert f"--compare_logs={tmp_path / folder} {words}" in err and \
            "; pass the original run's logs/ folder, or leave the flag out" in err, err
        assert sorted(os.listdir(samples)) == before


def test_test_mode_takes_an_original_runs_shapes_from_its_checkpoint(original_run, tmp_path,
                                                                     main_in_process, capsys):
    """No shape flag: the checkpoint's (it asked for --z_dim, then sampled 64x16
    images of the 32x32 run at the default --output_height 64); a typed one
    that does not fit is refused."""
    _, source = original_run
    common = ["--dataset=faces", f"--checkpoint_dir={source}", f"--out_dir={tmp_path / 'runs'}",
              "--generate=4"]
    main_in_process(*common, log=lambda line: None)
    with np.load(tmp_path / "runs" / "old_tf1_run" / "samples" / "generated_4.npz") as arrays:
        assert arrays["images"].shape == (4, 32, 32, 3)
    with pytest.raises(SystemExit):
        main_in_process(*common, "--output_height=64", log=lambda line: None)
    assert "was not trained at 64x64" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # was read past: the checkpoint's 4 sampled
        main_in_process(*common, "--gf_dim=8", log=lambda line: None)
    assert "was trained with --gf_dim 4 (these flags: --gf_dim 8). Drop those flags to sample" \
        " it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main_in_process(*common, "--checkpoint_iteration=3", log=lambda line: None)
    assert f"--checkpoint_iteration picks among the checkpoints of this program's runs; {source}" \
        " is the original TF1 code's, whose newest (model.b8-3) test mode samples." \
        in capsys.readouterr().err


def test_training_continues_an_original_run_with_the_shapes_of_its_checkpoint(
        original_run, tmp_path, main_in_process, capsys):
    """No shape flag: the checkpoint's (it failed naming a variable's shape and
    asking for the flags it was trained with); a typed one that differs, or
    the other kind of data set, is refused before anything is written."""
    _, source = original_run
    folder = shutil.copytree(source, str(tmp_path / "old_tf1_run"))
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    common = ["--dataset=faces", "--input_fname_pattern=*.png", "--input_height=32", "--crop",
              f"--data_dir={tmp_path / 'data'}", f"--checkpoint_dir={folder}", "--batch_size=8",
              f"--sample_dir={tmp_path / 'samples'}", "--train", "--epoch=2"]
    for typed, words in ((["--gf_dim=8"], "was trained with --gf_dim 4 (these flags: --gf_dim"
                                          " 8). Drop those flags to continue it"),
                         (["--dataset=mnist", "--nocrop"], "was trained on an image folder, and"
                                                           " --dataset mnist is labelled digits")):
        with pytest.raises(SystemExit):
            main_in_process(*common, *typed, log=lambda line: None)
        assert words in capsys.readouterr().err
        assert not os.path.exists(os.path.join(folder, "tf2"))
    lines = []
    main_in_process(*common, log=lines.append)
    assert " [*] The original checkpoint's networks: --output_height 32, --output_width 32," \
        " --z_dim 6, --gf_dim 4, --df_dim 4" in lines, lines
    assert any("(iteration 3, optimizer state included)" in line for line in lines), lines


def test_compare_with_an_original_of_another_size_says_they_differ(original_run):
    """Not "pass the --output_height it was trained at": ours has its own size."""
    _, source = original_run
    ours = carpedm20.ModelConfig(output_height=64, output_width=64, c_dim=3, y_dim=0, z_dim=6,
                                 gf_dim=4, df_dim=4)
    with pytest.raises(ValueError, match=r"The original run \(ModelConfig\(output_height=32,"
                                         r".*don't make the same kind of images"):
        compare.original_of(config_lib.Config(compare_with=source), ours)


def test_nearest_neighbours_of_an_original_run_say_its_training_images_are_assumed(
        original_run, tmp_path):
    """An original TF1 checkpoint records no epoch, batch or --train_size: the
    search takes the whole folder as its training images, and says so."""
    _, source = original_run
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=16, size=(36, 36))
    config = config_lib.Config(checkpoint_dir=source, out_dir=str(tmp_path / "runs"),
                               data_dir=str(tmp_path / "data"), nearest_neighbours=4,
                               **FACES, **TINY)
    lines = []
    app.run(config, log=lines.append)
    assert " [*] Training images: all 16 images (taken so: an original TF1 checkpoint does not" \
        " say which it trained on); unseen real images: the images it trained on, each" \
        " against the others (leave-one-out: fewer than 1,000 real images were left out of" \
        " its training)" in lines, lines
    # Continued by us (its tf2/ run): our epochs' draws are known, the original's not.
    folder = shutil.copytree(source, str(tmp_path / "old_tf1_run"))
    app.run(config_lib.dataclasses.replace(config, checkpoint_dir=folder, nearest_neighbours=0,
                                           train=True, epoch=2), **QUIET)
    lines = []
    app.run(config_lib.dataclasses.replace(config, checkpoint_dir=folder), log=lines.append)
    assert any(line.startswith(" [*] Training images: all 16 images (taken so: its first"
                               " iterations were the original TF1 code's, whose shuffles of"
                               " the folder are not recorded)") for line in lines), lines
