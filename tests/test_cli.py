"""main.py: the original's flags and defaults, bad input, and train -> test mode."""

import importlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import fakes
from conftest import REPO_DIR, _main_module, cpu_only
from helpers import TINY_FLAGS, checkpoint_values, main_py, main_py_done
from dcgan_tf import app
from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import latent
from dcgan_tf import objectives
from dcgan_tf import startup
from dcgan_tf import systems
from dcgan_tf import visualize
from dcgan_tf.experiments import latent_space


def test_defaults_are_the_originals(parsed_flags):
    config = parsed_flags()
    original = dict(epoch=25, learning_rate=0.0002, beta1=0.5, batch_size=64, input_height=108,
                    input_width=108, output_height=64, output_width=64, dataset="celebA",
                    input_fname_pattern="*.jpg", data_dir="./data", train=False, crop=False,
                    visualize=False, export=False, freeze=False, max_to_keep=1,
                    sample_freq=200, ckpt_freq=200, z_dim=100, z_dist="uniform_signed",
                    G_img_sum=False, sample_dir="samples", out_name="")
    assert {k: getattr(config, k) for k in original} == original
    assert math.isinf(config.train_size)
    # Where the default layout differs from the original's: docs/differences.md.
    assert (config.checkpoint_dir, config.out_dir) == ("checkpoints", "")


def test_original_readme_flags_parse(parsed_flags):
    config = parsed_flags("--dataset=eyes", "--data_dir", "../datasets/",
                          "--input_fname_pattern=*_cropped.png", "--train")
    assert (config.dataset, config.input_fname_pattern, config.train) == (
        "eyes", "*_cropped.png", True)
    config = parsed_flags("--dataset", "mnist", "--input_height=28", "--output_height=28",
                          "--train", "--train_size", "3200")
    assert config.validate().train_examples_limit == 3200 and config.conditional


@pytest.mark.parametrize("argv,message", [
    (["--batch_size=0"], "--batch_size must be at least 1"),
    (["--dataset", "mnist", "--input_height=28", "--output_height=28", "--crop"], "drop --crop"),
    (["--out_name", "a/b"], "plain folder name"),
])
def test_bad_flag_combinations_are_rejected_with_the_fix(parsed_flags, argv, message):
    with pytest.raises(ValueError, match=message):
        parsed_flags(*argv).validate()


def test_train_mode_checks_the_images_the_networks_can_make(parsed_flags):
    """Once a run's record has given what the flags did not (train.run)."""
    with pytest.raises(ValueError, match="pass --input_height=28 --output_height=28"):
        systems.check_images(parsed_flags("--dataset", "mnist", "--train").validate())


def test_unknown_z_dist_is_rejected(parsed_flags):
    with pytest.raises(flags.IllegalFlagValueError, match="normal01"):
        parsed_flags("--z_dist", "gaussian")
    with pytest.raises(ValueError, match="Unknown --z_dist='gaussian'"):
        config_lib.Config(z_dist="gaussian").validate()


def run_app(capsys, **options):
    with pytest.raises(SystemExit):
        app.run(config_lib.Config(**options))
    return capsys.readouterr().err


def test_bad_data_is_reported_before_anything_is_written(tmp_path, capsys):
    out = str(tmp_path / "out")
    err = run_app(capsys, dataset="faces", data_dir=str(tmp_path), out_dir=out, train=True)
    assert f"No files match {str(tmp_path / 'faces' / '*.jpg')!r}" in err
    fakes.make_image_folder(str(tmp_path / "faces"), count=5, suffix=".jpg")
    err = run_app(capsys, dataset="faces", data_dir=str(tmp_path), out_dir=out, train=True)
    assert "has 5 images" in err and "fewer than --batch_size=64" in err
    err = run_app(capsys, dataset="mnist", input_height=28, output_height=28, download=False,
                  data_dir=str(tmp_path), out_dir=out, train=True)
    assert "python download.py mnist" in err
    assert not os.path.exists(out)


