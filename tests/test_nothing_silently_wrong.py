"""Nothing silently wrong (issue 31): a ruined generator, the wrong prior, a
poisoned checkpoint or a bad file never pass as results. Each case of the
hostile probe is here, by its number; real processes where the outcome is an
exit code, in process where it is a file or a message."""

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import fakes
import make
from conftest import REPO_DIR, SHARES_A_TRAINING
from helpers import SMALLEST_FLAGS, small_inception_graph
from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import datasets
from dcgan_tf import distribute
from dcgan_tf import files
from dcgan_tf import inception
from dcgan_tf import metrics
from dcgan_tf import networks
from dcgan_tf import run_lock
from dcgan_tf import run_record
from dcgan_tf import runs
from dcgan_tf import systems
from dcgan_tf import training
from dcgan_tf.commands import compare
from dcgan_tf.commands import evaluate
from dcgan_tf.commands import train
from dcgan_tf.experiments import memorisation

TINY = SMALLEST_FLAGS


def quiet(line):
    del line


def run_main(main_in_process, *argv):
    """app.run on main.py's Config of `argv`; returns the log lines."""
    lines = []
    main_in_process(*argv, log=lines.append)
    return lines


def refused(main_in_process, capsys, *argv):
    """Runs `argv`, which must fail with status 1 and one message; returns it."""
    with pytest.raises(SystemExit) as exited:
        run_main(main_in_process, *argv)
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def digits(tmp_path):
    return digits_in(tmp_path)


def digits_in(folder):
    """A small MNIST in folder/data: 17 training digits, 8 test digits; the flags
    that train on it into folder/out."""
    fakes.make_mnist(str(folder / "data" / "mnist"), n_train=17, n_test=8)
    return ["--dataset=mnist", f"--data_dir={folder / 'data'}", f"--out_dir={folder / 'out'}",
            "--seed=3"]


GAN_RUN = ("--model=gan", "--train", "--epoch=1", "--batch_size=8", "--out_name=r")


@pytest.fixture
def gan_run(shared_training, main_in_process):
    """() -> (a folder whose out/r holds the family's gan trained an epoch on
    digits_in(folder) with GAN_RUN, as that training left it; those digits'
    flags). The cases that only read it or damage it share one training."""

    def get():
        folder = shared_training("gan_run", lambda where: run_main(
            main_in_process, *digits_in(where), *GAN_RUN))
        return folder, digits_in(folder)

    return get


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


# 1. A last batch of one ruins a family generator -------------------------------

def test_a_last_batch_of_one_is_left_out_and_said(main_in_process, digits, tmp_path):
    """17 digits in batches of 8 left a batch of 1, whose unbiased variance 0/0 made
    G's three moving variances NaN, exit 0 and an .npz of NaN."""
    lines = run_main(main_in_process, *digits, "--model=gan", "--train", "--epoch=2",
                     "--batch_size=8")
    assert any("Each epoch's last batch would hold 1 image (17 % 8): it is left out" in line
               for line in lines), lines
    assert [line for line in lines if " Epoch:" in line][-1].startswith("[       4")
    run_main(main_in_process, *digits, "--model=gan", "--batch_size=8", "--generate=10")
    run = tmp_path / "out" / "mnist_gan.s28.z100.b8"
    with np.load(run / "samples" / "generated_10.npz") as arrays:
        assert np.isfinite(arrays["images"]).all()
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "model.b8-4"))
    variances = [name for name in reader.get_variable_to_shape_map()
                 if name.startswith("generator/") and "moving_variance" in name]
    assert len(variances) == 3
    assert all(np.isfinite(reader.get_tensor(name)).all() for name in variances)


def test_a_batch_of_one_per_replica_is_refused_for_the_family_before_anything_is_written(
        main_in_process, digits, tmp_path, capsys):
    """--batch_size 1 trained 4 iterations of NaN moving variances before the
    state check stopped it; the last-batch rule above had not seen it."""
    err = refused(main_in_process, capsys, *digits, "--model=gan", "--train", "--epoch=1",
                  "--batch_size=1")
    assert "--batch_size 1 is a batch of 1 image, and --model gan's batch norms train on at least" \
        " 2 (one image's variance is 0/0," in err and "pass --batch_size 2 or more." in err, err
    assert not (tmp_path / "out").exists()
    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(ValueError, match="--batch_size 2 gives each of the 2 replicas 1 image,"
                                         " and --model wgan's batch norms train on at least 2"):
        distribute.check_batch_splits(two_replicas, 2, 2, "wgan")
    distribute.check_batch_splits(two_replicas, 2, 1, "dcgan")  # carpedm20's: TF1's biased one


