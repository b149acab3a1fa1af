"""--strategy: mirrored over 2 logical CPU devices, --sync_bn, and two
multi_worker processes on 127.0.0.1. Each runs in its own process
(tests/distribute_check.py or main.py): TensorFlow fixes its devices and its
cluster when it starts."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import fakes
from conftest import REPO_DIR, _has_gpu, cpu_only
from helpers import ALL_STABILIZERS, TINY_FLAGS, largest_travel, main_py_done
from dcgan_tf import checkpoints

CHECK = os.path.join(REPO_DIR, "tests", "distribute_check.py")
ENV = dict(os.environ, PYTHONPATH=REPO_DIR, TF_CPP_MIN_LOG_LEVEL="2")
LEARNING_RATE = 0.0002
# Two replicas sum in another order than one device, so results differ in the
# last bits, and Adam's first step, lr * g / (|g| + 1e-8), magnifies that for
# gradients near 1e-8: weights are held to 1/50 of an Adam step. Biases that
# feed a batch norm have a gradient that is zero up to rounding (the norm
# subtracts the mean), so Adam moves them by rounding noise alone: they, and
# the moving means of the norms after them, are held to twice the farthest
# Adam's steps can move a variable in the iteration (tests/adam_bounds.py;
# D one step, G two).
WEIGHT_BOUND = LEARNING_RATE / 50
ZERO_GRADIENT_BIASES = ("generator/g_h0_lin/bias", "generator/g_h1_lin/bias",
                        "generator/g_h2/biases", "discriminator/d_h1_conv/biases",
                        "discriminator/d_h2_lin/bias")
NORMS_AFTER_THEM = ("generator/g_bn0/", "generator/g_bn1/", "generator/g_bn2/",
                    "discriminator/d_bn1/", "discriminator/d_bn2/")
NOISE_BOUND = {network: 2 * LEARNING_RATE * largest_travel("torch_adam", updates, 0.5, 0.999)
               for network, updates in (("generator", 2), ("discriminator", 1))}


# The tests that read the checks share their process: one worker runs them all.
CHECKS = pytest.mark.xdist_group("distribute_checks")


def run_checks(directory, *names):
    """tests/distribute_check.py's checks `names`, in one process (a start costs seconds)."""
    out = directory / "checks.json"
    done = subprocess.run([sys.executable, CHECK, "checks", str(out), *names], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    if _has_gpu():
        pytest.skip("the checks split the CPU into 2 logical devices")
    return run_checks(tmp_path_factory.mktemp("checks"), "replicas", "sync_bn", "family",
                      "own_statistics", "stabilizers", "uneven_batch")


@CHECKS
@cpu_only
def test_mirrored_on_two_cpu_devices_keeps_replicas_identical(checks):
    result = checks["replicas"]
    assert result["replicas"] == 2 and result["iteration"] == 3
    assert [d.rsplit(":", 2)[-2:] for d in result["devices"]] == [["CPU", "0"], ["CPU", "1"]]
    assert all(np.isfinite(result["losses"]).flat)
    per_replica_statistics = {n: d for n, d in result["copy_differences"].items() if "moving_" in n}
    mirrored = {n: d for n, d in result["copy_differences"].items() if "moving_" not in n}
    assert len(mirrored) == 82  # 26 weights (MNIST model), their 52 Adam slots, 4 powers
    assert mirrored and max(mirrored.values()) == 0.0, \
        {n: d for n, d in mirrored.items() if d}
    # Batch norm per replica by default: each replica's moving averages follow
    # its own half of the batch.
    assert max(per_replica_statistics.values()) > 1e-3


@CHECKS
@cpu_only
def test_sync_bn_two_replicas_compute_the_single_device_iteration(checks):
    result = checks["sync_bn"]
    assert result["replicas"] == 2
    for name, difference in result["sync"].items():
        if name.startswith(ZERO_GRADIENT_BIASES) or (
                name.startswith(NORMS_AFTER_THEM) and name.endswith("moving_mean")):
            bound = NOISE_BOUND[name.split("/")[0]]
        else:
            bound = WEIGHT_BOUND
        assert difference <= bound, (name, difference, result["moved"][name])
    # (Without --sync_bn each replica normalizes its own 4 rows: another
    # iteration, more than a full Adam step away on every weight; measured.)


def mnist_flags(tmp_path, *extra):
    return ["--dataset", "mnist", "--input_height=28", "--output_height=28", "--batch_size=16",
            *TINY_FLAGS, "--train", "--sample_freq=2", "--data_dir", str(tmp_path / "data"),
            *extra]


# main.py trains mirrored in CI with the family (below, --sync_bn); the DCGAN's
# mirrored numbers are in CI through the checks.
@pytest.mark.slow
@cpu_only
def test_main_trains_mirrored_over_logical_cpus(tmp_path, main_in_process):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    done = main_py_done(*mnist_flags(tmp_path, "--epoch=1", "--out_dir=runs",
                                     "--strategy=mirrored", "--logical_cpus=2"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replicas, 8 rows of each batch of 16 per replica; batch norm per replica" \
        in done.stdout
    run = tmp_path / "runs" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / "model.b16-5.index").exists()
    assert (run / "samples" / "train_00000005.png").exists()
    # What mirrored training wrote serves like any run: test mode, one device (here).
    main_in_process("--dataset", "mnist", "--input_height=28", "--output_height=28",
                    "--batch_size=16", *TINY_FLAGS, f"--out_dir={tmp_path / 'runs'}",
                    "--generate=20", log=lambda line: None)
    assert np.load(run / "samples" / "generated_20.npz")["images"].shape == (20, 28, 28, 1)


@CHECKS
@cpu_only
def test_a_batch_that_does_not_split_over_the_replicas_is_a_clear_error(checks):
    """main.py's command line, --batch_size 15 on 2 logical CPUs: found once the
    strategy knows its replicas, before anything is written."""
    result = checks["uneven_batch"]
    assert result["status"] == 1
    assert "does not divide by 2: pass a multiple of 2 (e.g. 14)" in result["stderr"], result
    assert not result["wrote"]


@CHECKS
@cpu_only
def test_importing_main_runs_no_tensorflow_op_and_skips_kerass_extras(checks):
    """A multi-worker strategy and logical devices must be set up before
    TensorFlow's runtime starts: no module main.py (or the checks) imports may
    run an op when imported. And main.py's start imports none of the packages
    Keras would import for integrations we never use (startup.KERAS_EXTRAS, a
    third of TensorFlow's import). The checks' process imports them all, then asks."""
    assert checks["imports"] == {"tensorflow_started": False, "keras_extras": []}


@pytest.mark.parametrize("flags, message", [
    (["--sync_bn"], "--sync_bn synchronizes batch norm over the replicas"),
    (["--strategy=mirrored", "--xla"], "--xla compiles one device's iteration"),
    (["--strategy=multi_worker"], "TF_CONFIG environment variable, which is not set"),
])
def test_bad_distribution_flags_are_clear_errors(tmp_path, flags, message, main_in_process,
                                                 monkeypatch, capsys):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises((ValueError, SystemExit)) as error:
        main_in_process(*mnist_flags(tmp_path, "--epoch=1", f"--out_dir={tmp_path / 'runs'}",
                                          *flags), log=lambda line: None)
    assert message in str(error.value) + capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_cluster(tmp_path, out_dirs, *extra):
    """Two multi_worker processes on 127.0.0.1, main.py's command line in each
    (tests/distribute_check.py worker: each dumps its variables at its end)."""
    ports = free_ports(2)
    workers = []
    for index, out_dir in enumerate(out_dirs):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, "-u", CHECK, "worker", str(tmp_path / f"worker{index}.npz"),
             *mnist_flags(tmp_path, "--strategy=multi_worker", f"--out_dir={out_dir}", *extra)],
            cwd=tmp_path, env=dict(ENV, TF_CONFIG=json.dumps(tf_config)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def finish_cluster(workers, timeout=300):
    """Each worker's (exit status, stdout, stderr); a hung cluster fails the test
    instead of blocking CI."""
    try:
        outputs = [worker.communicate(timeout=timeout) for worker in workers]
        return [(worker.returncode, *output) for worker, output in zip(workers, outputs)]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


def run_cluster(tmp_path, out_dirs, *extra):
    return finish_cluster(start_cluster(tmp_path, out_dirs, *extra))


def dumped(tmp_path, index):
    with np.load(tmp_path / f"worker{index}.npz") as values:
        return {name: values[name] for name in values.files}


def first_cluster_run(tmp_path):
    """Two multi_worker processes, one epoch: the same iterations and weights on
    both, one run folder (the chief's; the worker's --out_dir stays empty)."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    outputs = run_cluster(tmp_path, ["shared", "worker_out"], "--epoch=1")
    for returncode, stdout, stderr in outputs:
        assert returncode == 0, stderr[-3000:]
    chief, worker = dumped(tmp_path, 0), dumped(tmp_path, 1)
    assert len(chief) == 92 and chief.keys() == worker.keys()
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    # The same iterations, logged by both; one run folder, the chief's.
    log_lines = [[line for line in stdout.splitlines() if "Epoch:" in line]
                 for _, stdout, _ in outputs]
    assert len(log_lines[0]) == 5
    assert [line.split("time:")[1].split(",", 1)[1] for line in log_lines[0]] == \
        [line.split("time:")[1].split(",", 1)[1] for line in log_lines[1]]
    run = tmp_path / "shared" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / "model.b16-5.index").exists()
    assert sorted(p.name for p in (run / "samples").iterdir()) == \
        ["train_00000002.png", "train_00000004.png", "train_00000005.png"]
    assert list((run / "logs").iterdir()) and (run / "FLAGS.json").exists()
    assert not (tmp_path / "worker_out").exists()
    assert "worker 1: training with the chief" in outputs[1][1]
    return run


# CI runs one cluster (below, stopped by a signal); -m slow also one that ends
# its epoch, then resumes.
@pytest.mark.slow
def test_multi_worker_resumes_from_the_shared_run_folder_and_refuses_a_split_one(tmp_path):
    """The same command with a run folder both workers see resumes it; a worker
    that cannot see the chief's checkpoint makes both stop with the cause,
    neither waits forever."""
    run = first_cluster_run(tmp_path)
    outputs = run_cluster(tmp_path, ["shared", "shared"], "--epoch=2")
    for returncode, stdout, stderr in outputs:
        assert returncode == 0, stderr[-3000:]
        assert "resuming after iteration 5" in stdout
    chief, worker = dumped(tmp_path, 0), dumped(tmp_path, 1)
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    assert (run / "checkpoints" / "model.b16-10.index").exists()

    outputs = run_cluster(tmp_path, ["shared", "elsewhere"], "--epoch=3")
    for returncode, _, stderr in outputs:
        assert returncode != 0
        assert "The workers restored different checkpoints" in stderr
        assert "every worker must see the chief's run folder" in stderr
    assert (run / "checkpoints" / "model.b16-10.index").exists()


def test_a_cluster_trains_as_one_and_a_signal_to_one_worker_stops_it_after_a_checkpoint(
        tmp_path):
    """Two multi_worker processes: the same iterations and weights on both, one
    run folder (the chief's; the worker's --out_dir stays empty). A SIGTERM to
    the worker, not the chief, stops both after a checkpoint of the last
    iteration logged."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    workers = start_cluster(tmp_path, ["shared", "worker_out"], "--epoch=1000", "--ckpt_freq=1000")
    before_the_signal = []
    try:
        for line in workers[1].stdout:  # worker 1 (not the chief) is training
            before_the_signal.append(line)
            if "Epoch:[ 0/1000] [   4/   5]" in line:
                break
        workers[1].send_signal(signal.SIGTERM)
    finally:
        outputs = finish_cluster(workers, timeout=120)
    outputs[1] = (outputs[1][0], "".join(before_the_signal) + outputs[1][1], outputs[1][2])
    assert [returncode for returncode, _, _ in outputs] == [128 + signal.SIGTERM] * 2, outputs
    chief, worker = dumped(tmp_path, 0), dumped(tmp_path, 1)
    assert len(chief) == 92 and chief.keys() == worker.keys()
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    # The same iterations and losses, logged by both; the chief saved the last.
    log_lines = [[line.split("time:")[0] + line.split("time:")[1].split(",", 1)[1]
                  for line in stdout.splitlines() if "Epoch:" in line]
                 for _, stdout, _ in outputs]
    assert log_lines[0] == log_lines[1]
    iteration = len(log_lines[0])
    assert iteration >= 5 and [int(line[1:9]) for line in log_lines[0]] == list(
        range(1, iteration + 1))
    assert "SIGTERM received: saved" in outputs[0][2] and f"after iteration {iteration};" \
        in outputs[0][2], outputs[0][2][-2000:]
    run = tmp_path / "shared" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert checkpoints.latest_checkpoint(str(run / "checkpoints")).endswith(
        f"model.b16-{iteration}")
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        f"train_{i:08d}.png" for i in range(2, iteration + 1, 2)]  # --sample_freq 2
    assert list((run / "logs").iterdir()) and (run / "FLAGS.json").exists()
    assert not (tmp_path / "worker_out").exists()
    assert "worker 1: training with the chief" in outputs[1][1]


def assert_family_mirrored_as_on_one_device(result):
    for label, figures in result.items():
        assert figures["replicas"] == 2
        assert max(figures["copy_differences"].values()) == 0.0, label
        assert figures["median"] <= 1e-6, (label, figures["median"])
        optimizer = "torch_rmsprop" if label == "wgan" else "torch_adam"
        bound = 2 * LEARNING_RATE * largest_travel(optimizer, 2, 0.5, 0.999)  # two updates
        for name, gap in figures["gaps"].items():
            if "running_var" not in name or label == "gan_sync_bn":
                assert gap <= bound, (label, name, gap)


@CHECKS
@cpu_only
def test_family_mirrored_computes_the_single_device_iterations(checks):
    """wgan_gp on 2 replicas against one device, two iterations on a batch whose
    halves are equal (so each replica's batch norm sees the single device's
    statistics): replicas stay identical, and every weight, Adam slot and
    running mean agrees with one device to float rounding in the bulk; running
    variances differ by design (Bessel's n - 1 of 4 rows, not 8). gan with
    --sync_bn on a batch of 8 different rows: the single device's iterations,
    running variances included (each replica normalizing its own 4 rows moves
    G's weights by a full step away: measured 8e-4)."""
    result = checks["family"]
    assert sorted(result) == ["gan_sync_bn", "wgan_gp"]
    assert_family_mirrored_as_on_one_device(result)
    assert result["gan_sync_bn"]["gaps"]["G/model.11.weight"] < LEARNING_RATE / 50


# CI: the family's MLPs above (G first and critic first, batch norms, Adam, the
# penalty) and carpedm20's conv networks mirrored (the checks above); -m slow:
# wgan's RMSprop and clipping (each copy updated as Adam's are), and acgan's
# conv networks and two heads too.
@pytest.mark.slow
@cpu_only
@pytest.mark.parametrize("check,label", [("family_rmsprop", "wgan"), ("family_conv", "acgan")])
def test_more_family_models_mirrored_compute_the_single_device_iterations(tmp_path, check, label):
    """wgan (critic first, clipping, RMSprop) and acgan (G first, conv networks,
    batch norms, two heads), as the test above."""
    result = run_checks(tmp_path, check)[check]
    assert list(result) == [label]
    assert_family_mirrored_as_on_one_device(result)


@CHECKS
@cpu_only
def test_each_replicas_batch_norm_moves_twice_by_its_own_rows(checks):
    """The shared G(z) pass of D-first schedules moves G's batch norms a second
    time with the last call's statistics: on 2 replicas, each replica's own
    (their functions are traced in turn, interleaved at every cross-replica
    sync, as D's update is one). From 0, two moves by momentum 0.1 are 0.19 of
    the rows' mean, for PyTorch's and TF1's batch norms alike; a few float32
    operations on numbers below 16 round to well within 1e-6 of it."""
    result = checks["own_statistics"]
    expected = 0.19 * np.array(result["row_means"])
    for kind in ("torch", "tf1"):
        np.testing.assert_allclose(result[kind], expected, rtol=1e-6, err_msg=kind)


@CHECKS
@cpu_only
def test_every_part_keeps_the_replicas_copies_identical(checks):
    """The family's gan on 2 replicas with --sync_bn and every stabilizer, three
    iterations: every mirrored variable a checkpoint holds (the networks, both
    optimizers, spectral norm's u and v, G's average and its count) has one
    value on both replicas, while each part did its work there."""
    result = checks["stabilizers"]
    assert result["replicas"] == 2 and np.all(np.isfinite(result["losses"]))
    copies = result["copy_differences"]
    kinds = {name.split("/")[0] for name in copies}
    assert {"generator", "discriminator", "d_optimizer", "g_optimizer", "ema_generator",
            "ema"} <= kinds and any("spectral_norm/u" in name for name in copies)
    assert max(copies.values()) == 0.0, {n: d for n, d in copies.items() if d}
    r1 = result["r1_penalties"]  # --r1_every 2: R1 at iterations 1 and 3
    assert r1[0] > 0 and r1[1] == 0 and r1[2] > 0
    # Each layer's u moved, except the last one's: 1 output, so u is +-1 throughout.
    assert result["spectral_norms"] == 3 and min(result["u_moved"][:2]) > 1e-3
    assert result["ema_updates"] == 3


# Every part mirrored in CI: the replicas' copies above, and through main.py
# (train, resume, sample the average) on one device in test_stabilizers.py and
# carpedm20's networks mirrored above; -m slow runs them all at once.
@pytest.mark.slow
@cpu_only
def test_main_trains_resumes_and_samples_a_family_model_mirrored_with_every_part(
        tmp_path, main_in_process):
    """--model wgan_gp --strategy mirrored --sync_bn --logical_cpus 2 (its G has
    batch norms) with every stabilizer (spectral norm's u, G's average, the
    augmentations, R1's turn, two learning rates), through main.py: an epoch, a
    resumed one, then test mode on one device samples the average. G's turn
    comes every batch (--n_critic 1), so D's update is traced once, not in
    both branches of G's-turn cond (seconds per trace here); those branches
    run on 2 replicas in distribute_check's family checks (wgan_gp; -m slow wgan)."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=16, n_test=8)
    common = ["--dataset", "mnist", "--model", "wgan_gp", "--batch_size=8", "--seed=1",
              f"--data_dir={tmp_path / 'data'}", "--out_dir=runs"]
    flags = ["--strategy=mirrored", "--sync_bn", "--logical_cpus=2", "--n_critic=1",
             *ALL_STABILIZERS]
    for epoch in (1, 2):
        done = main_py_done(*common, *flags, "--train", f"--epoch={epoch}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replicas, 4 rows of each batch of 8 per replica; batch norm over the global batch" \
        in done.stdout and "resuming after iteration 2" in done.stdout
    run = (tmp_path / "runs"
           / "mnist_wgan_gp.s28.z100.b8.sn.ema0.9.da_color-translation-cutout.r1_1x2")
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "model.b8-4"))
    spectral = [n for n in reader.get_variable_to_shape_map() if "spectral_norm" in n]
    assert spectral and all(np.isfinite(reader.get_tensor(n)).all() for n in spectral)
    lines = []
    main_in_process(*common[:-1], f"--out_dir={tmp_path / 'runs'}", "--generate=5",
                    log=lines.append)  # test mode, one device (here), from the run's record
    assert any("Sampling G's average" in line for line in lines), lines
    with np.load(run / "samples" / "generated_5.npz") as arrays:
        assert arrays["images"].shape == (5, 28, 28, 1)


# The critic's schedule runs mirrored in CI with the family's wgan_gp
# (the same GAN step): -m slow runs it on carpedm20's networks too.
@pytest.mark.slow
@cpu_only
def test_dcgan_losses_with_a_critic_schedule_run_mirrored(tmp_path):
    """--loss wgan and wgan_gp on 2 replicas: the copies stay identical, G updates
    at batches 0 and 2 (n_critic 2), WGAN's critic stays clipped."""
    result = run_checks(tmp_path, "dcgan_losses")["dcgan_losses"]
    for loss, figures in result.items():
        assert figures["copy_differences"] == 0.0, loss
        assert np.all(np.isfinite(figures["losses"])), loss
        assert figures["g_steps"] == 2, loss
    assert result["wgan"]["largest_d_weight"] <= 0.01


def test_mirrored_over_the_one_device_a_machine_has_trains_and_serves(tmp_path, main_in_process):
    """--strategy mirrored without GPUs or --logical_cpus: one replica (it once
    failed with a TypeError from a mirrored variable updated outside its
    strategy)."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=40, n_test=8)
    flags = ["--dataset", "mnist", "--input_height=28", "--output_height=28", "--batch_size=8",
             *TINY_FLAGS, "--data_dir", str(tmp_path / "data"), f"--out_dir={tmp_path / 'out'}",
             "--seed=3", "--out_name=one"]
    gan = main_in_process(*flags, "--train", "--epoch=1", "--strategy=mirrored",
                          log=lambda line: None)
    assert gan.replicas == 1 and int(gan.iteration) == 6
    main_in_process(*flags, "--generate=4", log=lambda line: None)
    assert (tmp_path / "out" / "one" / "samples" / "generated_4.npz").exists()