def test_a_pattern_that_matches_nothing_is_told_the_images_the_folder_holds(tmp_path, capsys):
    """The default pattern is the original's *.jpg: a folder of other images, or
    of images in subfolders, is answered with the pattern that reads them, and
    that pattern does."""
    out = tmp_path / "out"

    def refusal(dataset, **options):
        return run_app(capsys, dataset=dataset, data_dir=str(tmp_path), out_dir=str(out),
                       train=True, **options)

    assert f"{tmp_path / 'missing'} does not exist" in refusal("missing")
    for spelled in ("MNIST", "Fashion-MNIST", "fashionmnist", "CelebA"):  # what was meant
        assert {"MNIST": "(MNIST is --dataset mnist)", "CelebA": "download.py celebA"}.get(
            spelled, "(Fashion-MNIST is --dataset fashion_mnist)") in refusal(spelled)
    fakes.make_image_folder(str(tmp_path / "pngs"), count=3)
    assert "holds 3 .png files: pass --input_fname_pattern '*.png'." in refusal("pngs")
    fakes.make_image_folder(str(tmp_path / "nested" / "a"), count=2)
    assert ("holds 2 .png files in its subfolders: pass --input_fname_pattern '**/*.png'."
            in refusal("nested"))
    assert "has 2 images" in refusal("nested", input_fname_pattern="**/*.png")
    fakes.make_image_folder(str(tmp_path / "mixed"), count=2, suffix=".JPG")
    fakes.make_image_folder(str(tmp_path / "mixed"), count=1, suffix=".bmp")
    assert "holds 2 .JPG and 1 .bmp files: pass --input_fname_pattern '*'." in refusal("mixed")
    assert "has 3 images" in refusal("mixed", input_fname_pattern="*")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("no image")
    assert "Put images there, or point" in refusal("notes")
    assert not out.exists()


def test_images_smaller_than_the_output_are_said_to_be_scaled_up(tmp_path, capsys):
    """The original scales every image to the output size; a folder of smaller
    images is told so, with the flags that train at their size (these three
    images are one batch short, so the run stops once the data is read)."""
    fakes.make_image_folder(str(tmp_path / "small"), count=3, size=(16, 24))

    def said(**options):
        with pytest.raises(SystemExit):
            app.run(config_lib.Config(dataset="small", data_dir=str(tmp_path), train=True,
                                      out_dir=str(tmp_path / "out"), input_fname_pattern="*.png",
                                      **options))
        output = capsys.readouterr()
        assert "has 3 images" in output.err
        return [line for line in output.out.splitlines() if "scaled up" in line]

    assert said() == [" [!] The images are at most 16x24 (the first 3 read), smaller than the"
                      " 64x64 output: each is scaled up to it, as the original does."
                      " --output_height 16 --output_width 24 trains at their size."]
    assert said(output_height=16, output_width=16) == []  # at most as large in one side
    assert said(crop=True, input_height=12, input_width=12) == []  # the crop is the user's
    assert not (tmp_path / "out").exists()


def test_colour_images_after_a_grayscale_first_one_are_said_to_train_gray(tmp_path, capsys):
    """A folder's channels are its first image's, as the original decides: a
    grayscale first image among colour ones turns them all gray, and is said
    (the reverse, gray among colour, loses nothing and says nothing)."""
    fakes.make_image_folder(str(tmp_path / "faces"), count=3, size=(64, 64))
    fakes.write_image(str(tmp_path / "faces" / "img_000.png"), np.full((64, 64), 200))

    def said(images=3, **options):
        with pytest.raises(SystemExit):
            app.run(config_lib.Config(dataset="faces", data_dir=str(tmp_path), train=True,
                                      out_dir=str(tmp_path / "out"), input_fname_pattern="*.png",
                                      **options))
        output = capsys.readouterr()
        assert f"has {images} images" in output.err
        return [line for line in output.out.splitlines() if "grayscale" in line]

    first = str(tmp_path / "faces" / "img_000.png")
    assert said() == [f" [!] {first}, the first image, is grayscale, so every image is trained"
                      " in grayscale (c_dim=1), as the original decides; 2 of the first 3 read"
                      " are colour. To train in colour, convert the grayscale images to RGB, or"
                      " leave them out with --input_fname_pattern."]
    (tmp_path / "faces" / "img_002.png").write_bytes(b"no image")  # not read for 2 images:
    assert len(said(images=2, train_size=2)) == 1  # no word of it, the count's error stands
    fakes.make_image_folder(str(tmp_path / "faces"), count=3, size=(64, 64))  # colour first,
    fakes.write_image(str(tmp_path / "faces" / "img_001.png"), np.full((64, 64), 200))  # gray 2nd
    assert said() == []
    assert not (tmp_path / "out").exists()


def test_test_mode_without_a_trained_run_says_to_train(tmp_path, capsys):
    err = run_app(capsys, dataset="mnist", input_height=28, output_height=28,
                  checkpoint_dir=str(tmp_path))
    assert "No trained run for --dataset=mnist" in err and "--train" in err


