"""Every flag on every model it means something for, through main.py's flags:
the combinations that used to fail or be refused train, resume and sample; the
values that used to train garbage, or end in a traceback, are refused naming
the flag and the fix (issue 19's list, each case as a user hit it)."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import fakes
from conftest import cpu_only
from dcgan_tf import curves
from dcgan_tf import distribute
from tf1_reference_model import TF1ReferenceDCGAN

MNIST = ["--dataset", "mnist", "--input_height=28", "--output_height=28"]
TINY = ["--z_dim=4", "--gf_dim=2", "--df_dim=2", "--gfc_dim=8", "--dfc_dim=8"]


@pytest.mark.parametrize("argv,message", [
    (MNIST + ["--loss", "wgan", "--clip_value", "-1"],
     "--clip_value must be positive (the critic's weights are clipped to [-c, c] after each"
     " update), got -1.0."),
    (MNIST + ["--loss", "wgan_gp", "--lambda_gp", "-10"],
     "--lambda_gp must be at least 0 and finite (the gradient penalty's weight; 0 turns it"
     " off), got -10.0."),
    # inf clips nothing, and weighs the penalty into NaN.
    (MNIST + ["--loss", "wgan", "--clip_value", "inf"],
     "--clip_value must be a finite number (the critic's weights are clipped to [-c, c] after"
     " each update), got inf."),
    (["--dataset", "mnist", "--model", "wgan_gp", "--lambda_gp", "inf"],
     "--lambda_gp must be at least 0 and finite"),
    (MNIST + ["--loss", "wgan", "--n_critic", "0"],
     "--n_critic must be at least 1 (G's turn comes every n_critic-th batch; 1: every batch),"
     " got 0."),
    (MNIST + ["--loss", "wgan_gp", "--beta2", "1.5"], "--beta2 must be in [0, 1), got 1.5."),
    (["--dataset", "mnist", "--model", "wgan", "--n_critic", "0"], "--n_critic must be at least 1"),
    (["--dataset", "mnist", "--model", "wgan", "--clip_value", "0"], "--clip_value must be positive"),
    (["--dataset", "mnist", "--model", "gan", "--strategy", "mirrored", "--logical_cpus", "-3"],
     "--logical_cpus must be >= 0, got -3."),
    (["--dataset", "mnist", "--model", "gan", "--logical_cpus", "2"],
     "--logical_cpus splits the CPU into devices for the replicas of --strategy mirrored or"
     " multi_worker; with one device it has nothing to do. Drop it, or pass --strategy mirrored."),
    (MNIST + ["--logical_cpus", "2"], "--logical_cpus splits the CPU into devices"),
    (["--dataset", "mnist", "--model", "gan", "--intra_op_threads", "-2"],
     "--intra_op_threads must be >= 0 (0: the automatic choice), got -2."),
])
def test_a_value_that_cannot_work_is_refused_naming_its_flag(parsed_flags, argv, message):
    with pytest.raises(ValueError) as error:
        parsed_flags(*argv).validate()
    assert message in str(error.value)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """16 training digits (the family's 2 batches of 8) and 16 test digits (with
    them, carpedm20's 4)."""
    root = tmp_path_factory.mktemp("data")
    fakes.make_mnist(str(root / "mnist"), n_train=16, n_test=16)
    return root


def run(main_in_process, data_dir, out_dir, *argv):
    """`argv` run as main.py runs it; returns (result, log)."""
    lines = []
    result = main_in_process(*argv, "--batch_size=8", "--seed=0", f"--data_dir={data_dir}",
                             f"--out_dir={out_dir}", log=lines.append)
    return result, lines


def train_resume_and_sample(main_in_process, data_dir, out_dir, *argv):
    """An epoch, a second one resumed from the first's checkpoint, then test mode's
    --generate; returns (the GAN of each epoch, their logs)."""
    first, first_lines = run(main_in_process, data_dir, out_dir, *argv, "--train", "--epoch=1")
    second, second_lines = run(main_in_process, data_dir, out_dir, *argv, "--train", "--epoch=2")
    per_epoch = sum(" Epoch:" in line for line in first_lines)
    assert per_epoch > 0 and any(f"resuming after iteration {per_epoch}" in line
                                 for line in second_lines), second_lines
    assert [int(line[1:9]) for line in second_lines if " Epoch:" in line] == list(
        range(per_epoch + 1, 2 * per_epoch + 1))
    run(main_in_process, data_dir, out_dir, *argv, "--generate=5")
    generated = next(os.path.join(root, name) for root, _, files in os.walk(out_dir)
                     for name in files if name == "generated_5.npz")
    with np.load(generated) as arrays:
        assert arrays["images"].shape[0] == 5 and np.all(np.isfinite(arrays["images"]))
    return (first, second), (first_lines, second_lines)


@cpu_only
def test_acgan_trains_resumes_and_samples_with_mixed_precision_under_another_loss(
        main_in_process, data_dir, tmp_path):
    """acgan's one train-resume-sample in CI (its CLI case is -m slow):
    bfloat16 steps on float32 variables, and --loss hinge: raw validity
    scores, the class head kept (its accuracy logged), the loss in model.json
    for test mode to rebuild the same networks. One test for both: on the AVX2
    EPYC (no native bfloat16) they took 31 and 17 s, together 23 (2026-12-07)."""
    (gan, _), (lines, _) = train_resume_and_sample(
        main_in_process, data_dir, tmp_path, "--dataset", "mnist", "--model", "acgan",
        "--output_height=16", "--mixed_precision", "--loss", "hinge")
    assert " [*] Mixed precision: the steps compute in bfloat16" in lines
    assert gan.compute_dtype == tf.bfloat16
    sixteen_bit = (tf.bfloat16, tf.float16)  # variables and statistics stay float32
    assert not [v.name for v in gan.generator.variables + gan.discriminator.variables
                if v.dtype in sixteen_bit]
    steps = [line for line in lines if " Epoch:" in line]
    assert steps and all(", acc: " in line for line in steps)
    assert gan.discriminator.raw_validity
    run = tmp_path / "mnist_acgan.s16.z100.b8.hinge"
    assert '"loss": "hinge"' in (run / "checkpoints" / "model.json").read_text()


# CI: the gan's MLP (several iterations per call); -m slow: lsgan's conv
# networks, whose compiles take this test twice as long (2026-12-06, the
# AVX-512 EPYC: 10 s against 20 s). Convolutions under XLA are CI's in
# test_training.py's test_xla_iteration_computes_the_same_update.
@pytest.mark.parametrize("model", ["gan", pytest.param("lsgan", marks=pytest.mark.slow)])
def test_a_family_model_trains_resumes_and_samples_with_xla(main_in_process, data_dir, tmp_path,
                                                            model):
    size = ["--output_height=16"] if model == "lsgan" else []
    (gan, _), _ = train_resume_and_sample(main_in_process, data_dir, tmp_path, "--dataset",
                                          "mnist", "--model", model, *size, "--xla")
    assert gan.train_step._jit_compile  # noqa: SLF001 (the compiled function main.py trains)


def test_gan_trains_and_samples_from_the_prior_it_is_given(parsed_flags, main_in_process,
                                                          data_dir, tmp_path):
    """--z_dist reaches the family's training draws, its sample batch, test mode
    and its run's name (the recipe's own N(0, 1) keeps the old names)."""
    argv = ("--dataset", "mnist", "--model", "gan", "--z_dist", "uniform_signed")
    assert parsed_flags(*argv).validate().run_name() == "mnist_gan.s28.z100.b64.uniform_signed"
    assert parsed_flags("--dataset", "mnist", "--model", "gan").validate().run_name() == \
        "mnist_gan.s28.z100.b64"
    # An epoch, then test mode (what a resume takes from the record, --z_dist
    # among it: test_nothing_silently_wrong's test_resume_takes_what_was_not_given).
    gan, _ = run(main_in_process, data_dir, tmp_path, *argv, "--train", "--epoch=1")
    run(main_in_process, data_dir, tmp_path, *argv, "--generate=5")
    with np.load(tmp_path / "mnist_gan.s28.z100.b8.uniform_signed" / "samples"
                 / "generated_5.npz") as arrays:
        assert np.all(np.isfinite(arrays["images"]))
    z = gan.draw(8).z.numpy()  # the training iteration's draws (train_step takes them here)
    for values in (z, gan.sample_z.numpy()):
        assert values.min() >= -1 and values.max() <= 1 and values.max() - values.min() > 1.5
    assert os.path.isdir(tmp_path / "mnist_gan.s28.z100.b8.uniform_signed")


def test_a_critic_loss_writes_g_images_to_tensorboard(main_in_process, data_dir, tmp_path):
    """--loss wgan --G_img_sum: the critic's schedule returns G's images too."""
    run(main_in_process, data_dir, tmp_path, *MNIST, *TINY, "--loss", "wgan", "--G_img_sum",
        "--train", "--epoch=2")
    run_dir = tmp_path / "mnist_x28.z4.uniform_signed.y28.b8.wgan"
    images = []
    for name in os.listdir(run_dir / "logs"):
        for record in tf.data.TFRecordDataset(str(run_dir / "logs" / name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            images += [event.step for value in event.summary.value if value.tag == "G"]
    assert sorted(images) == list(range(1, 9))  # every iteration of both epochs
    assert len(curves.read_scalars(str(run_dir / "logs"))["d_loss"][0]) == 8


def histograms(log_dir):
    """{tag: [(step, count, min, max)]} of the histograms TensorBoard reads from
    a run's log, with its own reader."""
    reader = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"histograms": 0})
    reader.Reload()
    return {tag: [(event.step, event.histogram_value.num, event.histogram_value.min,
                   event.histogram_value.max) for event in reader.Histograms(tag)]
            for tag in reader.Tags()["histograms"]}


def test_histograms_are_the_originals_every_iteration_and_the_family_writes_none(
        main_in_process, data_dir, tmp_path):
    """carpedm20's z_sum, d_sum, d__sum each iteration, in its event files' form
    (TF1's `histo`, which TensorBoard reads): z of a batch of 8 draws of 4 in
    [-1, 1], D's sigmoid outputs in [0, 1]. The scripts write no TensorBoard,
    and a histogram of the prior's draws costs an MLP 5-8% of its iteration
    (bench/RESULTS.md), so the family's log holds the scalars only."""
    run(main_in_process, data_dir, tmp_path, *MNIST, *TINY, "--train", "--epoch=1")
    logs = tmp_path / "mnist_x28.z4.uniform_signed.y28.b8" / "logs"
    for record in tf.data.TFRecordDataset([str(path) for path in logs.iterdir()]):
        for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value:
            assert value.tag not in ("z", "d", "d_") or value.HasField("histo"), value
    written = histograms(logs)
    assert sorted(written) == ["d", "d_", "z"]
    for tag, count, low, high in (("z", 8 * 4, -1, 1), ("d", 8, 0, 1), ("d_", 8, 0, 1)):
        assert [step for step, *_ in written[tag]] == [1, 2, 3, 4], tag
        for _, num, least, most in written[tag]:
            assert num == count and low <= least <= most <= high, (tag, num, least, most)
    run(main_in_process, data_dir, tmp_path, "--dataset", "mnist", "--model", "gan", "--train",
        "--epoch=1")
    logs = tmp_path / "mnist_gan.s28.z100.b8" / "logs"
    assert histograms(logs) == {}
    assert len(curves.read_scalars(str(logs))["d_loss"][0]) == 2


def test_hinge_with_n_critic_3_gives_g_its_two_updates_every_third_batch(main_in_process,
                                                                        data_dir,
                                                                         tmp_path):
    """Goodfellow's k on carpedm20's recipe: D every batch, G's turn (its two
    updates) at batch indices 0 and 3 of each 4-batch epoch."""
    (first, second), (lines, _) = train_resume_and_sample(
        main_in_process, data_dir, tmp_path, *MNIST, *TINY, "--loss", "hinge", "--n_critic", "3")
    # TF1's Adam keeps beta1^(steps + 1): D 4 steps an epoch, G 2 turns x 2 updates.
    steps = lambda optimizer: round(np.log(float(optimizer.beta1_power)) / np.log(0.5)) - 1  # noqa: E731
    assert (steps(first.d_optimizer), steps(first.g_optimizer)) == (4, 4)
    assert (steps(second.d_optimizer), steps(second.g_optimizer)) == (8, 8)
    g_losses = [line.split("g_loss: ")[1] for line in lines if " Epoch:" in line]
    assert g_losses[1] == g_losses[2] == g_losses[0] != g_losses[3]  # kept between turns


def test_resuming_a_run_with_another_loss_names_the_loss(main_in_process, data_dir, tmp_path,
                                                         capsys):
    run(main_in_process, data_dir, tmp_path, *MNIST, *TINY, "--out_name=mine", "--train",
        "--epoch=1")
    with pytest.raises(SystemExit):
        run(main_in_process, data_dir, tmp_path, *MNIST, *TINY, "--out_name=mine", "--train",
            "--epoch=2", "--loss", "wgan")
    err = capsys.readouterr().err
    assert ("was trained with no --loss (these flags: --loss wgan). Drop --loss wgan to resume"
            " it (its model.json says how it was trained), or pass --out_name to start a new"
            " run.") in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_continuing_an_original_run_into_other_networks_is_refused_before_writing(
        main_in_process, data_dir, tmp_path, capsys):
    model = TF1ReferenceDCGAN(y_dim=10)
    model.train_iterations(1)
    folder = tmp_path / "original"
    os.makedirs(folder)
    model.save(str(folder / "model.b8"), step=1)
    before = sorted(os.listdir(folder))
    for flags, reason in ((["--loss=wgan"], "; --loss wgan trains with RMSprop, which"),
                          (["--loss=wgan_gp"], "; --loss wgan_gp trains a critic with layer"),
                          (["--spectral_norm"], "; --spectral_norm trains a D without batch")):
        with pytest.raises(SystemExit):
            run(main_in_process, data_dir, tmp_path / "out", *MNIST, "--z_dim=6", "--gf_dim=4",
                "--df_dim=4", "--gfc_dim=16", "--dfc_dim=16", f"--checkpoint_dir={folder}",
                "--train", *flags)
        err = capsys.readouterr().err
        assert "holds an original TF1 run" in err and reason in err and "Traceback" not in err
    for mode in (["--train"], ["--generate=4"]):  # a family model: neither trained beside it
        with pytest.raises(SystemExit):  # as a new run, nor sought there
            run(main_in_process, data_dir, tmp_path / "out", "--dataset=mnist", "--model=wgan",
                f"--checkpoint_dir={folder}", *mode)
        assert ("holds an original TF1 run of carpedm20's DCGAN, which --model wgan (another"
                " system) can neither continue nor sample. Drop --model"
                in capsys.readouterr().err)
    assert sorted(os.listdir(folder)) == before
    shutil.rmtree(folder)


def test_the_mlp_models_train_one_thread_per_op_unless_told(monkeypatch):
    """The threads per op are set before TensorFlow starts: one for the family's
    MLPs (main.py in a process of its own says so: test_cli.py's start-up
    test). What --intra_op_threads asks instead, and TensorFlow's own choice for
    other networks, are set_op_threads' answers, asked here as in a process
    where TensorFlow has not started (its thread count's getter and setter
    stand in for TensorFlow's)."""
    set_to = []
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)
    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", set_to.append)
    assert distribute.set_op_threads(0, small_ops=True) == 1
    assert distribute.set_op_threads(2, small_ops=True) == 2
    assert distribute.set_op_threads(3, small_ops=False) == 3
    assert distribute.set_op_threads(0, small_ops=False) is None  # TensorFlow's own choice
    assert set_to == [1, 2, 3]


def test_threads_asked_after_tensorflow_started_are_refused_before_anything_is_written(
        main_in_process, data_dir, tmp_path, capsys):
    tf.zeros([1]).numpy()  # TensorFlow has started in this process (as in any test after another)
    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(SystemExit):
        run(main_in_process, data_dir, tmp_path / "out", "--dataset=mnist", "--model=gan",
            "--train", f"--intra_op_threads={current + 3}")
    err = capsys.readouterr().err
    assert (f"--intra_op_threads {current + 3}: TensorFlow has already started in this process"
            in err and "Run the command in a new process." in err), err
    assert not (tmp_path / "out").exists()
    assert tf.config.threading.get_intra_op_parallelism_threads() == current
