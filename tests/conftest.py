"""Shared test setup: quiet TensorFlow, where ../shared lives, main.py in this
process, runs trained once for several tests, a local HTTP server."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The suite runs on two workers, one per core: each one's ops would otherwise
# run their independent parts side by side on both cores, oversubscribing them.
# (Inter-op threads order nothing a result depends on; intra-op threads would:
# oneDNN's reductions split their sums per thread, so those stay as they are.)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_DIR)
from dcgan_tf import startup  # noqa: E402 (imports nothing from TensorFlow)

startup.choose_onednn()  # the kernels main.py would run on, before TensorFlow starts

import contextlib  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import http.server  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402

import pytest  # noqa: E402

SHARED_DIR = os.path.join(os.path.dirname(REPO_DIR), "shared")
REFERENCE_DIR = os.path.join(SHARED_DIR, "reference", "carpedm20-tf1")
MNIST_DIR = os.path.join(SHARED_DIR, "data", "mnist")


def require_shared(path):
    """Skips the test, saying why, where ../shared (or a file in it) is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent: ../shared (the original TF1 graphs and MNIST) is only"
                    " beside the project on the team's machines and in CI.")
    return path


def pytest_configure(config):
    """TensorFlow imported as main.py imports it (startup.keras_extras_held_back),
    before a test module imports it; not in xdist's controller, which runs no
    test: its start would delay the workers' by an import of TensorFlow."""
    config.addinivalue_line("markers", "cpu_only: " + _CPU_ONLY)
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    with startup.keras_extras_held_back():  # after TF_CPP_MIN_LOG_LEVEL above
        importlib.import_module("tensorflow")


@functools.cache
def _has_gpu():
    import tensorflow as tf  # noqa: PLC0415

    return bool(tf.config.list_physical_devices("GPU"))


# Tests whose expectations hold on a machine without a GPU only: --mixed_precision
# picks bfloat16 there (float16 on a GPU), and mirrored strategies split the CPU
# into --logical_cpus devices (they take the GPUs where there are some). Asked
# when such a test starts (pytest_runtest_setup), in the process that runs it.
_CPU_ONLY = "expects a machine without a GPU (CPU behaviour of --mixed_precision / --logical_cpus)"
cpu_only = pytest.mark.cpu_only


def pytest_runtest_setup(item):
    if item.get_closest_marker("cpu_only") and _has_gpu():
        pytest.skip(_CPU_ONLY)


def _main_module():
    if REPO_DIR not in sys.path:
        sys.path.insert(0, REPO_DIR)
    import main  # noqa: PLC0415 (defines the flags once per process)

    return main


def _parse(main, argv):
    main.FLAGS.unparse_flags()
    main.FLAGS(["main.py", *argv])
    return main.command_line()


@pytest.fixture
def parsed_flags():
    """parse(*argv) -> main.py's Config for that command line (its flags, the
    --model's defaults where none was typed, checked: config.of_command_line)."""
    from dcgan_tf import config as config_lib  # noqa: PLC0415

    main = _main_module()
    yield lambda *argv: config_lib.of_command_line(*_parse(main, argv))
    main.FLAGS.unparse_flags()


def _forget_earlier_traces():
    """TensorFlow's history of recent traces, emptied as a new process has it.
    tf.function warns when 5 of a function's last 10 calls traced, keyed on its
    Python code: every run's step is a new tf.function of LoggedSteps._iteration,
    so an earlier run's trace in this worker counted towards the next run's
    warning, a line on stderr that a run in a process of its own never prints.
    (A run counts its own traces and reports a retrace itself: training.py.)"""
    from tensorflow.python.eager.polymorphic_function import (  # noqa: PLC0415
        polymorphic_function)

    detectors = polymorphic_function._frequent_tracing_detector_manager
    with detectors._lock:
        detectors._detectors.clear()


@pytest.fixture
def main_in_process():
    """run(*argv, log=print) -> what main.py does with that command line, in this
    process: its Config, the run's record for what was not typed, and app.run
    (its exit statuses are SystemExit). Returns app.run's result."""
    from dcgan_tf import app  # noqa: PLC0415
    from dcgan_tf import config as config_lib  # noqa: PLC0415

    main = _main_module()

    def run(*argv, log=print):
        values, typed = _parse(main, argv)
        _forget_earlier_traces()
        return app.run(config_lib.of_command_line(values, typed), log=log, typed=typed)

    yield run
    main.FLAGS.unparse_flags()


