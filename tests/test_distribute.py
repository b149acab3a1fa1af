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

import fakes
from test_family_golden import largest_travel
from conftest import REPO_DIR, cpu_only
from test_cli import TINY_FLAGS, main_py

CHECK = os.path.join(REPO_DIR, "tests", "distribute_check.py")
ENV = dict(os.environ, PYTHONPATH=REPO_DIR, TF_CPP_MIN_LOG_LEVEL="2")
LEARNING_RATE = 0.0002
# Two replicas sum in another order than one device, so results differ in the
# last bits, and Adam's first step, lr * g / (|g| + 1e-8), magnifies that for
# gradients near 1e-8: weights are held to 1/50 of an Adam step. Biases that
# feed a batch norm have a gradient that is zero up to rounding (the norm
# subtracts the mean), so Adam moves them by rounding noise alone; they, and the
# moving means they shift, get a looser bound (still under one step).
WEIGHT_BOUND = LEARNING_RATE / 50
ZERO_GRADIENT_BIASES = ("generator/g_h0_lin/bias", "generator/g_h1_lin/bias",
                        "generator/g_h2/biases", "discriminator/d_h1_conv/biases",
                        "discriminator/d_h2_lin/bias")


def check(mode, tmp_path):
    out = tmp_path / f"{mode}.json"
    done = subprocess.run([sys.executable, CHECK, mode, str(out)], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@cpu_only
def test_mirrored_on_two_cpu_devices_keeps_replicas_identical(tmp_path):
    result = check("replicas", tmp_path)
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


@cpu_only
def test_sync_bn_two_replicas_compute_the_single_device_iteration(tmp_path):
    result = check("sync_bn", tmp_path)
    assert result["replicas"] == 2
    for name, difference in result["sync"].items():
        if name.startswith(ZERO_GRADIENT_BIASES):
            bound = LEARNING_RATE / 4
        elif "moving_mean" in name:
            bound = 1e-5
        else:
            bound = WEIGHT_BOUND
        assert difference <= bound, (name, difference, result["moved"][name])
    # Without --sync_bn each replica normalizes its own 4 rows: a different
    # iteration, by about one Adam step on every weight.
    assert result["per_replica"]["generator/g_h3/w"] > LEARNING_RATE
    assert result["per_replica"]["discriminator/d_h0_conv/w"] > LEARNING_RATE


def mnist_flags(tmp_path, *extra):
    return ["--dataset", "mnist", "--input_height=28", "--output_height=28", "--batch_size=16",
            *TINY_FLAGS, "--train", "--sample_freq=2", "--data_dir", str(tmp_path / "data"),
            *extra]


@cpu_only
def test_main_trains_mirrored_over_logical_cpus(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    done = main_py(tmp_path, *mnist_flags(tmp_path, "--epoch=1", "--out_dir=runs",
                                          "--strategy=mirrored", "--logical_cpus=2"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replicas, 8 rows of each batch of 16 per replica; batch norm per replica" \
        in done.stdout
    run = tmp_path / "runs" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / "model.b16-5.index").exists()
    assert (run / "samples" / "train_00000005.png").exists()
    # What mirrored training wrote serves like any run: test mode, one device.
    generated = main_py(tmp_path, "--dataset", "mnist", "--input_height=28",
                        "--output_height=28", "--batch_size=16", *TINY_FLAGS, "--out_dir=runs",
                        "--generate=20")
    assert generated.returncode == 0, generated.stderr[-3000:]
    assert np.load(run / "samples" / "generated_20.npz")["images"].shape == (20, 28, 28, 1)


@cpu_only
@pytest.mark.parametrize("flags, message", [
    (["--strategy=mirrored", "--logical_cpus=3"], "does not divide by 3: pass a multiple of 3"),
    (["--sync_bn"], "--sync_bn synchronizes batch norm over the replicas"),
    (["--strategy=mirrored", "--xla"], "--xla compiles one device's iteration"),
    (["--strategy=multi_worker"], "TF_CONFIG environment variable, which is not set"),
])
def test_bad_distribution_flags_are_clear_errors(tmp_path, flags, message):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    env_without_cluster = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(
        [sys.executable, os.path.join(REPO_DIR, "main.py"),
         *mnist_flags(tmp_path, "--epoch=1", "--out_dir=runs", *flags)],
        cwd=tmp_path, env=dict(env_without_cluster, PYTHONPATH=REPO_DIR, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.index"))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_cluster(tmp_path, out_dirs, *extra):
    """Two multi_worker processes on 127.0.0.1; each dumps its variables."""
    ports = free_ports(2)
    workers = []
    for index, out_dir in enumerate(out_dirs):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, CHECK, "worker", str(tmp_path / f"worker{index}.npz"),
             *mnist_flags(tmp_path, "--strategy=multi_worker", f"--out_dir={out_dir}", *extra)],
            cwd=tmp_path, env=dict(ENV, TF_CONFIG=json.dumps(tf_config)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [worker.communicate(timeout=300) for worker in workers]
        return [(worker.returncode, *output) for worker, output in zip(workers, outputs)]
    finally:
        for worker in workers:  # a hung cluster fails the test instead of blocking CI
            if worker.poll() is None:
                worker.kill()


def dumped(tmp_path, index):
    with np.load(tmp_path / f"worker{index}.npz") as values:
        return {name: values[name] for name in values.files}


def test_two_multi_worker_processes_end_identical_and_only_the_chief_writes(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    outputs = run_cluster(tmp_path, ["chief_out", "worker_out"], "--epoch=1")
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
    run = tmp_path / "chief_out" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / "model.b16-5.index").exists()
    assert sorted(p.name for p in (run / "samples").iterdir()) == \
        ["train_00000002.png", "train_00000004.png", "train_00000005.png"]
    assert list((run / "logs").iterdir()) and (run / "FLAGS.json").exists()
    assert not (tmp_path / "worker_out").exists()
    assert "worker 1: training with the chief" in outputs[1][1]


def test_multi_worker_resumes_from_the_shared_run_folder_and_refuses_a_split_one(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    for returncode, _, stderr in run_cluster(tmp_path, ["shared", "shared"], "--epoch=1"):
        assert returncode == 0, stderr[-3000:]
    outputs = run_cluster(tmp_path, ["shared", "shared"], "--epoch=2")
    for returncode, stdout, stderr in outputs:
        assert returncode == 0, stderr[-3000:]
        assert "resuming after iteration 5" in stdout
    chief, worker = dumped(tmp_path, 0), dumped(tmp_path, 1)
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    run = tmp_path / "shared" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / "model.b16-10.index").exists()
    # A worker that cannot see the chief's checkpoint: both stop with the cause,
    # neither waits forever for the other.
    outputs = run_cluster(tmp_path, ["shared", "elsewhere"], "--epoch=3")
    for returncode, _, stderr in outputs:
        assert returncode != 0
        assert "The workers restored different checkpoints" in stderr
        assert "every worker must see the chief's run folder" in stderr
    assert (run / "checkpoints" / "model.b16-10.index").exists()


def test_a_signal_to_one_worker_stops_the_cluster_after_a_checkpoint(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=70, n_test=10)
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, "-u", os.path.join(REPO_DIR, "main.py"),
             *mnist_flags(tmp_path, "--strategy=multi_worker", "--out_dir=shared",
                          "--epoch=1000", "--sample_freq=1000", "--ckpt_freq=1000")],
            cwd=tmp_path, env=dict(ENV, TF_CONFIG=json.dumps(tf_config)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        for line in workers[1].stdout:  # worker 1 (not the chief) is training
            if "Epoch:[ 0/1000] [   2/   5]" in line:
                break
        workers[1].send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [worker.returncode for worker in workers] == [128 + signal.SIGTERM] * 2, outputs
    chief_log = outputs[0][0]  # (stdout, stderr)
    iteration = max(int(line[1:9]) for line in chief_log.splitlines() if "Epoch:" in line)
    assert "SIGTERM received: saved" in outputs[0][1] + outputs[0][0]
    run = tmp_path / "shared" / "mnist_x28.z8.uniform_signed.y28.b16"
    assert (run / "checkpoints" / f"model.b16-{iteration}.index").exists()


@cpu_only
def test_family_mirrored_computes_the_single_device_iterations(tmp_path):
    """acgan, wgan and wgan_gp on 2 replicas against one device, two iterations on
    a batch whose halves are equal (so each replica's batch norm sees the single
    device's statistics): replicas stay identical, and every weight, Adam or
    RMSprop slot and running mean agrees with one device to float rounding in
    the bulk; running variances differ by design (Bessel's n - 1 of 4 rows, not 8).
    gan with --sync_bn on a batch of 8 different rows: the single device's
    iterations, running variances included; without it, not."""
    result = check("family", tmp_path)
    for label, figures in result.items():
        assert figures["replicas"] == 2
        assert max(figures["copy_differences"].values()) == 0.0, label
        if label == "gan_per_replica":
            continue
        assert figures["median"] <= 1e-6, (label, figures["median"])
        optimizer = "torch_rmsprop" if label == "wgan" else "torch_adam"
        bound = 2 * LEARNING_RATE * largest_travel(optimizer, 2, 0.5, 0.999)  # two updates
        for name, gap in figures["gaps"].items():
            if "running_var" not in name or label == "gan_sync_bn":
                assert gap <= bound, (label, name, gap)
    # Each replica normalizing its own 4 rows is another iteration: a G weight
    # moves by more than a step away from the single device's.
    assert result["gan_per_replica"]["gaps"]["G/model.11.weight"] > LEARNING_RATE
    assert result["gan_sync_bn"]["gaps"]["G/model.11.weight"] < LEARNING_RATE / 50


@cpu_only
def test_main_trains_resumes_and_samples_a_family_model_mirrored_with_sync_bn(tmp_path):
    """--model wgan_gp --strategy mirrored --sync_bn --logical_cpus 2 (its G has
    batch norms), through main.py: an epoch, a resumed one, test mode."""
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=16, n_test=8)
    common = ["--dataset", "mnist", "--model", "wgan_gp", "--batch_size=8", "--seed=1",
              f"--data_dir={tmp_path / 'data'}", "--out_dir=runs"]
    flags = ["--strategy=mirrored", "--sync_bn", "--logical_cpus=2"]
    for epoch in (1, 2):
        done = main_py(tmp_path, *common, *flags, "--train", f"--epoch={epoch}")
        assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replicas, 4 rows of each batch of 8 per replica; batch norm over the global batch" \
        in done.stdout and "resuming after iteration 2" in done.stdout
    done = main_py(tmp_path, *common, "--generate=5")
    assert done.returncode == 0, done.stderr[-3000:]
    arrays = np.load(tmp_path / "runs" / "mnist_wgan_gp.s28.z100.b8" / "samples" / "generated_5.npz")
    assert arrays["images"].shape == (5, 28, 28, 1)


@cpu_only
def test_dcgan_losses_with_a_critic_schedule_run_mirrored(tmp_path):
    """--loss wgan and wgan_gp on 2 replicas: the copies stay identical, G updates
    at batches 0 and 2 (n_critic 2), WGAN's critic stays clipped."""
    result = check("dcgan_losses", tmp_path)
    for loss, figures in result.items():
        assert figures["copy_differences"] == 0.0, loss
        assert np.all(np.isfinite(figures["losses"])), loss
        assert figures["g_steps"] == 2, loss
    assert result["wgan"]["largest_d_weight"] <= 0.01
