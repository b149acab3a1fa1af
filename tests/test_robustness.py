"""Nothing lost: bad images, kills, signals, full disks, and reproducibility."""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import fakes
from conftest import REPO_DIR
from helpers import first_iteration, main_py, mnist_flags, wait_for_iteration
from dcgan_tf import app
from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import files
from dcgan_tf.commands import train

TINY = dict(z_dim=4, gf_dim=2, df_dim=2, gfc_dim=8, dfc_dim=8)


def make_bad_folder(directory):
    """8 good RGB images, 5 odd but usable ones, and 5 unusable ones."""
    rng = np.random.default_rng(0)
    for i in range(8):
        fakes.write_image(f"{directory}/a_good_{i}.png", rng.integers(0, 256, (24, 24, 3)))
    fakes.Image.fromarray(rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)) \
        .convert("CMYK").save(f"{directory}/b_cmyk.jpg")
    fakes.write_image(f"{directory}/b_rgba.png", rng.integers(0, 256, (24, 24, 4)), "RGBA")
    fakes.Image.fromarray(rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)) \
        .convert("P").save(f"{directory}/b_palette.png")
    fakes.write_image(f"{directory}/b_gray.png", rng.integers(0, 256, (24, 24)))
    fakes.Image.fromarray(rng.integers(0, 65535, (24, 24)).astype(np.uint16)) \
        .save(f"{directory}/b_16bit.png")
    good_jpeg = open(f"{directory}/b_cmyk.jpg", "rb").read()
    fakes.write_image(f"{directory}/c_full.png", rng.integers(0, 256, (24, 24, 3)))
    full_png = open(f"{directory}/c_full.png", "rb").read()
    os.remove(f"{directory}/c_full.png")
    bad = {"c_truncated.jpg": good_jpeg[:len(good_jpeg) // 3],
           "c_truncated.png": full_png[:len(full_png) // 2],
           "c_corrupt.jpg": b"\xff\xd8\xff\xe0" + os.urandom(500),
           "c_not_an_image.png": b"just some text\n"}
    for name, body in bad.items():
        with open(f"{directory}/{name}", "wb") as f:
            f.write(body)
    fakes.write_image(f"{directory}/c_small.png", rng.integers(0, 256, (10, 10, 3)))
    return sorted(bad) + ["c_small.png"]


def test_a_folder_of_bad_cases_trains_and_names_each_skipped_file(tmp_path, capsys):
    unusable = make_bad_folder(str(tmp_path / "data" / "odd"))
    lines = []
    config = config_lib.Config(dataset="odd", input_fname_pattern="*", data_dir=str(tmp_path / "data"),
                               input_height=16, output_height=16, crop=True, batch_size=4,
                               epoch=2, train=True, out_dir=str(tmp_path / "out"), seed=0, **TINY)
    trainer = app.run(config, log=lines.append)
    warnings = capsys.readouterr().err.splitlines()
    for name in unusable:  # one line per file per epoch, naming it and why
        assert sum(name in line and "skipping" in line for line in warnings) == 2, name
    assert any("c_small.png: 10x10 is smaller than the 16x16 crop" in w for w in warnings)
    assert [line for line in lines if "skipped" in line] == [
        " [!] Epoch 0: skipped 5 unusable image files (named above)",
        " [!] Epoch 1: skipped 5 unusable image files (named above)"]
    assert int(trainer.iteration) == 2 * (13 // 4)  # the 13 usable images train


# SIGINT takes the same path as SIGTERM (one handler). CI runs SIGTERM with
# several iterations per call (the signal waits for the call's end: the
# checkpoint must still be of the last iteration logged); -m slow one per call
# and SIGINT. (CI's test_distribute.py cluster test SIGTERMs carpedm20's DCGAN
# at one iteration per call, and checks its exit, its message and that the
# checkpoint is of the last iteration logged.)
@pytest.mark.parametrize("signum,per_call", [
    pytest.param(signal.SIGTERM, 1, marks=pytest.mark.slow), (signal.SIGTERM, 4),
    pytest.param(signal.SIGINT, 1, marks=pytest.mark.slow)])
def test_sigterm_and_sigint_save_a_checkpoint_then_exit(tmp_path, signum, per_call,
                                                        main_in_process):
    process = main_py(*mnist_flags(tmp_path, "--epoch=50", "--ckpt_freq=1000",
                                   f"--steps_per_call={per_call}"))
    logged = []
    for line in process.stdout:  # up to iteration 3, then the signal
        logged += [int(line[1:9])] if " Epoch:" in line else []
        if logged and logged[-1] >= 3:
            break
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    logged += [int(line[1:9]) for line in out.splitlines() if " Epoch:" in line]
    assert process.returncode == 128 + signum
    assert f"{signal.Signals(signum).name} received: saved" in err
    assert "Traceback" not in err
    run = tmp_path / "out" / "mnist_x28.z4.uniform_signed.y28.b8" / "checkpoints"
    saved = int(checkpoints.latest_checkpoint(str(run)).rsplit("-", 1)[1])
    assert saved >= 3
    # The checkpoint is of the last iteration logged, and the message names it.
    assert logged[-1] == saved
    assert f"after iteration {saved};" in err
    lines = []  # the same command again (in this process) resumes after it
    main_in_process(*mnist_flags(tmp_path, "--epoch=1"), log=lines.append)
    assert first_iteration("\n".join(lines)) == saved + 1


# CI kills once; -m slow three times, at other moments.
@pytest.mark.parametrize("kill_points,epochs", [
    ((3,), 1), pytest.param((2, 5, 9), 2, marks=pytest.mark.slow)])
def test_sigkill_at_any_moment_leaves_a_loadable_checkpoint(tmp_path, kill_points, epochs,
                                                            main_in_process):
    """Saving every iteration, so that kills land in the middle of checkpoint
    writes too; every restart must load the last complete checkpoint (the last
    one, never killed, in this process). Epochs of 10 iterations: past the
    last kill, 7 or 11 to go."""
    flags = mnist_flags(tmp_path, f"--epoch={epochs}", "--train_size=80", "--ckpt_freq=1",
                        "--max_to_keep=2")
    run = tmp_path / "out" / "mnist_x28.z4.uniform_signed.y28.b8" / "checkpoints"
    rng = np.random.default_rng(0)
    started_at, saved_at = [], []
    for kill_at in kill_points:
        process = main_py(*flags)
        started_at.append(wait_for_iteration(process, kill_at))
        time.sleep(rng.uniform(0, 0.3))  # somewhere inside the following iterations / saves
        process.kill()
        process.communicate(timeout=60)
        # The newest complete checkpoint, not the index's: a kill between a
        # save's last move and its index update leaves the index one behind.
        saved_at.append(int(checkpoints.newest_intact(str(run), print).rsplit("-", 1)[1]))
    lines = []
    main_in_process(*flags, log=lines.append)
    out = "\n".join(lines)
    started_at.append(first_iteration(out))
    # When iteration k is logged, checkpoint k - 1 is complete: each killed run
    # left a complete checkpoint at k - 1 or later, and each restart began right
    # after the newest complete one.
    assert started_at[0] == 1
    for kill_at, saved, start in zip(kill_points, saved_at, started_at[1:]):
        assert saved >= kill_at - 1
        assert start == saved + 1
    assert f" [*] Training done: {10 * epochs} iterations" in out  # epochs of 80 // 8


def test_a_failed_checkpoint_write_keeps_the_last_one(tmp_path, monkeypatch):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=150, n_test=10)
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28, train=True,
                               data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"),
                               batch_size=8, epoch=1, ckpt_freq=5, seed=0, **TINY)
    real_save = checkpoints.CheckpointKeeper.save

    def save_until_the_disk_fills(self, iteration):
        if iteration >= 10:
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return real_save(self, iteration)

    monkeypatch.setattr(checkpoints.CheckpointKeeper, "save", save_until_the_disk_fills)
    with pytest.raises(files.OutputWriteError, match=r"No space left on device.*the last"
                       r" complete checkpoint \(.*model\.b8-5\) is intact"):
        train.run(config, log=lambda line: None)
    monkeypatch.setattr(checkpoints.CheckpointKeeper, "save", real_save)
    lines = []
    trainer = train.run(config, log=lines.append)
    iterations = [int(line[1:9]) for line in lines if " Epoch:" in line]
    assert iterations == list(range(6, 21))  # resumed right after checkpoint 5
    assert int(trainer.iteration) == 20


def test_unwritable_output_is_a_clear_error(tmp_path, capsys):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=30, n_test=10)
    (tmp_path / "a_file").write_text("not a folder")
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28, train=True,
                               data_dir=str(tmp_path / "data"), batch_size=8,
                               out_dir=str(tmp_path / "a_file" / "out"), **TINY)
    with pytest.raises(SystemExit) as exited:
        app.run(config, log=lambda line: None)
    assert exited.value.code == 1
    assert "Cannot create the output folder" in capsys.readouterr().err
    assert (tmp_path / "a_file").read_text() == "not a folder"