@pytest.mark.parametrize("examples,batch,replicas,kept", [
    (17, 8, 1, 0), (18, 8, 1, 2), (20, 8, 1, 4),     # one image: left out; two train
    (19, 8, 2, 0), (20, 8, 2, 4), (21, 8, 2, 4),     # two per replica, split evenly
    (16, 8, 1, 0),                                   # no last batch at all
])
def test_the_last_batch_trains_only_what_batch_norm_can_train_on(examples, batch, replicas,
                                                                 kept):
    source = data.ScriptIdxData(np.zeros((examples, 4, 4, 1), np.uint8),
                                np.zeros(examples, np.uint8))
    assert source.last_batch_size(examples, batch, replicas) == kept
    sizes = [len(images) for images, _ in source.epoch_dataset(0, examples, batch,
                                                               replicas=replicas)]
    assert sizes == [batch] * (examples // batch) + ([kept] if kept else [])
    assert source.batches_in_epoch(0, examples, batch, replicas) == len(sizes)
    assert (source.last_batch_note(examples, batch, replicas) is None) == (
        kept == examples % batch)


# 2. Test mode ignores the prior the run was trained with ------------------------

def test_test_mode_samples_the_runs_own_prior(main_in_process, digits, tmp_path, capsys):
    run_main(main_in_process, *digits, "--model=gan", "--train", "--epoch=1", "--batch_size=8",
             "--z_dist=uniform_unsigned")
    run = tmp_path / "out" / "mnist_gan.s28.z100.b8.uniform_unsigned"

    def generated(*flags):
        lines = run_main(main_in_process, *digits, "--model=gan", "--batch_size=8",
                         "--generate=12", *flags)
        with np.load(run / "samples" / "generated_12.npz") as arrays:
            return lines, arrays["images"], json.loads(str(arrays["provenance"]))

    lines, images, made_by = generated()
    assert any("Using the run mnist_gan.s28.z100.b8.uniform_unsigned" in line
               and "--z_dist uniform_unsigned" in line for line in lines), lines
    assert made_by["z_dist"] == "uniform_unsigned" and made_by["iteration"] == 2
    _, asked_for, _ = generated("--z_dist=uniform_unsigned")
    np.testing.assert_array_equal(images, asked_for)
    lines, other, made_by = generated("--z_dist=normal01")  # on purpose: said
    assert any("Sampling --z_dist normal01, as asked: the run trained on uniform_unsigned"
               in line for line in lines), lines
    assert made_by["z_dist"] == "normal01" and not np.array_equal(images, other)
    err = refused(main_in_process, capsys, *digits, "--model=acgan", "--generate=12")
    assert "No run of mnist" in err and "--model gan" in err  # not silently the gan run


def test_the_dcgans_own_prior_reaches_every_picture(main_in_process, digits, tmp_path):
    run_main(main_in_process, *digits, *TINY, "--train", "--epoch=1", "--batch_size=8",
             "--input_height=28", "--output_height=28", "--z_dist=normal01", "--out_name=r")
    run_main(main_in_process, *digits, "--out_name=r", "--visualize", "--visualize_option=walk",
             "--batch_size=8")
    samples = tmp_path / "out" / "r" / "samples"
    for name in ("test_00000003.png", "walk.png"):  # 25 digits: 3 batches of 8
        source = Image.open(samples / name).text[("Source")]
        assert "--z_dist normal01" in source and "(iteration 3)" in source, source
    assert b"--z_dist normal01" in Image.open(samples / "walk.gif").info["comment"]


# 3. The NaN guard checks only the losses ------------------------------------------

def test_a_diverged_run_keeps_no_checkpoint_holding_inf(main_in_process, digits, tmp_path,
                                                       capsys):
    err = refused(main_in_process, capsys, *digits, "--model=wgan_gp", "--train",
                  "--batch_size=8", "--epoch=3", "--learning_rate=1e8", "--ckpt_freq=1")
    assert "NaN or inf" in err or "became" in err, err
    folder = tmp_path / "out" / "mnist_wgan_gp.s28.z100.b8" / "checkpoints"
    kept = [p[:-len(".index")] for p in map(str, folder.glob("*.index"))]
    for prefix in kept:  # whatever is kept is finite
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            assert not np.issubdtype(np.asarray(value).dtype, np.floating) or np.isfinite(
                value).all(), (prefix, name)
    # the message names a checkpoint that exists, or says there is none
    assert ("no checkpoint of it was written yet" in err) == (not kept), err
    for prefix in kept:
        assert prefix in err or os.path.relpath(prefix) in err or not kept


def test_a_run_that_saved_no_checkpoint_starts_anew_with_the_flags_typed(main_in_process, digits,
                                                                        tmp_path, capsys):
    """A start that stopped before its first checkpoint left a record of nothing
    trained: the next start takes the flags typed (here no diverging learning
    rate), not that record's, and records them as the run's."""
    err = refused(main_in_process, capsys, *digits, "--model=wgan", "--train", "--batch_size=8",
                  "--epoch=2", "--learning_rate=1e30", "--out_name=n")
    assert "no checkpoint of it was written yet: rerunning starts it over" in err, err
    lines = run_main(main_in_process, *digits, "--model=wgan", "--train", "--batch_size=8",
                     "--epoch=2", "--out_name=n")
    run = tmp_path / "out" / "n"
    assert f" [*] {run} holds no checkpoint (its last start saved none): these flags start it" \
        " anew, not its record's." in lines, lines
    assert not any("Resuming" in line for line in lines), lines
    for record in (run / "FLAGS.json", run / "checkpoints" / "model.json"):
        values = json.loads(record.read_text())
        assert values.get("settings", values)["learning_rate"] == 5e-05, record


def test_test_mode_on_a_run_training_before_its_first_checkpoint_names_the_training(
        main_in_process, digits, tmp_path, capsys):
    """Test mode during a training's first --ckpt_freq iterations once said "train
    first" of a run being trained; it names the training now. The run here is a
    start that stopped before its first checkpoint; this process holds its lock
    as a training does."""
    refused(main_in_process, capsys, *digits, "--model=wgan", "--train", "--batch_size=8",
            "--epoch=1", "--learning_rate=1e30", "--out_name=n")  # diverged: nothing saved
    sampling = (*digits, "--model=wgan", "--batch_size=8", "--out_name=n", "--generate=2")
    run = tmp_path / "out" / "n"
    with run_lock.held(str(run), log=lambda line: None):
        err = refused(main_in_process, capsys, *sampling)
    assert f"{run / 'checkpoints'} has no checkpoint yet: the run is being trained, and its" \
        " training saves one every --ckpt_freq iterations" in err, err
    assert f"Training it: process {os.getpid()} on " in err
    # Nobody training it: a start that saved nothing.
    err = refused(main_in_process, capsys, *sampling)
    assert f"{run / 'checkpoints'} has no checkpoint; train first." in err, err


def test_a_state_that_turns_nan_with_finite_losses_is_never_saved(digits, tmp_path):
    """G's moving variance does not enter training-mode losses: it turns NaN and
    the losses stay finite. The next save refuses, and names what is kept."""
    config = make.config("gan", dataset="mnist", data_dir=str(tmp_path / "data"),
                         out_dir=str(tmp_path / "out"), batch_size=8, epoch=1, train=True,
                         ckpt_freq=2, seed=0)
    system = systems.compose(config.model, config.loss, config)
    source = datasets.load_training_data(config, system, quiet)
    model_config = train.model_config_for(config, system, source)
    paths = runs.RunPaths.for_run(config)
    runs.make_output_dirs(paths)
    training.train(train.make_gan(config, system, model_config), source, config, paths, quiet)
    gan = train.make_gan(config, system, model_config)
    variance = networks.batch_norms(gan.generator)[0].moving_variance
    poison = lambda: variance.assign(tf.fill(variance.shape, np.nan))  # noqa: E731
    two_epochs = dataclasses.replace(config, epoch=2)
    with pytest.raises(checkpoints.NonFiniteStateError) as error:
        training.train(gan, source, two_epochs, paths, quiet, on_start=poison)
    message = str(error.value)
    assert "moving_variance" in message and "losses were finite" in message
    assert f"{paths.checkpoint_dir}/model.b8-2 (finite when saved), is kept" in message
    assert sorted(p.name for p in (tmp_path / "out").glob("*/checkpoints/*.index")) == [
        "model.b8-2.index"]


@SHARES_A_TRAINING
def test_test_mode_refuses_a_checkpoint_that_holds_nan(gan_run, main_in_process, capsys):
    """A checkpoint an older version wrote with NaN in G makes no grid or .npz."""
    tmp_path, digits = gan_run()
    prefix = str(tmp_path / "out" / "r" / "checkpoints" / "model.b8-2")
    gan = make.gan(runs.run_record.read(str(tmp_path / "out" / "r" / "checkpoints" /
                                             "model.json")).networks, "gan", batch_size=8)
    checkpoint = tf.train.Checkpoint(**gan.checkpoint_objects())
    checkpoint.restore(prefix).assert_consumed()
    variance = networks.batch_norms(gan.generator)[1].moving_variance
    variance.assign(tf.fill(variance.shape, np.nan))
    checkpoint.write(prefix)
    err = refused(main_in_process, capsys, *digits, "--out_name=r", "--generate=8")
    assert f"{prefix} holds NaN or inf (generator: " in err and "moving_variance" in err
    assert not (tmp_path / "out" / "r" / "samples" / "generated_8.npz").exists()


# 4. A bad --inception archive replaces a good cached graph ------------------------

def _archive(path, member_bytes, name=inception.GRAPH):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(member_bytes)
        tar.addfile(info, io.BytesIO(member_bytes))
    return str(path)


def test_a_bad_archive_never_replaces_the_cached_network(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    good = small_inception_graph(str(cache / inception.GRAPH))
    before = inception.sha256_of(good)
    garbage = _archive(tmp_path / "garbage.tgz", b"\x00 not a graph" * 100)
    with pytest.raises(inception.InceptionUnavailableError, match="not a TensorFlow GraphDef"):
        inception.locate(garbage, str(cache))
    # A member too large for any FID graph is refused before it is read.
    monkeypatch.setattr(inception, "MAX_GRAPH_BYTES", 1000)
    huge = _archive(tmp_path / "huge.tgz", bytes(5000))
    with pytest.raises(inception.InceptionUnavailableError, match="5,000 bytes: more than any"):
        inception.locate(huge, str(cache))
    assert sorted(os.listdir(cache)) == [inception.GRAPH]  # no staging copy left
    assert inception.sha256_of(good) == before


# 5 and 8. Resume with another --dataset or --batch_size ----------------------------

@SHARES_A_TRAINING
@pytest.mark.parametrize("change,recorded,given", [
    (["--dataset=fashion_mnist"], "--dataset mnist", "--dataset fashion_mnist"),
    (["--batch_size=4"], "--batch_size 8", "--batch_size 4"),
])
def test_resuming_with_a_flag_the_run_contradicts_is_refused_writing_nothing(
        gan_run, main_in_process, capsys, change, recorded, given):
    tmp_path, digits = gan_run()
    run = tmp_path / "out" / "r"
    before = {name: (run / name).read_bytes() for name in files_under(run)}
    argv = [a for a in digits if not a.startswith(change[0].split("=")[0])]
    err = refused(main_in_process, capsys, *argv, "--model=gan", "--train", "--epoch=2",
                  "--batch_size=8", "--out_name=r", *change)
    assert f"was trained with {recorded} (these flags: {given}). Drop {given} to resume it" \
        in err, err
    assert len(err.splitlines()) == 1  # no TensorFlow restore warnings
    assert {name: (run / name).read_bytes() for name in files_under(run)} == before


@SHARES_A_TRAINING
def test_training_flags_without_train_are_said_to_train_nothing(gan_run, main_in_process):
    """A training command with --train left out sampled the run and exited 0,
    --epoch 3 and --learning_rate unread, with no word: a user took it for a
    longer training."""
    _, digits = gan_run()
    lines = run_main(main_in_process, *digits, "--model=gan", "--epoch=3",
                     "--learning_rate=0.001", "--noG_img_sum", "--mixed_precision",
                     "--intra_op_threads=2", "--out_name=r")
    assert " [*] No --train: test mode samples the run and trains nothing; it does not read" \
        " --epoch 3, --noG_img_sum, --intra_op_threads 2, --mixed_precision, --learning_rate" \
        " 0.001 (training's flags). Add --train to train on." in lines, lines
    assert any("Wrote" in line and "test_00000002.png" in line for line in lines)
    lines = run_main(main_in_process, *digits, "--model=gan", "--out_name=r", "--generate=2")
    assert not any("No --train" in line for line in lines), lines


def test_resume_takes_what_was_not_given_from_the_record(main_in_process, digits, tmp_path):
    """The system, its batches and prior; and the objective's targets and the
    images an epoch draws from, which a resume without their flags had set
    back to the defaults (LSGAN's 0,1,1; every image), said only in a line."""
    run_main(main_in_process, *digits, "--model=gan", "--train", "--epoch=1", "--batch_size=8",
             "--z_dist=uniform_signed", "--loss=lsgan", "--ls_abc=-1,1,0", "--train_size=16",
             "--out_name=r")
    lines = run_main(main_in_process, *digits, "--train", "--epoch=2", "--out_name=r")
    assert any("resuming after iteration 2" in line for line in lines), lines
    assert any("--epoch 1 -> 2" in line and "ls_abc" not in line for line in lines), lines
    assert " [*] Resuming with the run's own --ls_abc -1,1,0, --train_size 16 (its record," \
           " model.json), not the defaults: type a flag to change one, or pass --out_name to" \
           " start another run." in lines
    history = [json.loads(line)["flags"] for line in
               (tmp_path / "out" / "r" / "flags_history.jsonl").read_text().splitlines()]
    assert [(h["model"], h["batch_size"], h["z_dist"], h["loss"], h["ls_abc"], h["train_size"])
            for h in history] == [("gan", 8, "uniform_signed", "lsgan", "-1,1,0", 16)] * 2
    record_path = tmp_path / "out" / "r" / "checkpoints" / "model.json"
    record = json.loads(record_path.read_text())
    for name in ("ls_abc", "train_size"):  # a record from before they were kept:
        del record["settings"][name]  # its FLAGS.json says them
    record_path.write_text(json.dumps(record))
    run_main(main_in_process, *digits, "--train", "--epoch=3", "--out_name=r")
    last = json.loads((tmp_path / "out" / "r" / "flags_history.jsonl").read_text()
                      .splitlines()[-1])["flags"]
    assert (last["ls_abc"], last["train_size"]) == ("-1,1,0", 16)


@SHARES_A_TRAINING
def test_a_resumed_run_keeps_its_seed_and_test_mode_draws_with_its_own(gan_run, main_in_process,
                                                                       capsys):
    """The seed made the run's initial weights (the linear probe rebuilds them
    from the record) and orders its data: a resume with another one was
    trained on, and the record took the new seed as the run's."""
    tmp_path, digits = gan_run()
    other = [flag for flag in digits if not flag.startswith("--seed")] + ["--seed=4"]
    err = refused(main_in_process, capsys, *other, "--train", "--epoch=2", "--out_name=r")
    assert "was trained with --seed 3 (these flags: --seed 4). Drop --seed 4 to resume it" in err
    record = tmp_path / "out" / "r" / "checkpoints" / "model.json"
    assert json.loads(record.read_text())["seed"] == 3
    run_main(main_in_process, *other, "--out_name=r", "--generate=4")  # test mode's draws


def test_how_an_image_folder_was_read_is_obeyed_by_resume_and_test_mode(main_in_process,
                                                                       tmp_path, capsys):
    """A run on PNGs under --crop: resumed, or scored for memorisation, without
    those flags, it read *.jpg (an error) or trained and compared uncropped
    images (silently). Now the record keeps how its files were read: the crop
    is obeyed and a typed one against it refused; the pattern finds them
    where none is typed (a folder may be converted or renamed)."""
    folder = tmp_path / "data" / "faces"
    fakes.make_image_folder(str(folder), count=8, size=(24, 24))
    common = ["--dataset=faces", f"--data_dir={tmp_path / 'data'}", f"--out_dir={tmp_path / 'out'}",
              "--output_height=16", "--batch_size=4", "--seed=0", "--out_name=r", *TINY]
    run_main(main_in_process, *common, "--train", "--epoch=1", "--input_fname_pattern=*.png",
             "--crop", "--input_height=20")
    run = tmp_path / "out" / "r"
    assert json.loads((run / "checkpoints" / "model.json").read_text())["data"] == {
        "input_fname_pattern": "*.png", "crop": True, "input_height": 20, "input_width": 20}
    lines = run_main(main_in_process, *common, "--train", "--epoch=2")
    assert any("resuming after iteration 2" in line for line in lines), lines
    history = [json.loads(line) for line in (run / "flags_history.jsonl").read_text().splitlines()]
    assert history[1]["changed_from_FLAGS.json"] == {"epoch": [1, 2]}
    # Without --data_dir (./data holds no faces/), where the run trained: it read
    # ./data/faces/ and stopped ("No files match"), or found other images there.
    elsewhere = [flag for flag in common if not flag.startswith("--data_dir")]
    lines = run_main(main_in_process, *elsewhere, "--train", "--epoch=3")
    assert any("resuming after iteration 4" in line for line in lines), lines
    history = [json.loads(line) for line in (run / "flags_history.jsonl").read_text().splitlines()]
    assert [entry["data_dir"] for entry in history] == [str(tmp_path / "data")] * 3
    assert "data_dir" not in history[2]["changed_from_FLAGS.json"]
    lines = run_main(main_in_process, *elsewhere, "--nearest_neighbours=8")
    assert any("Nearest neighbours written" in line for line in lines), lines
    for typed, said in ((["--nocrop"], "--crop (these flags: --nocrop)"),
                        (["--input_height=24"], "--input_height 20 (these flags: --input_height")):
        err = refused(main_in_process, capsys, *common, "--generate=4", *typed)
        assert f"was trained with {said}" in err, err
    # A run recorded before `data`: FLAGS.json says how it read its files.
    record = json.loads((run / "checkpoints" / "model.json").read_text())
    del record["data"]
    (run / "checkpoints" / "model.json").write_text(json.dumps(record))
    err = refused(main_in_process, capsys, *common, "--generate=4", "--nocrop")
    assert "was trained with --crop (these flags: --nocrop)" in err, err
    record["data"] = {"crop": "yes"}
    (run / "checkpoints" / "model.json").write_text(json.dumps(record))
    err = refused(main_in_process, capsys, *common, "--generate=4")
    assert "is damaged (it records \"data\": {\"crop\": \"yes\"}" in err, err
    assert run_record.data_reading_of(config_lib.Config(dataset="mnist")) is None  # one way


# 6. --evaluate_npz trusts the file ---------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


GOOD = np.random.default_rng(0).uniform(0, 1, (6, 28, 28, 1)).astype(np.float32)


@pytest.mark.parametrize("arrays,words", [
    (dict(images=np.where(GOOD > 0.5, np.nan, GOOD)), "NaN or infinite pixel values"),
    (dict(images=GOOD, value_range=np.array([1.0, 1.0])), "which is no range"),
    (dict(images=(GOOD * 255).astype(np.uint8), value_range=np.array([0.0, 1.0])),
     r"holds values in \[0, 25[0-9]\], outside its value_range \[0, 1\]"),
    (dict(images=GOOD * 2 - 1), r"outside the range its type implies \[0, 1\]"),
    (dict(images=GOOD.astype(np.complex64)), "images of type complex64"),
    (dict(images=GOOD[:0]), "holds 0 images, too few"),
    (dict(images=np.array(["a", "b"])), "images of type <U1"),
    (dict(images=GOOD[..., 0]), r"images of shape \(6, 28, 28\)"),
    (dict(images=GOOD, labels=np.array([0, 1, 2, 3, 4, 10])), "labels from 0 to 10"),
    (dict(images=GOOD, labels=np.zeros(6, np.float32)), "`labels` of type float32"),
    (dict(images=GOOD.astype(np.int16)), "int16 images and no `value_range`"),
])
def test_an_npz_that_cannot_be_scored_is_refused_naming_it(tmp_path, arrays, words):
    path = _npz(tmp_path / "made.npz", **arrays)
    with pytest.raises(ValueError, match=f"--evaluate_npz={path} .*{words}"):
        evaluate.read_npz_images(path, labelled=True)


def test_an_npz_is_read_in_its_range(tmp_path):
    as_uint8 = (GOOD * 255).round().astype(np.uint8)
    images, _, value_range, _ = evaluate.read_npz_images(
        _npz(tmp_path / "u8.npz", images=as_uint8), labelled=True)
    assert value_range == (0.0, 255.0)  # uint8 without a range: 0-255, not [0, 1]
    np.testing.assert_allclose(metrics.to_unit_range(images, value_range),
                               as_uint8 / 255.0, atol=1e-6)


def test_bad_inception_statistics_are_refused(tmp_path):
    sigma = np.eye(2048)
    nan_mu = _npz(tmp_path / "nan.npz", mu=np.full(2048, np.nan), sigma=sigma)
    with pytest.raises(ValueError, match="NaN or infinite"):
        inception.read_statistics(nan_mu)
    negative = sigma.copy()
    negative[0, 0] = -1.0
    with pytest.raises(ValueError, match="eigenvalue -1 .*no covariance"):
        inception.read_statistics(_npz(tmp_path / "neg.npz", mu=np.zeros(2048), sigma=negative))
    skew = sigma.copy()
    skew[0, 1] = 0.5
    with pytest.raises(ValueError, match="not symmetric"):
        inception.read_statistics(_npz(tmp_path / "skew.npz", mu=np.zeros(2048), sigma=skew))


# 7. A false memorisation verdict -------------------------------------------------------

def test_nearest_neighbours_of_a_young_generator_on_noise_give_no_verdict(main_in_process,
                                                                          tmp_path):
    """4 iterations on 20 noise images: "memorising: 100.0% of samples" before."""
    folder = tmp_path / "data" / "noise"
    rng = np.random.default_rng(1)
    for i in range(20):
        fakes.write_image(str(folder / f"{i:02d}.png"), rng.integers(0, 256, (16, 16)))
    flags = ["--dataset=noise", "--input_fname_pattern=*.png", f"--data_dir={tmp_path / 'data'}",
             f"--out_dir={tmp_path / 'out'}", "--model=gan", "--output_height=16",
             "--batch_size=5", "--seed=1", "--out_name=r"]
    run_main(main_in_process, *flags, "--train", "--epoch=1")
    lines = run_main(main_in_process, *flags, "--nearest_neighbours=200")
    report = json.loads((tmp_path / "out" / "r" / "samples" / "nearest_neighbours.json")
                        .read_text())
    assert report["spaces"]["pixels"]["finding"] == "undetermined"
    assert "only 20 unseen real images" in report["verdict"]
    assert not any("memorising" in line for line in lines)
    assert report["source"]["iteration"] == 4


def test_nearest_neighbours_look_among_the_images_the_run_trained_on(
        main_in_process, tmp_path, monkeypatch, capsys, classifier_without_training):
    """A run on 40 of 110 digits (--train_size 40) had its samples' nearest
    "training images" looked for among all 110, and its JSON said it trained
    on every real image; now the 40 its batches took, the 70 others unseen."""
    # 110 images of one grey each, every one another: the nearest of them to any
    # sample are many, most of them (70/110) among those the run never took.
    greys = np.random.default_rng(0).permutation(np.linspace(0, 255, 110).round())
    directory = tmp_path / "data" / "mnist"
    directory.mkdir(parents=True)
    for split, rows in (("train", slice(0, 100)), ("t10k", slice(100, 110))):
        fakes.write_idx(str(directory / f"{split}-images-idx3-ubyte"),
                        np.broadcast_to(greys[rows, None, None], (len(greys[rows]), 28, 28)))
        fakes.write_idx(str(directory / f"{split}-labels-idx1-ubyte"),
                        np.arange(110)[rows] % 10)
    # The unseen images a verdict wants (1,000), as few as this small data set has.
    monkeypatch.setattr(memorisation, "UNSEEN_REAL", 60)
    flags = ["--dataset=mnist", f"--data_dir={tmp_path / 'data'}", f"--out_dir={tmp_path / 'out'}",
             "--input_height=28", "--output_height=28", "--batch_size=8", "--seed=1",
             "--out_name=r", *TINY]
    cache = f"--classifier_cache={tmp_path / 'cache'}"  # (never the user's own)
    run_main(main_in_process, *flags, "--train", "--epoch=1", "--train_size=40")
    capsys.readouterr()
    lines = run_main(main_in_process, *flags, "--nearest_neighbours=20", cache)
    progress = capsys.readouterr().err  # a bar per space over the images trained on
    for space in ("pixels", "classifier_features"):
        assert re.search(f"nearest neighbours in {space}: 100%.* 40/40 ", progress), progress
    report = json.loads((tmp_path / "out" / "r" / "samples" / "nearest_neighbours.json")
                        .read_text())
    said = ("the 40 of 110 images its batches took",
            "the data set's 70 images its batches never took")
    assert (report["training_images"], report["unseen_real"]) == said
    assert f" [*] Training images: {said[0]}; unseen real images: {said[1]}" in lines
    for space in report["spaces"].values():
        assert space["unseen_real"]["count"] == 60
        # The original's order is the same every epoch: the run took the first 40.
        assert all(0 <= i < 40 for row in space["first_samples_neighbours"] for i in row)
    # Resumed on 48 an epoch: the most any start drew (flags_history.jsonl).
    run_main(main_in_process, *flags, "--train", "--epoch=2", "--train_size=48")
    lines = run_main(main_in_process, *flags, "--nearest_neighbours=20", cache)
    assert " [*] Training images: the 48 of 110 images its batches took; unseen real images:" \
        " the data set's 62 images its batches never took" in lines
    # The first search is kept beside the second (it was replaced).
    history = tmp_path / "out" / "r" / "samples" / "nearest_neighbours_history.jsonl"
    assert [json.loads(line)["training_images"] for line in open(history)] == [
        said[0], "the 48 of 110 images its batches took"]
    with open(tmp_path / "out" / "r" / "flags_history.jsonl", "a") as history:
        history.write("{\"flags\": \n")  # a start's line cut short
    samples = sorted(os.listdir(tmp_path / "out" / "r" / "samples"))
    err = refused(main_in_process, capsys, *flags, "--nearest_neighbours=20", cache)
    assert "flags_history.jsonl is damaged (line 3 is not a start's flags" in err, err
    assert sorted(os.listdir(tmp_path / "out" / "r" / "samples")) == samples


def test_a_data_set_that_changed_since_training_is_said_and_not_taken_for_it(main_in_process,
                                                                          tmp_path):
    """Images added to a run's folder (or MNIST's files replaced) between two
    starts: the resumed epochs shuffle other files, and --nearest_neighbours
    reconstructed the images the run took from the files there now. Each
    start now keeps what its data set held; a resume on other data says so,
    and the memorisation check no longer claims to know what was trained on."""
    folder = tmp_path / "data" / "faces"
    fakes.make_image_folder(str(folder), count=8, size=(16, 16))
    common = ["--dataset=faces", "--input_fname_pattern=*.png", f"--data_dir={tmp_path / 'data'}",
              f"--out_dir={tmp_path / 'out'}", "--output_height=16", "--batch_size=4", "--seed=0",
              "--out_name=r", *TINY]
    run_main(main_in_process, *common, "--train", "--epoch=1", "--train_size=4")
    # The folder moved: the same files, under another name.
    os.rename(tmp_path / "data", tmp_path / "moved")
    moved = [flag.replace(str(tmp_path / "data"), str(tmp_path / "moved")) for flag in common]
    lines = run_main(main_in_process, *moved, "--train", "--epoch=2")
    assert not any("other data" in line for line in lines), lines
    fakes.make_image_folder(str(tmp_path / "moved" / "faces"), count=11, size=(16, 16), seed=1)
    lines = run_main(main_in_process, *moved, "--train", "--epoch=3")
    said = ("its start at iteration 1 trained on another data set: 8 images then, 11 now"
            " (flags_history.jsonl)")
    assert f" [!] Resuming on other data than the run's: {said}. Its epochs go on as" \
        " shuffles of these images" in " ".join(lines), lines
    history = [json.loads(line) for line in
               (tmp_path / "out" / "r" / "flags_history.jsonl").read_text().splitlines()]
    assert [entry["data"]["examples"] for entry in history] == [8, 8, 11]
    assert history[0]["data"] == history[1]["data"] != history[2]["data"]
    lines = run_main(main_in_process, *moved, "--nearest_neighbours=8")
    assert f" [*] Training images: all 11 images (taken so: {said})" \
        in " ".join(lines), lines


def _history(folder, *starts):
    """A run folder's RunPaths whose flags_history.jsonl holds `starts`, each
    (start_iteration, train_size, images in its data set)."""
    (folder / "flags_history.jsonl").write_text("".join(
        json.dumps({"start_iteration": start, "flags": {"train_size": size},
                    "data": {"examples": images, "sha256": str(images)}}) + "\n"
        for start, size, images in starts))
    return runs.RunPaths(run_dir=str(folder), checkpoint_dir="", sample_dir="", log_dir="")


def test_what_a_run_trained_on_leaves_out_starts_that_saved_nothing(tmp_path):
    """A start stopped before its first checkpoint (a NaN at iteration 1), on
    100 images an epoch of another data set, then the run begun anew on 40:
    its state holds none of the first start's training."""
    paths = _history(tmp_path, (0, 100, 9), (0, 40, 8), (6, 40, 8))
    record = run_record.RunRecord(model="dcgan", loss="", networks=None, z_dist="uniform",
                                  dataset="mnist", batch_size=8, settings={"train_size": 40})
    assert runs.largest_train_size(paths, record) == 40
    assert runs.data_changed(paths, {"examples": 8, "sha256": "8"}) is None
    assert "its start at iteration 6 trained on another data set: 8 images then, 9 now" in \
        runs.data_changed(paths, {"examples": 9, "sha256": "9"})
    assert "8 images then and now, but not the same ones (flags_history.jsonl)" in \
        runs.data_changed(paths, {"examples": 8, "sha256": "another"}, last_start_only=True)


def test_a_start_whose_data_no_start_writes_is_named_as_damaged(tmp_path):
    paths = _history(tmp_path, (0, None, "8"))
    with pytest.raises(run_record.DamagedRunFileError,
                       match="flags_history.jsonl is damaged .line 1 is not a start's flags: "
                             "TypeError..its data is"):
        runs.starts(paths)
    entry = {"start_iteration": 0, "flags": {"train_size": None}, "data_dir": 5}
    (tmp_path / "flags_history.jsonl").write_text(json.dumps(entry) + "\n")
    with pytest.raises(run_record.DamagedRunFileError, match="its data folder is 5"):
        runs.starts(paths)


# 9 and 10. Tracebacks and misleading messages ------------------------------------------

@SHARES_A_TRAINING
@pytest.mark.parametrize("field,value,words", [
    ("z_dim", "100", "\"z_dim\": \"100\", which should be a whole number"),
    ("z_dim", 100.5, "\"z_dim\": 100.5, which should be a whole number"),
    ("image_size", -28, "image_size must be at least 1, got -28"),
])
def test_a_model_json_no_run_can_have_names_the_file(gan_run, main_in_process, capsys, field,
                                                     value, words):
    tmp_path, digits = gan_run()
    path = tmp_path / "out" / "r" / "checkpoints" / "model.json"
    record = json.loads(path.read_text())
    record["networks"][field] = value
    path.write_text(json.dumps(record))
    err = refused(main_in_process, capsys, *digits, "--out_name=r", "--generate=4")
    assert f"{path} is damaged (" in err and words in err, err


def test_a_flags_json_value_of_the_wrong_type_names_the_file(main_in_process, digits, tmp_path,
                                                             capsys):
    run_main(main_in_process, *digits, *TINY, "--train", "--epoch=1", "--batch_size=8",
             "--input_height=28", "--output_height=28", "--out_name=r")
    (tmp_path / "out" / "r" / "checkpoints" / "model.json").unlink()  # an older run's folder
    (tmp_path / "out" / "r" / "checkpoints" / "model.json").write_text(json.dumps(
        dict(output_height=28, output_width=28, c_dim=1, y_dim=10, z_dim=4, gf_dim=2, df_dim=2,
             gfc_dim=8, dfc_dim=8)))
    flags_json = tmp_path / "out" / "r" / "FLAGS.json"
    flags = json.loads(flags_json.read_text())
    flags["loss"] = None
    flags_json.write_text(json.dumps(flags))
    err = refused(main_in_process, capsys, *digits, *TINY, "--train", "--epoch=2", "--batch_size=8",
                  "--input_height=28", "--output_height=28", "--out_name=r")
    assert f"{flags_json} is damaged (it records \"loss\": null" in err
    assert "no --loss" not in err


@pytest.mark.parametrize("flag", ["--gf_dim=200000", "--z_dim=50000000"])
def test_networks_that_cannot_fit_are_refused_with_their_size(main_in_process, digits, tmp_path,
                                                              capsys, flag):
    err = refused(main_in_process, capsys, *digits, "--train", "--input_height=28",
                  "--output_height=28", "--batch_size=8", flag)
    assert "Training these networks (" in err and " GB of memory" in err, err
    assert not (tmp_path / "out").exists()


@SHARES_A_TRAINING
def test_a_walk_that_cannot_fit_is_refused_before_anything_is_written(gan_run, main_in_process,
                                                                      capsys):
    tmp_path, digits = gan_run()
    before = files_under(tmp_path / "out")
    err = refused(main_in_process, capsys, *digits, "--out_name=r", "--visualize",
                  "--visualize_option=walk", "--walk_points=1000000")
    assert "--walk_points 1000000" in err and "GB of memory" in err
    assert files_under(tmp_path / "out") == before


def test_an_original_checkpoint_missing_variables_is_named(tmp_path, main_in_process, capsys):
    from tf1_reference_model import TF1ReferenceDCGAN  # noqa: PLC0415

    model = TF1ReferenceDCGAN(y_dim=10)
    folder = tmp_path / "original"
    os.makedirs(folder)
    with model.graph.as_default():
        kept = [v for v in tf.compat.v1.global_variables() if v.name != "generator/g_h2/w:0"]
        tf.compat.v1.train.Saver(var_list=kept).save(model.session, str(folder / "model.b8"),
                                                     global_step=1)
    err = refused(main_in_process, capsys, "--dataset=mnist", f"--checkpoint_dir={folder}",
                  "--input_height=28", "--output_height=28")
    assert "lacks generator/g_h2/w" in err, err


# 11. Long work shows progress -----------------------------------------------------------

def test_training_the_classifier_says_each_epoch_and_the_time_left(tmp_path):
    fakes.make_mnist(str(tmp_path / "mnist"), n_train=64, n_test=32)
    lines = []
    metrics.load_or_train_classifier(str(tmp_path / "mnist"), str(tmp_path / "cache"), epochs=2,
                                     log=lines.append)
    assert lines[0].startswith(" [*] Training the metrics' classifier on 64 real images (2"
                               " epochs")
    assert [line.split(":")[0] for line in lines[1:3]] == [" [*] Classifier epoch 1/2",
                                                          " [*] Classifier epoch 2/2"]
    assert "s left" in lines[1]


def test_two_evaluations_training_the_classifier_at_once_take_turns(tmp_path):
    """Two --evaluate runs started together on an empty classifier cache each
    trained the classifier for minutes, and the later one to finish could fail
    writing it (the first was writing the same file). The second now waits for
    the first's, then reads it from the cache."""
    fakes.make_mnist(str(tmp_path / "mnist"), n_train=64, n_test=32)
    first_trains, second_waits = threading.Event(), threading.Event()
    lines = [[], []]

    def first_log(line):
        lines[0].append(line)
        if "Training the metrics' classifier" in line:
            first_trains.set()
            second_waits.wait(10)

    def second_log(line):
        lines[1].append(line)
        if "waiting for it to finish" in line:
            second_waits.set()

    accuracies = [None, None]

    def evaluate(which, log):
        accuracies[which] = metrics.load_or_train_classifier(
            str(tmp_path / "mnist"), str(tmp_path / "cache"), epochs=2, log=log)[1]

    first = threading.Thread(target=evaluate, args=(0, first_log))
    first.start()
    assert first_trains.wait(60)
    second = threading.Thread(target=evaluate, args=(1, second_log))
    second.start()
    first.join(120)
    second.join(120)
    cached = tmp_path / "cache" / os.listdir(tmp_path / "cache")[0]
    assert lines[1] == [f" [*] process {os.getpid()} is training the metrics' classifier into"
                        f" {cached}; waiting for it to finish",
                        f" [*] Classifier from the cache: {cached}"]
    assert accuracies[0] == accuracies[1] is not None
    assert len(os.listdir(tmp_path / "cache")) == 1  # the weights, no lock left


# 12. Where an output came from ------------------------------------------------------------

def test_two_writers_of_one_file_never_replace_each_other(tmp_path):
    target = str(tmp_path / "generated_3000.npz")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\n"
         "from dcgan_tf import files\n"
         f"with files.written_whole({target!r}) as partial:\n"
         "    open(partial, 'w').write('first')\n"
         "    print('writing', flush=True)\n"
         "    sys.stdin.readline()\n"],
        env=dict(os.environ, PYTHONPATH=REPO_DIR), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "writing"
        with pytest.raises(files.BeingWrittenError, match=f"{target} is being written by"
                                                          f" process {holder.pid}"):
            files.write_text(target, "second")
    finally:
        holder.communicate("done\n", timeout=60)
    assert open(target).read() == "first"  # the first writer's file, whole
    files.write_text(target, "second")  # once it is done, the next may write
    assert open(target).read() == "second"
    assert sorted(os.listdir(tmp_path)) == ["generated_3000.npz"]  # no lock left behind


@SHARES_A_TRAINING
def test_outputs_record_the_run_and_iteration_that_made_them(gan_run, main_in_process):
    tmp_path, digits = gan_run()
    run_main(main_in_process, *digits, "--out_name=r", "--export", "--generate=8", "--seed=5")
    run = tmp_path / "out" / "r"
    # The seed the run trained with (3) apart from test mode's draws' (5): one
    # "seed", test mode's, was taken for the run's.
    expected = {"run": str(run), "iteration": 2, "run_seed": 3, "draw_seed": 5,
                "checkpoint": str(run / "checkpoints" / "model.b8-2")}
    with np.load(run / "samples" / "generated_8.npz") as arrays:
        made_by = json.loads(str(arrays["provenance"]))
    provenance = json.loads((run / "checkpoints" / "export_b8" / "provenance.json").read_text())
    for recorded in (made_by, provenance):
        assert {key: recorded[key] for key in expected} == expected
    assert "(iteration 2), trained G, --z_dist normal01, draws of --seed 5 (the run's seed: 3)" \
        in Image.open(run / "samples" / "test_00000002.png").text["Source"]


def test_a_bad_reference_is_found_before_anything_is_written(main_in_process, tmp_path, capsys):
    """Each a file or folder test mode reads after its grid: refused before the
    grid is written (the statistics before a download of the network)."""
    folder = tmp_path / "data" / "faces"
    fakes.make_image_folder(str(folder), count=8, size=(16, 16))
    common = ["--dataset=faces", "--input_fname_pattern=*.png", f"--data_dir={tmp_path / 'data'}",
              f"--out_dir={tmp_path / 'out'}", "--input_height=16", "--output_height=16",
              "--batch_size=4", "--seed=0", "--out_name=r", *TINY]
    run_main(main_in_process, *common, "--train", "--epoch=1")
    (tmp_path / "not_a_graph.pb").write_bytes(b"garbage")
    np.savez(tmp_path / "small_stats.npz", mu=np.zeros(10), sigma=np.eye(10))
    scoring = ["--evaluate", "--metrics_samples=8", "--nodownload"]
    for flags, words in (
            (["--compare_with=nothing_here"], "--compare_with=nothing_here does not exist"),
            (["--linear_probe", "--probe_dataset=nosuchset"], "--probe_dataset nosuchset"),
            ([*scoring, f"--inception={tmp_path / 'not_a_graph.pb'}"],
             "not_a_graph.pb is not a TensorFlow GraphDef"),
            ([*scoring, f"--inception_stats={tmp_path / 'small_stats.npz'}"],
             "small_stats.npz holds mu (10,) and sigma (10, 10)"),
            # A file where the networks' cache goes: found after the minutes a
            # classifier took to train, with advice about --checkpoint_dir.
            ([*scoring, f"--classifier_cache={tmp_path / 'not_a_graph.pb'}"],
             f"--classifier_cache {tmp_path / 'not_a_graph.pb'} cannot be a folder:"
             f" {tmp_path / 'not_a_graph.pb'} is a file. Pass another --classifier_cache.")):
        before = files_under(tmp_path / "out")
        err = refused(main_in_process, capsys, *common, *flags)
        assert words in err, err
        assert files_under(tmp_path / "out") == before


def test_actions_without_their_mnist_files_are_refused_before_anything_is_written(
        main_in_process, digits, tmp_path, capsys):
    """--evaluate (and --compare_with, which scores), --nearest_neighbours and
    D's visualization read the data set's files after test mode had written
    its grid."""
    common = [*digits, "--input_height=28", "--output_height=28", "--batch_size=8", *TINY]
    run_main(main_in_process, *common, "--train", "--epoch=1")
    shutil.rmtree(tmp_path / "data" / "mnist")
    before = files_under(tmp_path / "out")
    for action in (["--evaluate", "--metrics_samples=8"], ["--nearest_neighbours=4"],
                   ["--visualize", "--visualize_option=guided_backprop"]):
        err = refused(main_in_process, capsys, *common, *action, "--nodownload")
        assert f"mnist not found: {tmp_path / 'data' / 'mnist'} lacks train-images-idx3-ubyte" \
            in err, (action, err)
        assert files_under(tmp_path / "out") == before


def test_a_classifier_is_not_trained_for_a_cache_that_cannot_keep_it(tmp_path):
    directory = fakes.make_mnist(str(tmp_path / "mnist"), n_train=20, n_test=10)
    (tmp_path / "file").write_text("")
    with pytest.raises(files.OutputWriteError, match="--classifier_cache .*file/cache cannot be"
                                                     " a folder: .*file is a file"):
        metrics.load_or_train_classifier(directory, str(tmp_path / "file" / "cache"))


def test_compare_with_says_what_the_folder_holds_instead_of_an_original_run(tmp_path):
    """A folder with no checkpoint, and one of our own runs (a user's likely
    slip), each named for what it is, not only for what it lacks."""
    (tmp_path / "empty").mkdir()
    ours = tmp_path / "ours"
    ours.mkdir()
    tf.train.Checkpoint(step=tf.Variable(1)).write(str(ours / "model.b8-2"))
    (ours / "model.json").write_text("{}")
    for folder, words in (("empty", "holds no checkpoint of the original TF1 code"),
                          ("ours", "is a run of this program, not of the original TF1 code"
                                   " (test mode samples it with --checkpoint_dir)")):
        with pytest.raises(FileNotFoundError, match=re.escape(f"{folder} {words}; pass the")):
            compare.original_of(config_lib.Config(compare_with=str(tmp_path / folder)), None)


# A second hostile pass: what else would have passed silently ---------------------------

@pytest.mark.parametrize("argv,words", [
    (["--learning_rate=nan"], "--learning_rate must be a positive number, got nan"),
    (["--learning_rate=inf"], "--learning_rate must be a positive number, got inf"),
    (["--loss=lsgan", "--ls_abc=nan,1,1"], "--ls_abc takes three numbers"),
    (["--generate_png"], "--generate_png is read by --generate"),
    (["--compare_logs=logs"], "--compare_logs is read by --compare_with"),
    (["--metrics_samples=500"], "--metrics_samples is read by --evaluate or --compare_with"),
    (["--visualize_option=3"], "--visualize_option is read by --visualize, which this command"
                               " does not run"),
    (["--evaluate", "--metrics_samples=3"], "--metrics_samples must be at least 4"),
    (["--train_size=0"], r"--train_size must be at least 1, got 0\.$"),  # as typed, not 0.0
    (["--train_size=nan"], r"--train_size must be at least 1, got nan\.$"),
    (["--checkpoint_iteration=-2"], r"--checkpoint_iteration must be at least 0 (0: the newest\)"),
    (["--train", "--checkpoint_iteration=200"], r"--checkpoint_iteration is for test mode (it"
                                                r" samples an older checkpoint of a run\); training"
                                                r" resumes from the newest"),
    (["--dataset=/"], "--dataset='/' names no folder under --data_dir (the run would be named"),
    (["--dataset=.."], "--dataset=.. names no folder under --data_dir; pass --data_dir the"),
    (["--max_to_keep=-1"], r"--max_to_keep must be at least 0 (0 keeps every checkpoint\), got"
                           r" -1\.$"),
])
def test_flags_that_would_be_ignored_or_poison_a_run_are_refused(parsed_flags, argv, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parsed_flags("--dataset=mnist", *argv).validate()


def test_a_data_set_named_as_a_shell_completes_it_names_its_folder(parsed_flags):
    """--dataset faces/ (a shell's completion) was refused as "--out_name=''
    must be a plain folder name"."""
    config = parsed_flags("--dataset=faces/").validate()
    assert config.dataset == "faces" and config.run_name().startswith("faces_x108.")


def test_figures_of_fewer_images_than_usual_say_they_move_with_the_count(tmp_path):
    said = []
    evaluate.write_results({"frechet_distance": 13.7, "num_images": 1000},
                           str(tmp_path / "few.json"), said.append)
    assert [line for line in said if line.startswith(" [!]")] == [
        " [!] Scored on 1,000 images, fewer than the 10,000 of the usual figures: the Frechet"
        " distance rises as the count falls (two sets of real MNIST digits: 2.9 apart at"
        " 10,000, 13.7 at 1,000, 58 at 100) and the other figures move with it; compare"
        " figures of one count only, beside the real-data column."]
    said.clear()
    evaluate.write_results({"frechet_distance": 2.9, "num_images": 10000},
                           str(tmp_path / "usual.json"), said.append)
    assert not [line for line in said if line.startswith(" [!]")]


def test_a_later_scoring_keeps_the_earlier_ones(tmp_path):
    """metrics.json holds the latest figures; a quick check after a long
    scoring (or after more training) had replaced it, with no copy."""
    path = str(tmp_path / "metrics.json")
    for count, distance in ((50000, 2.1), (100, 58.0)):
        said = []
        evaluate.write_results({"frechet_distance": distance, "num_images": count}, path,
                               said.append)
    assert json.loads(open(path).read()) == {"frechet_distance": 58.0, "num_images": 100}
    kept = [json.loads(line) for line in open(tmp_path / "metrics_history.jsonl")]
    assert [(k["num_images"], k["frechet_distance"]) for k in kept] == [(50000, 2.1), (100, 58.0)]
    assert all(len(k["time"]) == len("2026-12-06T11:55:00") for k in kept)
    assert said[-1] == f" [*] Metrics written to {path} (each scoring kept in" \
                       f" {tmp_path / 'metrics_history.jsonl'})"


def test_figures_that_came_out_nan_are_never_written(tmp_path):
    path = tmp_path / "metrics.json"
    figures = {"frechet_distance": 12.5, "real": {"kid": float("nan")},
               "label_accuracy_by_class": [{"accuracy": float("inf")}]}
    with pytest.raises(ValueError, match="real.kid, label_accuracy_by_class.0.accuracy came"
                                         " out NaN or infinite"):
        evaluate.write_results(figures, str(path), quiet)
    assert not path.exists()
