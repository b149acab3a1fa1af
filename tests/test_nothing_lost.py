"""Nothing lost, ever (issue 20): one training per run, damaged checkpoints
survived, bounded memory for --generate, every write whole or not at all, and
bad input refused before anything is written. Real processes where the case
is about processes, real damaged files, a real full filesystem (tmpfs)."""

import glob
import json
import os
import shutil
import signal
import subprocess
import time
import tracemalloc
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import fakes
from conftest import SHARES_A_TRAINING, _main_module
from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import files
from dcgan_tf import generation
from dcgan_tf import interrupts
from dcgan_tf import metrics
from dcgan_tf.commands import sample as sample_command
from helpers import main_py, mnist_flags, wait_for_iteration

RUN = "mnist_x28.z4.uniform_signed.y28.b8"  # the run mnist_flags trains


def run_dir(tmp_path):
    return tmp_path / "out" / RUN


def train_in_process(main_in_process, tmp_path, *extra):
    lines = []
    main_in_process(*mnist_flags(tmp_path, *extra), log=lines.append)
    return lines


@pytest.fixture
def trained(shared_training, main_in_process):
    """trained(*extra) -> a folder where the tiny MNIST run of mnist_flags(folder,
    *extra) has trained, exactly as that training left it (conftest's
    shared_training: the cases that damage it share one training)."""
    return lambda *extra: shared_training(("mnist_flags", *extra), lambda folder: (
        train_in_process(main_in_process, folder, *extra)))


def in_test_mode(main_in_process, tmp_path, *extra):
    """Test mode on the run mnist_flags trains: its flags without --train."""
    argv = [a for a in mnist_flags(tmp_path, *extra) if a != "--train"]
    lines = []
    main_in_process(*argv, log=lines.append)
    return lines


# 1. One training per run.

def test_one_training_per_run_whoever_starts_it_and_the_lock_outlives_a_killed_holder(
        tmp_path, main_in_process, capsys):
    """Two unseeded starts at once would draw two seeds into one folder: one
    trains, the other refuses, and FLAGS.json records the seed that trained.
    While it trains, the same command in this process (the lock is on the
    run's folder, whoever asks) refuses at once, naming the holder, and test
    mode still works on the run. Once the holder is SIGKILLed, the next start
    takes its lock over with a message and resumes. (A short run could end
    before a start slowed by a busy machine reached the lock, which would then
    resume it instead of meeting it: the run is long, and killed.)"""
    def unseeded(*extra):
        return [a for a in mnist_flags(tmp_path, "--ckpt_freq=2", *extra) if a != "--seed=1"]

    flags = unseeded("--epoch=50")
    processes = [main_py(*flags), main_py(*flags)]
    try:
        deadline = time.time() + 300
        while all(p.poll() is None for p in processes) and time.time() < deadline:
            time.sleep(0.1)
        assert any(p.poll() is not None for p in processes), "neither start ended in 300 s"
        refusing = next(p for p in processes if p.poll() is not None)
        holder = next(p for p in processes if p is not refusing)
        _, refused = refusing.communicate(timeout=60)
        assert refusing.returncode == 1 and "is being trained by process" in refused, refused
        wait_for_iteration(holder, 4)
        second = []
        with pytest.raises(SystemExit) as exited:
            main_in_process(*flags, log=second.append)
        err = capsys.readouterr().err
        assert exited.value.code == 1, err
        assert f"is being trained by process {holder.pid} on " in err
        assert f"kill {holder.pid}" in err and "Traceback" not in err
        assert not any("Epoch:" in line for line in second)  # it trained nothing
        lines = []  # test mode reads the run while it trains
        main_in_process(*[a for a in flags if a != "--train"], "--generate=3", log=lines.append)
        assert any("Generated 3 images" in line for line in lines)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=60)
    recorded = json.loads((run_dir(tmp_path) / "FLAGS.json").read_text())["seed"]
    history = [json.loads(line) for line in
               (run_dir(tmp_path) / "flags_history.jsonl").read_text().splitlines()]
    assert [entry["flags"]["seed"] for entry in history] == [recorded]
    lines = []
    main_in_process(*unseeded("--epoch=1"), log=lines.append)
    assert any(f"Took over the lock of process {holder.pid} on " in line
               and "no longer running" in line for line in lines), lines
    assert any("resuming after iteration" in line for line in lines)