def test_a_folder_with_too_few_usable_images_is_an_error_before_training(tmp_path, capsys):
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=40, size=(20, 20))
    for i in range(100):
        (tmp_path / "data" / "faces" / f"corrupt_{i:03d}.png").write_bytes(b"\x89PNG junk")
    config = config_lib.Config(dataset="faces", input_fname_pattern="*.png", train=True,
                               data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"),
                               input_height=16, output_height=16, **TINY)
    with pytest.raises(SystemExit) as exited:
        app.run(config, log=lambda line: None)
    assert exited.value.code == 1
    assert "Only 40 of the 140 files matching the pattern are usable images, fewer than one" \
        " batch of 64" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def folder_with_corrupt_files(directory, count, corrupt_positions, seed):
    """`count` images, of which those at `corrupt_positions` of epoch 0's order are corrupt."""
    files = fakes.make_image_folder(directory, count=count, size=(20, 20))
    order = fakes.data.ImageFolderData(files, 3, False, 20, 20, 16, 16, seed).epoch_files(0, count)
    for position in corrupt_positions:
        with open(order[position], "wb") as f:
            f.write(b"not an image")


def test_batches_are_counted_and_resumed_by_what_is_delivered(tmp_path, monkeypatch):
    """70 files, 3 corrupt, batches of 10: 6 batches an epoch, not 7; a run
    stopped after iteration 5 resumes with exactly the images an unstopped run
    sees, though a skipped file came before the stop."""
    folder_with_corrupt_files(str(tmp_path / "data" / "faces"), 70, (3, 20, 60), seed=0)
    flags = dict(dataset="faces", input_fname_pattern="*.png", train=True, batch_size=10,
                 data_dir=str(tmp_path / "data"), input_height=16, output_height=16, seed=0,
                 epoch=2, ckpt_freq=5, sample_freq=1000, **TINY)
    whole = []
    train.run(config_lib.Config(out_dir=str(tmp_path / "whole"), **flags), log=whole.append)
    epoch_lines = [line for line in whole if " Epoch:" in line]
    assert len(epoch_lines) == 12
    assert all("/   6] time" in line for line in epoch_lines[6:])  # exact once all were read
    assert "Epoch:[ 0/ 2] [   5/   6]" in epoch_lines[5]  # the last batch of epoch 0

    real_save = checkpoints.CheckpointKeeper.save

    def disk_full_after_5(self, iteration):
        if iteration > 5:
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return real_save(self, iteration)

    monkeypatch.setattr(checkpoints.CheckpointKeeper, "save", disk_full_after_5)
    stopped = config_lib.Config(out_dir=str(tmp_path / "stopped"), **flags)
    with pytest.raises(files.OutputWriteError):
        train.run(stopped, log=lambda line: None)
    monkeypatch.setattr(checkpoints.CheckpointKeeper, "save", real_save)
    resumed = []
    train.run(stopped, log=resumed.append)
    resumed_lines = [line for line in resumed if " Epoch:" in line]
    losses = lambda line: line.split("d_loss")[1]  # noqa: E731
    assert resumed_lines[0].startswith("[       6 Epoch:[ 0/ 2] [   5/")
    assert [losses(line) for line in resumed_lines] == [losses(line) for line in epoch_lines[5:]]