def test_main_trains_then_test_mode_finds_the_run_without_data(tmp_path, main_in_process,
                                                               monkeypatch):
    """main.py's command line in this process (a training in a process of its
    own, exit 0: trained_in_its_own_process below)."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    monkeypatch.chdir(tmp_path)  # main.py's default folders, here
    common = ["--dataset", "mnist", "--input_height=28", "--output_height=28",
              "--batch_size=16", *TINY_FLAGS]
    lines = []
    main_in_process(*common, "--train", "--epoch=1", "--sample_freq=2", "--ckpt_freq=3",
                    log=lines.append)
    run = "mnist_x28.z8.uniform_signed.y28.b16"
    assert any("[       5 Epoch:[ 0/ 1] [   4/   5]" in line for line in lines), lines
    assert sorted(os.listdir(tmp_path / "samples" / run)) == [  # every 2, and the last
        "train_00000002.png", "train_00000004.png", "train_00000005.png"]
    flags = json.loads((tmp_path / "checkpoints" / run / "FLAGS.json").read_text())
    assert flags["batch_size"] == 16 and flags["train"] is True and flags["seed"] is not None
    assert (tmp_path / "checkpoints" / run / "model.b16-5.index").exists()

    os.rename(tmp_path / "data", tmp_path / "elsewhere")  # test mode needs no data set
    main_in_process("--dataset", "mnist", "--input_height=28", "--output_height=28",
                    "--batch_size=16", "--z_dim=8", log=lambda line: None)
    assert (tmp_path / "samples" / run / "test_00000005.png").exists()


# main.py in a process of its own, as a user starts it (one start serves these
# tests: a start costs 8 s of TensorFlow's import on the AVX2 EPYC): lsgan's
# conv nets, whose training step makes Grappler's remapper give up with an
# "E0000 ... remapper failed" line once per process (a TensorFlow bug,
# startup.GRAPH_OPTIMIZER_NOTICES) that read as a failure of the run.
OWN_PROCESS = pytest.mark.xdist_group("trained_in_its_own_process")


def lsgan_flags(data_dir, seed, name):
    return ["--dataset", "mnist", "--model", "lsgan", "--output_height=16", "--batch_size=8",
            "--train", "--epoch=1", f"--data_dir={data_dir}", f"--seed={seed}",
            f"--out_name={name}"]


@pytest.fixture(scope="module")
def trained_in_its_own_process(tmp_path_factory):
    """main.py training 2 iterations of lsgan in a process of its own: its
    whole output, and the folder it ran in."""
    folder = tmp_path_factory.mktemp("own_process")
    fakes.make_mnist(str(folder / "data" / "mnist"), n_train=16, n_test=8)
    done = main_py_done(*lsgan_flags(folder / "data", 5, "first"), cwd=folder)
    return done, folder


@OWN_PROCESS
def test_a_training_in_its_own_process_exits_0_and_says_nothing_on_stderr(
        trained_in_its_own_process):
    """No remapper line (main.py holds it back; absl's --verbosity shows it), and
    none of TensorFlow's start-up notices."""
    done, _ = trained_in_its_own_process
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[       2 Epoch:[ 0/ 1] [   1/   2]" in done.stdout
    assert done.stderr == ""


@OWN_PROCESS
@cpu_only
def test_start_up_shows_where_it_computes_naming_the_cpu(trained_in_its_own_process):
    done, _ = trained_in_its_own_process
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    mkl = __import__("tensorflow.python.util._pywrap_util_port", fromlist=["IsMklEnabled"])
    state = "on" if mkl.IsMklEnabled() else "off"  # this process started as main.py did
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    why = f"TF_ENABLE_ONEDNN_OPTS={setting}" if setting else "TensorFlow's default for this CPU"
    assert done.stdout.startswith(f" [*] Devices: CPU ({threads} threads, oneDNN {state}:"
                                  f" {why})\n")


@OWN_PROCESS
def test_the_same_seed_gives_identical_checkpoints(trained_in_its_own_process, main_in_process,
                                                  monkeypatch):
    """The same command in this process writes the checkpoint the process of its
    own wrote, bit for bit; another seed, another."""
    _, folder = trained_in_its_own_process
    monkeypatch.chdir(folder)  # main.py's default folders, there
    def saved(name):
        return checkpoint_values(checkpoints.latest_checkpoint(str(folder / "checkpoints" / name)))

    runs = {"first": saved("first")}
    for name, seed in (("second", 5), ("other", 6)):
        main_in_process(*lsgan_flags(folder / "data", seed, name), log=lambda line: None)
        runs[name] = saved(name)
    assert runs["first"].keys() == runs["second"].keys()
    for key in runs["first"]:
        np.testing.assert_array_equal(runs["first"][key], runs["second"][key], err_msg=key)
    differing = [k for k in runs["first"] if k.startswith("generator")
                 and not np.array_equal(runs["first"][k], runs["other"][k])]
    assert differing  # and another seed gives another run


@cpu_only
def test_start_up_says_what_was_set_before_tensorflow_started(tmp_path, monkeypatch):
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS as it is imported; the first line
    says what TensorFlow then runs with, asked of it. The setting asked is the
    one this CPU would not otherwise run with (this process started as main.py
    does), so the line can only be right if the setting was obeyed. The threads
    per op are set before TensorFlow starts too: one for the family's MLPs
    (their small ops run faster one per core at a time: bench/RESULTS.md), said
    (the start is stopped once it has said so; --intra_op_threads' answers are
    test_every_flag.py's)."""
    mkl = __import__("tensorflow.python.util._pywrap_util_port", fromlist=["IsMklEnabled"])
    setting, state = ("0", "off") if mkl.IsMklEnabled() else ("1", "on")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=16, n_test=8)
    process = main_py("--dataset=mnist", "--model=gan", "--train", "--epoch=1", "--batch_size=8",
                      "--seed=0", f"--data_dir={tmp_path / 'data'}", cwd=tmp_path)
    said = []
    try:
        for line in process.stdout:
            said.append(line.rstrip("\n"))
            if line.startswith(" [*] CPU:"):
                break
    finally:
        process.kill()
        _, err = process.communicate(timeout=60)
    assert said and f", oneDNN {state}: TF_ENABLE_ONEDNN_OPTS={setting})" in said[0], (said, err)
    assert said[-1] == " [*] CPU: 1 thread per op", (said, err[-2000:])


AVX2_ONLY = {"sse2", "avx", "avx2", "fma"}
AVX512 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"}


def test_dcgan_tf_chooses_onednn_only_where_it_decided_to_and_a_user_has_not():
    """Where the switch for AVX2-only CPUs is on (startup.ONEDNN_ON_AVX2_ONLY_CPUS),
    those CPUs get oneDNN; a user's own TF_ENABLE_ONEDNN_OPTS, either way, and
    TensorFlow's default on every other CPU stand."""
    chosen = ("1", startup.ONEDNN_AVX2_DEFAULT)
    assert startup.onednn_choice({}, AVX2_ONLY, avx2_only_default=True) == chosen
    for users in ("0", "1", ""):
        assert startup.onednn_choice({"TF_ENABLE_ONEDNN_OPTS": users}, AVX2_ONLY, True) is None
    assert startup.onednn_choice({}, AVX512, avx2_only_default=True) is None
    assert startup.onednn_choice({}, {"sse2", "avx"}, avx2_only_default=True) is None
    assert startup.onednn_choice({}, AVX2_ONLY, avx2_only_default=False) is None


def test_choosing_onednn_sets_what_tensorflow_reads_and_the_start_up_line_says_who(monkeypatch):
    monkeypatch.setattr(startup, "ONEDNN_ON_AVX2_ONLY_CPUS", True)
    monkeypatch.setattr(startup, "_onednn_chosen_here", None)  # restored afterwards
    monkeypatch.setattr(startup, "cpu_flags", lambda: AVX512)
    environ = {}
    startup.choose_onednn(environ)
    assert environ == {}  # TensorFlow's default for an AVX-512 CPU stands
    monkeypatch.setattr(startup, "cpu_flags", lambda: AVX2_ONLY)
    startup.choose_onednn(environ)
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert startup.onednn_state().endswith(f": {startup.ONEDNN_AVX2_DEFAULT}")
    users = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    startup.choose_onednn(users)
    assert users == {"TF_ENABLE_ONEDNN_OPTS": "0"}


def test_kerass_extras_are_not_installed_while_tensorflow_imports_then_import_as_usual(
        tmp_path, monkeypatch):
    """Keras imports each extra in a try/except ImportError: held back, a
    package and its modules raise ModuleNotFoundError (which such code, and
    code catching that narrower error, take for "not installed"); one already
    imported is not held back; after the block every one imports."""
    for package in ("extra_a", "extra_b"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "part.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("extra_a", "extra_a.part", "extra_b", "extra_b.part"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("extra_b")  # imported before: not held back

    with startup.keras_extras_held_back(("extra_a", "extra_b")):
        for name in ("extra_a", "extra_a.part"):
            with pytest.raises(ModuleNotFoundError, match="held back while TensorFlow imports"):
                importlib.import_module(name)
        assert importlib.import_module("extra_b.part").VALUE == 1
    assert "extra_a" not in sys.modules
    assert importlib.import_module("extra_a.part").VALUE == 1


def test_cpu_flags_and_model_are_read_from_linux(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n"
                       "flags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\n")
    assert startup.cpu_flags(str(cpuinfo)) == {"fpu", "sse2", "avx2", "fma"}
    assert startup.cpu_model(str(cpuinfo)) == "AMD EPYC 7B13"
    assert startup.cpu_flags(str(tmp_path / "missing")) == set()


def test_held_stderr_passes_real_errors_and_holds_start_up_notices():
    seen = io.StringIO()
    with startup.held_native_stderr(stream=seen):
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"E0000 some_kernel.cc:9] a real failure\n")
    assert seen.getvalue() == "E0000 some_kernel.cc:9] a real failure\n"


def test_a_flag_error_is_its_message_and_where_help_is(capsys):
    """main.py's main(), in this process: exit status 1, two lines on stderr,
    nothing on stdout (not even the devices line: nothing has started)."""
    main = _main_module()
    main.FLAGS(["main.py", "--batch_size", "0"])
    try:
        with pytest.raises(SystemExit) as exited:
            main.main(["main.py"])
    finally:
        main.FLAGS.unparse_flags()
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == ["[!] --batch_size must be at least 1, got 0.",
                                "    (python main.py --helpshort lists the flags)"]
    assert out == ""


@pytest.mark.parametrize("argv,exit_code,shown", [
    (["--help"], 0, ("stdout", "The original's flags:\n  --epoch: Epoch to train [25]")),
    (["--epochs=2"], 1, ("stderr", "Unknown command line flag 'epochs'. Did you mean: epoch ?")),
    (["--model=dcgna"], 1, ("stderr", "flag --model=dcgna: value should be one of <dcgan|gan|")),
])
def test_help_and_a_mistyped_flag_answer_without_importing_tensorflow(argv, exit_code, shown):
    """absl parses main.py's flags before main() imports TensorFlow (about 7 s of
    a start on the slowest CPU met): -X importtime lists every module imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", os.path.join(REPO_DIR, "main.py"),
                           *argv], capture_output=True, text=True, timeout=120, cwd=REPO_DIR)
    assert done.returncode == exit_code
    assert shown[1] in getattr(done, shown[0])
    imported = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line]
    assert "absl.flags" in imported  # the listing is there
    assert not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]


def test_the_flags_offer_each_registered_name_and_no_other():
    """The flags take their choices from dcgan_tf.choices (no TensorFlow); the
    modules that give those names meaning register the same ones, in order."""
    main = _main_module()
    assert main.FLAGS["model"].parser.enum_values == list(systems.SYSTEMS)
    assert main.FLAGS["loss"].parser.enum_values == [""] + list(systems.LOSSES)
    assert main.FLAGS["divergence"].parser.enum_values == list(objectives.DIVERGENCES)
    assert main.FLAGS["z_dist"].parser.enum_values == list(latent.Z_DISTRIBUTIONS)
    assert main.FLAGS["visualize_option"].parser.enum_values == list(visualize.OPTIONS) + ["all"]
    assert main.FLAGS["walk_interpolation"].parser.enum_values == list(latent_space.INTERPOLATIONS)


def test_ctrl_c_while_starting_exits_130_without_a_traceback(tmp_path):
    """SIGINT while TensorFlow is being imported. The child imports a stand-in
    `tensorflow` that says when its import began and then takes five minutes, so
    the signal lands in the import however fast the machine starts (half a
    second in was once enough; on a fast CPU start-up was over by then). The
    waits are generous: once, beside four benchmarks (ten times the usual load),
    the child had not answered SIGINT within 60 s; the cause was not found, and
    it passed in every quieter run (six in a row beside two benchmarks)."""
    stub, run_dir, marker = tmp_path / "stub" / "tensorflow", tmp_path / "run", tmp_path / "began"
    stub.mkdir(parents=True)
    run_dir.mkdir()
    (stub / "__init__.py").write_text(
        "import os, time\nopen(os.environ['IMPORT_BEGAN'], 'w').close()\ntime.sleep(300)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub.parent), REPO_DIR]),
               TF_CPP_MIN_LOG_LEVEL="2", IMPORT_BEGAN=str(marker))
    process = subprocess.Popen([sys.executable, "-u", os.path.join(REPO_DIR, "main.py"),
                                "--dataset", "mnist", "--input_height=28", "--output_height=28"],
                               cwd=run_dir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               # Ctrl-C as at a terminal: a suite started in the
                               # background (`cmd &`) hands its children SIGINT ignored.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 180
    while not marker.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    if not marker.exists():
        process.kill()
        pytest.fail(f"the child never reached the import: {process.communicate()[1][-2000:]}")
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()  # a child that never answered is not left sleeping
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in err
    assert os.listdir(run_dir) == []