RECORDS_OF_A_START = {"model.json", "flags_history.jsonl", "training.lock"}


def test_the_same_command_after_a_finished_run_rewrites_none_of_it(tmp_path, main_in_process):
    """Its epochs done, a rerun trains nothing and says so: its samples,
    checkpoints, TensorBoard log and curves stay as they were (only the
    record of the start and the run's lock are written)."""
    train_in_process(main_in_process, tmp_path, "--epoch=1", "--train_size=16")
    kept = {path: path.stat().st_mtime_ns for path in run_dir(tmp_path).rglob("*")
            if path.is_file() and path.name not in RECORDS_OF_A_START}
    assert any(path.name == "training_curves.png" for path in kept)
    lines = train_in_process(main_in_process, tmp_path, "--epoch=1", "--train_size=16")
    assert " [*] The run has trained its 1 epoch already (iteration 2): nothing to train. An" \
           " --epoch above 1 trains on from here." in lines
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert {path.name for path in run_dir(tmp_path).rglob("*") if path.is_file()} - {
        path.name for path in kept} == RECORDS_OF_A_START


# 2. Checkpoints that survive damage.

def damage_truncated(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def damage_flipped(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("damage", [damage_truncated, damage_flipped, os.remove],
                         ids=["truncated", "byte-flipped", "missing"])
def test_each_kind_of_damage_is_found(tmp_path, damage):
    prefix = tf.train.Checkpoint(v=tf.Variable(tf.range(4096, dtype=tf.float32))).write(
        str(tmp_path / "model"))
    assert checkpoints.damage(prefix) is None
    damage(prefix + ".data-00000-of-00001")
    assert checkpoints.damage(prefix)


# CI runs the whole path for a truncated data file and a missing one (setting
# aside renames a data file only where there is one); -m slow for a flipped
# byte too, found as the test above finds it.
@SHARES_A_TRAINING
@pytest.mark.parametrize("damage", [
    damage_truncated, pytest.param(damage_flipped, marks=pytest.mark.slow), os.remove],
    ids=["truncated", "byte-flipped", "missing"])
def test_a_damaged_newest_checkpoint_is_skipped_then_set_aside(trained, main_in_process, damage):
    tmp_path = trained("--epoch=1", "--train_size=80", "--ckpt_freq=5", "--max_to_keep=2")
    folder = run_dir(tmp_path) / "checkpoints"
    newest = checkpoints.latest_checkpoint(str(folder))
    assert newest.endswith("-10")  # 80 digits // 8; 5 kept too
    data_file = newest + ".data-00000-of-00001"
    damage(data_file)
    # Test mode reads the older one and renames nothing (a training may hold the run).
    lines = in_test_mode(main_in_process, tmp_path)
    assert any(f"Checkpoint {newest} is damaged" in line and "using an older one" in line
               for line in lines), lines
    assert any("Load SUCCESS" in line and line.endswith("model.b8-5") for line in lines)
    assert os.path.exists(newest + ".index")
    # Training sets it aside (renamed, not deleted) and resumes from the older one.
    lines = train_in_process(main_in_process, tmp_path, "--epoch=2", "--train_size=80",
                             "--ckpt_freq=5", "--max_to_keep=2")
    assert any(f"Checkpoint {newest} is damaged" in line and "set aside as" in line
               for line in lines), lines
    assert os.path.exists(newest + ".index.damaged") and not os.path.exists(newest + ".index")
    if damage is not os.remove:
        assert os.path.exists(data_file + ".damaged")
    assert [int(line[1:9]) for line in lines if " Epoch:" in line][0] == 6


@SHARES_A_TRAINING
def test_a_resume_without_the_cadence_flags_keeps_the_checkpoints_the_run_kept(
        trained, main_in_process):
    """A run that keeps several checkpoints (--max_to_keep 0 keeps every one,
    for --checkpoint_iteration) resumed without the flag took the default, 1,
    and its first save deleted every older checkpoint; its cadences went back to
    the defaults too. They are the run's settings now, taken where none is typed
    and said (a typed one wins: test_robustness's resume with other flags)."""
    tmp_path = trained("--epoch=1", "--train_size=80", "--ckpt_freq=5", "--max_to_keep=2")
    lines = train_in_process(main_in_process, tmp_path, "--epoch=2", "--train_size=80")
    assert [line for line in lines if "max_to_keep" in line or "_freq" in line] == [
        " [*] Resuming with the run's own --ckpt_freq 5, --max_to_keep 2 (its record,"
        " model.json), not the defaults: type a flag to change one, or pass --out_name to"
        " start another run."]
    assert sorted(path.name for path in (run_dir(tmp_path) / "checkpoints").glob("*.index")) == [
        "model.b8-15.index", "model.b8-20.index"]  # every 5th, the newest 2 kept


@SHARES_A_TRAINING
def test_test_mode_reads_on_when_a_training_drops_the_checkpoint_it_chose(trained, monkeypatch):
    """A training keeps its newest --max_to_keep, so the checkpoint test mode
    chose can go while it reads it: its data file first, then its index.
    Test mode then reads the newer one, and D and where the epochs stood from
    that same checkpoint, at once. (It once stopped with a traceback: the
    error of a data file gone after its index was read is not NotFound; and D
    was read only when an action needed it, after --evaluate's minutes.)"""
    tmp_path = trained("--epoch=1", "--train_size=80", "--ckpt_freq=5", "--max_to_keep=2")
    folder = str(run_dir(tmp_path) / "checkpoints")
    older, newer = (os.path.join(folder, f"model.b8-{iteration}") for iteration in (5, 10))
    newest_intact = checkpoints.newest_intact
    chosen = []

    def dropped_while_read(directory, warn, set_aside_damaged=False):
        if not chosen:  # test mode chooses the older one; the training drops its data,
            chosen.append(older)
            for path in glob.glob(older + ".data-*"):
                os.remove(path)
            return older
        os.remove(older + ".index")  # then its index
        chosen.append(newest_intact(directory, warn, set_aside_damaged))
        return chosen[-1]

    monkeypatch.setattr(checkpoints, "newest_intact", dropped_while_read)
    config = config_lib.Config(  # the run mnist_flags trained; the probe reads D
        dataset="mnist", input_height=28, output_height=28, batch_size=8, seed=1,
        data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"), linear_probe=True,
        z_dim=4, gf_dim=2, df_dim=2, gfc_dim=8, dfc_dim=8)
    lines = []
    run = sample_command.load_run(config, log=lines.append)
    assert chosen == [older, newer] and run.checkpoint == newer
    assert f" [*] Load SUCCESS: {newer}" in lines
    assert run.epoch_position == checkpoints.epoch_position(newer) == (1, 0)
    monkeypatch.undo()
    again = sample_command.load_run(config, log=lambda line: None)  # newer, read directly
    for mine, direct in ((run.generator, again.generator),
                         (run.discriminator, again.discriminator)):
        assert len(mine.variables) == len(direct.variables) > 0
        for a, b in zip(mine.variables, direct.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


def test_max_to_keep_0_keeps_every_checkpoint_and_test_mode_samples_the_one_asked(
        tmp_path, main_in_process, capsys):
    """TF1's Saver, which the original passed --max_to_keep to, keeps all at 0
    (refused here before, the only way to keep a run's history); test mode's
    --checkpoint_iteration samples one of them, its outputs apart from the
    newest's."""
    train_in_process(main_in_process, tmp_path, "--epoch=1", "--train_size=48", "--ckpt_freq=2",
                     "--max_to_keep=0")
    folder = str(run_dir(tmp_path) / "checkpoints")
    every = [f"model.b8-{iteration}" for iteration in (2, 4, 6)]
    assert sorted(os.path.basename(p)[:-len(".index")]
                  for p in glob.glob(os.path.join(folder, "*.index"))) == every
    state = tf.train.get_checkpoint_state(folder)
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == every
    assert os.path.basename(state.model_checkpoint_path) == every[-1]
    samples = run_dir(tmp_path) / "samples"
    for iteration in (0, 4):
        in_test_mode(main_in_process, tmp_path, f"--checkpoint_iteration={iteration}",
                     "--generate=3", "--export")
    newest, older = samples / "generated_3.npz", samples / "iteration_4" / "generated_3.npz"
    for path, iteration in ((newest, 6), (older, 4)):
        with np.load(path) as arrays:
            assert json.loads(str(arrays["provenance"]))["iteration"] == iteration
    assert (samples / "iteration_4" / "test_00000004.png").exists()
    export = run_dir(tmp_path) / "checkpoints" / "export_b8_iteration_4" / "provenance.json"
    assert json.loads(export.read_text())["iteration"] == 4
    with pytest.raises(SystemExit):
        in_test_mode(main_in_process, tmp_path, "--checkpoint_iteration=5")
    assert "keeps no checkpoint of iteration 5; it keeps those of iterations 2, 4, 6 (training" \
        " keeps the newest --max_to_keep; 0 keeps them all)" in capsys.readouterr().err


def test_data_files_without_an_index_are_never_trained_over(tmp_path, main_in_process, capsys):
    train_in_process(main_in_process, tmp_path, "--epoch=1", "--ckpt_freq=5", "--max_to_keep=2")
    folder = run_dir(tmp_path) / "checkpoints"
    for index in folder.glob("*.index"):
        index.unlink()
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(SystemExit) as exited:
        train_in_process(main_in_process, tmp_path, "--epoch=2")
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert "holds checkpoint files but none reads back whole (model.b8-20, model.b8-15)" in err
    assert "pass --out_name to start a new run" in err
    assert sorted(p.name for p in folder.iterdir()) == before


# 3. A full disk.

@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs at tmp_path/out (root and mount(8) needed, else skip)."""
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(out)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield out
    subprocess.run(["umount", "-l", str(out)], check=False)


def fill(directory, leave):
    """Fills the filesystem of `directory` but for `leave` bytes."""
    filler = os.path.join(directory, "filler")
    free = shutil.disk_usage(directory).free
    with open(filler, "ab") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_leaves_no_debris_and_a_rerun_says_so(tmp_path, main_in_process, capsys,
                                                           small_disk):
    train_in_process(main_in_process, tmp_path, "--epoch=1", "--max_to_keep=1")
    folder = run_dir(tmp_path) / "checkpoints"
    intact = checkpoints.latest_checkpoint(str(folder))
    size = sum(os.path.getsize(p) for p in checkpoints.files_of(intact))
    filler = fill(str(small_disk), size // 3)  # no room for another checkpoint
    for attempt in range(2):  # the failed save, then a rerun on the still-full disk
        with pytest.raises(SystemExit) as exited:
            train_in_process(main_in_process, tmp_path, "--epoch=2", "--sample_freq=1000")
        err = capsys.readouterr().err
        assert exited.value.code == 1 and "Traceback" not in err, err
        assert "No space left on device" in err and "Free disk space" in err, err
        assert checkpoints.damage(intact) is None  # the last checkpoint is whole
        debris = [p for p in os.listdir(folder) if p.startswith(".")]
        assert debris == [], debris
    # Room for one checkpoint more: the run goes on, and keeps one.
    os.truncate(filler, max(0, os.path.getsize(filler) - 3 * size - 200_000))
    train_in_process(main_in_process, tmp_path, "--epoch=2", "--sample_freq=1000",
                     "--max_to_keep=1")
    assert checkpoints.latest_checkpoint(str(folder)).endswith("-40")
    assert len(list(folder.glob("*.index"))) == 1


# 4. and 11. Flag errors before anything is written; words that name the problem.

def test_a_bad_seed_writes_nothing(tmp_path, parsed_flags, capsys):
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=8)
    argv = ["--dataset", "faces", f"--data_dir={tmp_path / 'data'}", "--train",
            f"--out_dir={tmp_path / 'out'}", "--seed=-1"]
    with pytest.raises(ValueError, match=r"--seed must be in \[0, 2\*\*32\), got -1"):
        parsed_flags(*argv).validate()
    assert not (tmp_path / "out").exists()


def test_a_recorded_seed_no_run_can_have_names_the_file(tmp_path, main_in_process, capsys):
    flags = [a for a in mnist_flags(tmp_path, "--epoch=1") if a != "--seed=1"]
    run_dir(tmp_path).mkdir(parents=True)
    (run_dir(tmp_path) / "FLAGS.json").write_text('{"seed": -1}')
    with pytest.raises(SystemExit):
        main_in_process(*flags, log=lambda line: None)
    err = capsys.readouterr().err
    assert f"{run_dir(tmp_path) / 'FLAGS.json'} records \"seed\": -1" in err
    assert "Pass the run's --seed, or fix the file." in err


def test_a_failed_first_start_leaves_no_folder(tmp_path, main_in_process, capsys):
    (tmp_path / "data" / "empty").mkdir(parents=True)
    with pytest.raises(SystemExit):
        main_in_process("--dataset", "empty", f"--data_dir={tmp_path / 'data'}", "--train",
                             f"--out_dir={tmp_path / 'out'}", "--seed=0", log=lambda line: None)
    assert "No files match" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_words_that_name_the_problem(tmp_path, parsed_flags, main_in_process, capsys,
                                    monkeypatch):
    with pytest.raises(ValueError, match=r"--dataset=data/faces is a path; --dataset names a"
                                         r" folder under --data_dir: pass --data_dir=data"
                                         r" --dataset=faces\."):
        parsed_flags("--dataset", "data/faces").validate()
    # main.py's main as absl's app.run calls it: with what its flag parser left.
    main = _main_module()
    main.FLAGS.unparse_flags()
    left = main.FLAGS(["main.py", "--dataset", "mnist", "train"])
    with pytest.raises(SystemExit) as exited:
        main.main(left)
    main.FLAGS.unparse_flags()
    stray = capsys.readouterr().err
    assert exited.value.code == 1
    assert "[!] Unexpected arguments: train." in stray
    assert len([line for line in stray.splitlines() if line.startswith("  --")]) == 0
    # A first save that fails says there was no complete checkpoint yet, not "(None)".
    monkeypatch.setattr(checkpoints.CheckpointKeeper, "save",
                        lambda self, i: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(SystemExit):
        train_in_process(main_in_process, tmp_path, "--epoch=1")
    err = capsys.readouterr().err
    assert "this run had no complete checkpoint yet" in err and "(None)" not in err


def test_a_conditional_visualization_of_an_unconditional_model_is_refused(tmp_path,
                                                                          main_in_process, capsys):
    fakes.make_image_folder(str(tmp_path / "data" / "faces"), count=8)
    argv = ["--dataset", "faces", f"--data_dir={tmp_path / 'data'}", "--input_height=16",
            "--input_fname_pattern=*.png",
            "--output_height=16", "--batch_size=4", f"--out_dir={tmp_path / 'out'}", "--seed=0",
            "--z_dim=4", "--gf_dim=2", "--df_dim=2"]
    main_in_process(*argv, "--train", "--epoch=1", log=lambda line: None)
    samples = next((tmp_path / "out").iterdir()) / "samples"
    before = sorted(os.listdir(samples))
    with pytest.raises(SystemExit) as exited:
        main_in_process(*argv, "--visualize", "--visualize_option=class_grid",
                log=lambda line: None)
    assert exited.value.code == 1
    assert "--visualize_option class_grid draws one row per label, and this run's model is" \
           " unconditional" in capsys.readouterr().err
    assert sorted(os.listdir(samples)) == before  # refused before the test grid


# 5. and 6. --generate: streamed, checked, and whole or not at all.

TINY_MODEL = types.SimpleNamespace(output_height=28, output_width=28, c_dim=1, z_dim=4,
                                   conditional=True, y_dim=10, output_range=(0.0, 1.0))


def fake_sampler(z, y):
    """Images [n, 28, 28, 1] that show their z and label."""
    z, y = np.asarray(z), np.asarray(y)
    return np.broadcast_to((z[:, :1] + y.argmax(1)[:, None])[:, :, None, None],
                           (len(z), 28, 28, 1)).astype(np.float32)


def test_generate_streams_what_it_held_in_memory(tmp_path):
    """The streamed .npz holds what the in-memory generator made (same z, same
    balanced labels), and the peak memory does not grow with N."""
    path = str(tmp_path / "generated.npz")
    generation.write(fake_sampler, TINY_MODEL, 1000, "uniform_signed", 64, 3, path, progress=False)
    expected, labels = generation.generate(fake_sampler, TINY_MODEL, 1000, "uniform_signed", 64, 3)
    with np.load(path) as arrays:
        np.testing.assert_array_equal(arrays["images"], expected)
        np.testing.assert_array_equal(arrays["labels"], labels)
        assert tuple(arrays["value_range"]) == (0.0, 1.0)
    assert sorted(np.bincount(labels)) == [100] * 10
    peaks = []
    for count in (2_000, 20_000):  # 6 MB and 63 MB of images if they were held
        tracemalloc.start()
        generation.write(fake_sampler, TINY_MODEL, count, "uniform_signed", 64, 3,
                         str(tmp_path / f"g{count}.npz"), progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 4 * 2**20 and peaks[1] < 2 * peaks[0], peaks
    labels = generation.labels_of(TINY_MODEL, 20_001)  # blocks of 10,000, balanced overall
    assert sorted(np.bincount(labels)) == [2000] * 9 + [2001]


@SHARES_A_TRAINING
def test_generate_refuses_what_the_disk_cannot_hold_and_shows_progress(trained, main_in_process,
                                                                       capsys):
    tmp_path = trained("--epoch=1")
    with pytest.raises(SystemExit) as exited:
        in_test_mode(main_in_process, tmp_path, "--generate=50000000")
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "--generate 50000000 needs up to 157 GB" in err and "pass a smaller --generate" in err
    assert not list((run_dir(tmp_path) / "samples").glob("*generated*"))
    in_test_mode(main_in_process, tmp_path, "--generate=300", "--generate_png")
    err = capsys.readouterr().err
    assert "generate: 100%" in err and "300/300" in err and "img/s" in err
    assert len(os.listdir(run_dir(tmp_path) / "samples" / "generated_300")) == 300


@SHARES_A_TRAINING
def test_sigterm_while_writing_pngs_keeps_nothing_half_written(trained):
    tmp_path = trained("--epoch=1")
    samples = run_dir(tmp_path) / "samples"
    argv = [a for a in mnist_flags(tmp_path) if a != "--train"]
    process = main_py(*argv, "--generate=200000", "--generate_png")
    try:  # (the run is shared: a failure must not leave it written into)
        deadline = time.time() + 120
        while not any(p.name.startswith(".generated_200000.partial") and p.is_dir()
                      and len(os.listdir(p)) > 100 for p in samples.iterdir()):
            assert time.time() < deadline and process.poll() is None
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM received: stopped writing 200000 generated images; nothing half-written" \
           " was kept" in err and "Traceback" not in err
    assert not [p.name for p in samples.iterdir() if "generated" in p.name]


@SHARES_A_TRAINING
def test_sigterm_in_test_mode_stops_it_keeping_what_it_wrote_complete(trained, main_in_process,
                                                                     monkeypatch, capsys):
    """A scheduler's SIGTERM (as Ctrl-C) in test mode: exit 143 with a message,
    what was written before it complete, nothing after it. It once killed test
    mode without a word (Python's default for SIGTERM), leaving whatever it was
    writing as temporary files."""
    tmp_path = trained("--epoch=1")
    samples = run_dir(tmp_path) / "samples"
    write_grid = sample_command.write_grid

    def then_sigterm(*args):
        path = write_grid(*args)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives once the grid is written
        return path

    monkeypatch.setattr(sample_command, "write_grid", then_sigterm)
    # Where test mode left SIGTERM to Python's default, it would end this
    # process: a handler of the test's keeps it.
    left_to_the_test = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: left_to_the_test.append(1))
    try:
        with pytest.raises(SystemExit) as exited:
            in_test_mode(main_in_process, tmp_path, "--generate=3")
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert exited.value.code == 128 + signal.SIGTERM and not left_to_the_test, err
    assert "SIGTERM received: stopped test mode; nothing half-written was kept" in err
    grid, = samples.glob("test_*.png")
    with Image.open(grid) as image:
        image.verify()  # complete
    assert not [p.name for p in samples.iterdir() if "generated" in p.name or "partial" in p.name]


# 7.-10. Files that stop a run: an image bomb, a symlink loop, a damaged cache,
# damaged files of ours.

def test_an_oversized_image_sorted_first_is_skipped(tmp_path, monkeypatch):
    for name in ("a_huge.png", "b.png", "c.png"):
        size = (64, 64) if name == "a_huge.png" else (8, 8)
        fakes.write_image(str(tmp_path / name), np.zeros(size + (3,), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is over twice the limit
    found, _ = data.list_image_files(str(tmp_path), "*.png")
    c_dim, failures = data.probe_image_folder(found, False, 8, 8, needed=2)
    assert c_dim == 3 and list(failures) == [str(tmp_path / "a_huge.png")]
    assert "decompression bomb" in failures[str(tmp_path / "a_huge.png")]


def test_a_symlink_loop_lists_each_image_once(tmp_path):
    for i in range(40):
        fakes.write_image(str(tmp_path / "faces" / f"{i:02d}.png"), np.zeros((4, 4, 3), np.uint8))
    os.symlink(str(tmp_path / "faces"), str(tmp_path / "faces" / "loop"))
    found, repeats = data.list_image_files(str(tmp_path / "faces"), "**/*.png")
    assert len(found) == 40 and repeats > 0
    assert found == sorted(str(tmp_path / "faces" / f"{i:02d}.png") for i in range(40))


def test_a_damaged_classifier_cache_is_set_aside_and_rebuilt(tmp_path):
    fakes.make_mnist(str(tmp_path / "mnist"), n_train=64, n_test=32)
    cache = tmp_path / "cache"
    metrics.load_or_train_classifier(str(tmp_path / "mnist"), str(cache), epochs=1,
                                     log=lambda line: None)
    [path] = cache.glob("*.weights.h5")
    path.write_bytes(b"garbage" * 100)
    lines = []
    metrics.load_or_train_classifier(str(tmp_path / "mnist"), str(cache), epochs=1,
                                     log=lines.append)
    assert any(f"The classifier cache {path} is damaged" in line and "training the classifier"
               " again" in line for line in lines), lines
    assert (cache / (path.name + ".damaged")).exists()
    lines = []
    metrics.load_or_train_classifier(str(tmp_path / "mnist"), str(cache), epochs=1,
                                     log=lines.append)
    assert lines[0] == f" [*] Classifier from the cache: {path}"


@SHARES_A_TRAINING
@pytest.mark.parametrize("name,content,message", [
    ("FLAGS.json", b"\xff\xfe garbage", "is damaged ('utf-8' codec can't decode"),
    ("FLAGS.json", b"[1, 2]", "is damaged (a JSON list; it should hold the flags the run was"
                              " started with as one JSON object)"),
    ("model.json", b"{not json", "is damaged (Expecting property name"),
    ("model.json", None, "holds checkpoints but no model.json"),
])
def test_damaged_files_of_ours_are_named(trained, main_in_process, capsys, name, content, message):
    tmp_path = trained("--epoch=1")
    path = run_dir(tmp_path) / ("checkpoints" if name == "model.json" else "") / name
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    action = train_in_process if name == "FLAGS.json" else in_test_mode
    extra = ["--epoch=2"] if name == "FLAGS.json" else []
    with pytest.raises(SystemExit) as exited:
        action(main_in_process, tmp_path, *extra)
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert message in err and (str(path) in err or str(path.parent) in err), err


def test_files_written_whole_leave_nothing_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.written_whole(str(target)) as partial:
            with open(partial, "w") as f:
                f.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]


def test_a_signal_swallowed_by_a_c_call_is_still_the_signal():
    """SIGTERM inside numpy's read of a TensorFlow tensor came out as
    "SystemError: ... returned a result with an exception set" (seen once in
    CI): within interrupts.raised it is the signal's Interrupted all the same."""
    with pytest.raises(interrupts.Interrupted, match="SIGTERM received: stopped writing"):
        with interrupts.raised("writing"):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except interrupts.Interrupted:  # what the C call did with it
                raise SystemError("<method __array__> returned a result with an exception set")
    with pytest.raises(ValueError):  # without a signal, an error is itself
        with interrupts.raised("writing"):
            raise ValueError("not a signal")


def test_a_write_failure_says_the_fix_its_cause_asks_for(tmp_path):
    """A file where a folder of the path should be (--sample_dir at a file) was
    told to free disk space."""
    (tmp_path / "a_file").write_text("kept")
    with pytest.raises(files.OutputWriteError) as failed:
        files.write_text(str(tmp_path / "a_file" / "grid.png"), "")
    assert "A file stands where a folder of the path should be: pass another" \
        " --checkpoint_dir/--sample_dir/--out_dir" in str(failed.value)
    assert "disk" not in str(failed.value) and (tmp_path / "a_file").read_text() == "kept"