def test_resuming_with_other_flags_keeps_the_runs_flags_and_says_what_changed(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=30, n_test=10)
    flags = dict(dataset="mnist", input_height=28, output_height=28, train=True, batch_size=8,
                 data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"), seed=0,
                 **TINY)
    train.run(config_lib.Config(epoch=1, **flags), log=lambda line: None)
    lines = []
    train.run(config_lib.Config(epoch=2, learning_rate=1e-4, train_size=24.0,
                                G_img_sum=True, input_fname_pattern="*.png", **flags),
              log=lines.append)
    assert (" [*] Resuming after iteration 5 with flags that differ from the run's (FLAGS.json):"
            " --noG_img_sum -> --G_img_sum, --epoch 1 -> 2, --input_fname_pattern *.jpg -> *.png,"
            " --learning_rate 0.0002 -> 0.0001, no --train_size -> --train_size 24") in lines
    run = tmp_path / "out" / "mnist_x28.z4.uniform_signed.y28.b8"
    assert json.loads((run / "FLAGS.json").read_text())["learning_rate"] == 0.0002
    history = [json.loads(line) for line in (run / "flags_history.jsonl").read_text().splitlines()]
    assert [entry["start_iteration"] for entry in history] == [0, 5]
    assert history[0]["changed_from_FLAGS.json"] == {}
    assert history[1]["changed_from_FLAGS.json"] == {
        "epoch": [1, 2], "learning_rate": [0.0002, 0.0001], "train_size": [None, 24.0],
        "G_img_sum": [False, True], "input_fname_pattern": ["*.jpg", "*.png"]}
    assert history[1]["flags"]["learning_rate"] == 0.0001