# Runs trained once per worker, each under its key: (the folder, a copy of it
# as its training left it).
_SHARED_TRAININGS = {}
# Tests sharing a training carry this: one worker runs them (one training).
SHARES_A_TRAINING = pytest.mark.xdist_group("shared_trainings")


@pytest.fixture
def shared_training(tmp_path_factory):
    """shared_training(key, train) -> a folder where train(folder) trained a run
    (once per worker, for the first test to ask), put back exactly as that
    training left it before each test, at the same path: a run records the
    paths it trained with. For the cases that damage or only read one run."""

    def get(key, train):
        if key not in _SHARED_TRAININGS:
            folder = tmp_path_factory.mktemp("shared_training")
            train(folder)
            pristine = tmp_path_factory.mktemp("pristine") / "copy"
            shutil.copytree(folder, pristine, symlinks=True)
            _SHARED_TRAININGS[key] = folder, pristine
        folder, pristine = _SHARED_TRAININGS[key]
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder, symlinks=True)
        return folder

    return get


@pytest.fixture(scope="session")
def classifier_weights(tmp_path_factory, worker_id):
    """The weights file of one metrics classifier, trained on a small fake MNIST
    once for the whole run: both workers ask for it in one folder, and the
    second waits for the first's (load_or_train_classifier takes turns)."""
    import fakes  # noqa: PLC0415
    from dcgan_tf import metrics  # noqa: PLC0415

    root = tmp_path_factory.getbasetemp()
    shared = root if worker_id == "master" else root.parent  # xdist's workers share it
    digits = tmp_path_factory.mktemp("classifier_digits") / "mnist"
    fakes.make_mnist(str(digits), n_train=100, n_test=20, seed=0)
    metrics.load_or_train_classifier(str(digits), str(shared / "classifier_cache"),
                                     log=lambda line: None)
    weights, = (shared / "classifier_cache").glob("classifier_*.weights.h5")
    return weights


@pytest.fixture
def classifier_without_training(monkeypatch, classifier_weights):
    """Where a test needs the metrics' classifier (its features, its verdicts) and
    not its training (seconds of Keras fit: the tests of the training are
    test_visualize_and_metrics.py's and test_nothing_silently_wrong.py's): the
    training, wherever a command would train it, copies `classifier_weights`
    into the cache instead. Its figures are then another data set's classifier's."""
    from dcgan_tf import metrics  # noqa: PLC0415

    def copied(path, train_x, train_y, epochs, width, seed, log):
        shutil.copyfile(classifier_weights, path)
        return metrics._cached_classifier(path, width, log)  # noqa: SLF001

    monkeypatch.setattr(metrics, "_trained_classifier", copied)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `self.server.routes[path] = (behaviour, bytes)`: 'ok' (honours
    Range), 'drop_once' (the first full request is cut off halfway), 'corrupt'
    (other bytes than promised), 'gated' (the first full request sends half, sets
    `half_sent` and waits for `gate` to send the rest)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        behaviour, body = self.server.routes.get(self.path, ("missing", b""))
        self.server.requests.append((self.path, self.headers.get("Range")))
        if behaviour == "missing":
            self.send_error(404)
            return
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
        if behaviour == "corrupt":
            body = bytes(reversed(body))
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if behaviour == "drop_once" and not start and not self.server.dropped.get(self.path):
            self.server.dropped[self.path] = True
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour == "gated" and not start and not self.server.half_sent.is_set():
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.server.half_sent.set()
            self.server.gate.wait(60)
            start = len(body) // 2
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 serving its `routes` (Handler)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.requests, httpd.dropped = {}, [], {}
    httpd.half_sent, httpd.gate = threading.Event(), threading.Event()
    # serve_forever polls for shutdown() every poll_interval (0.5 s by default:
    # half a second of every test's teardown).
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url():
    """A loopback port with nothing listening: connections are refused."""
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