@pytest.mark.parametrize("content,message", [
    ({"labels": np.zeros(3, np.int64)}, "holds labels arrays but no `images`"),
    ("pickle", "cannot be read as a plain .npz of arrays"),
    (b"garbage bytes", "cannot be read as a plain .npz of arrays"),
    ("missing", "names no file"),
    ("folder", "is a folder"),
])
def test_evaluate_npz_names_the_file_and_what_it_must_hold(tmp_path, capsys, content, message):
    path = tmp_path / "some.npz"
    if content == "folder":
        path.mkdir()
    elif content == "missing":
        pass
    elif content == "pickle":
        np.savez(path, images=np.array([{"a": 1}], dtype=object))
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        path.write_bytes(content)
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28,
                               evaluate_npz=str(path))
    with pytest.raises(SystemExit) as exited:
        app.run(config, log=lambda line: None)
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert f"--evaluate_npz={path}" in err and message in err
    assert "must be an .npz with `images` [N, H, W, 1]" in err  # MNIST: grayscale, any size


def test_unwritable_samples_in_test_mode_and_a_truncated_mnist(tmp_path, capsys, monkeypatch):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=30, n_test=10)
    flags = dict(dataset="mnist", input_height=28, output_height=28, batch_size=8,
                 data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"), seed=0, **TINY)
    app.run(config_lib.Config(train=True, epoch=1, **flags), log=lambda line: None)

    def read_only(image, path, *args, **kwargs):  # as a read-only folder answers
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fakes.Image.Image, "save", read_only)
    with pytest.raises(SystemExit) as exited:
        app.run(config_lib.Config(**flags), log=lambda line: None)
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert "Could not write" in err and "samples/test_00000005.png: Permission denied" in err
    monkeypatch.undo()

    gz = tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-40])
    with pytest.raises(SystemExit):
        app.run(config_lib.Config(train=True, epoch=2, **flags), log=lambda line: None)
    err = capsys.readouterr().err
    assert f"`python download.py mnist --data_dir {tmp_path / 'data'}` fetches it again" in err


def test_download_into_a_file_is_a_clear_error(tmp_path, capsys):
    sys.path.insert(0, REPO_DIR)
    import download as download_script  # noqa: PLC0415
    (tmp_path / "a_file").write_text("x")
    assert download_script.main(["mnist", "--data_dir", str(tmp_path / "a_file")]) == 1
    err = capsys.readouterr().err
    assert "Pass a --data_dir that is a writable folder" in err and "Traceback" not in err
    assert (tmp_path / "a_file").read_text() == "x"
