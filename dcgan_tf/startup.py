"""TensorFlow's start-up, without its chatter, and one line on where a run computes.

On a machine without a GPU, importing TensorFlow and listing its devices makes
the C++ runtime write lines such as "Could not find cuda drivers" and
"E0000 ... failed call to cuInit: ... CUDA error" straight to file descriptor 2,
before any log level applies; users read the "E0000 ... CUDA error" as a
failure. `held_native_stderr` holds what the runtime writes during start-up and
passes on every line that is not one of those known notices, so a real error
still shows. `choose_onednn` picks the CPU kernels, which TensorFlow reads as it
is imported. This module imports nothing from TensorFlow itself.
"""

import contextlib
import os
import platform
import sys
import tempfile

# Notices of the runtime's start-up that say nothing is wrong (no CUDA on a
# CPU-only machine, oneDNN's rounding note, plugin registration races).
START_UP_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",
    "Could not find cuda drivers",
    "failed call to cuInit",
    "cuda_platform.cc",
    "cuda_executor.cc",
    "oneDNN custom operations are on",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)

# What TensorFlow's graph optimizer writes as it prepares a training step that
# says nothing is wrong with the run: Grappler's remapper gives up on a graph
# where a bias add feeds both a LeakyReLU and LeakyReLU's gradient ("remapper
# failed: INVALID_ARGUMENT: Mutation::Apply error: fanout '.../LeakyReluGrad'
# exist for missing node '.../BiasAdd'", once per process, at the first such
# trace: the family's conv nets, acgan and lsgan, and --linear_probe's
# supervised copy of their D). A TensorFlow bug: the pass leaves that graph as
# it was, and the run goes on with the numbers the tests pin (bench/RESULTS.md,
# "Where the time went").
GRAPH_OPTIMIZER_NOTICES = ("remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout",)

# Whether dcgan-tf turns oneDNN on where the CPU has AVX2 and no AVX-512, where
# TensorFlow leaves it off. Measured on an AVX2-only AMD EPYC (2026-12-07): the
# DCGAN 615 -> 425 ms per iteration, and the golden runs, the original-graph
# tests and the bfloat16 tests pass with it at their tolerances; that CPU's
# same-numbers file was recorded with it (bench/RESULTS.md, "Fast on every CPU").
ONEDNN_ON_AVX2_ONLY_CPUS = True
ONEDNN_AVX2_DEFAULT = "dcgan-tf's default for CPUs with AVX2 and no AVX-512"
_onednn_chosen_here = None  # why, where choose_onednn set TF_ENABLE_ONEDNN_OPTS

# Packages Keras imports, where installed, as TensorFlow imports it, for
# integrations dcgan-tf never uses: scikit-learn for its estimator wrappers,
# IPython for its notebook file editor, matplotlib's pyplot for its image
# gallery. Keras imports each in a try/except ImportError. Together they were a
# third of `import tensorflow` (9.3 -> 6.0 s on the AVX2 EPYC, 2026-12-07,
# bench/RESULTS.md); dcgan-tf imports scikit-learn and pyplot itself where it
# uses them (the linear SVM and probe, the loss curves), then at their own cost.
KERAS_EXTRAS = ("sklearn", "IPython", "matplotlib")


def _cpuinfo_field(cpuinfo, name):
    """The first CPU's `name` field in Linux's cpuinfo, or None."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags (avx2, avx512f, ...) as Linux lists them; empty
    where it does not."""
    return set((_cpuinfo_field(cpuinfo, "flags") or "").split())


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name ("AMD EPYC"), or the platform's where Linux gives none."""
    return _cpuinfo_field(cpuinfo, "model name") or platform.processor() or platform.machine()


def onednn_choice(environ, flags, avx2_only_default):
    """(TF_ENABLE_ONEDNN_OPTS's value, why) where dcgan-tf chooses the kernels,
    else None: a user's own setting wins, and elsewhere TensorFlow's default
    stands (oneDNN on with AVX-512's newer extensions, where it was measured to
    pay)."""
    if "TF_ENABLE_ONEDNN_OPTS" in environ or not avx2_only_default:
        return None
    if "avx2" in flags and "avx512f" not in flags:
        return "1", ONEDNN_AVX2_DEFAULT
    return None


def choose_onednn(environ=None):
    """Sets TF_ENABLE_ONEDNN_OPTS where dcgan-tf chooses the kernels (see
    onednn_choice); call before TensorFlow is imported, which reads it."""
    global _onednn_chosen_here
    environ = os.environ if environ is None else environ
    choice = onednn_choice(environ, cpu_flags(), ONEDNN_ON_AVX2_ONLY_CPUS)
    if choice:
        setting, _onednn_chosen_here = choice
        environ["TF_ENABLE_ONEDNN_OPTS"] = setting


class _HeldBack:
    """A finder, first on sys.meta_path, that says the packages `names` (and
    their modules) are not installed."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is held back while TensorFlow imports",
                                      name=fullname)
        return None


@contextlib.contextmanager
def keras_extras_held_back(names=KERAS_EXTRAS):
    """Runs the block (the first `import tensorflow`) as if the packages `names`
    were not installed, unless one is imported already; afterwards they import
    as usual. See KERAS_EXTRAS."""
    finder = _HeldBack(name for name in names if name not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def verbosity_asked(argv):
    """True when the command line sets absl's --verbosity (or -v): then everything shows."""
    return any(arg.startswith(("--verbosity", "-v")) for arg in argv[1:])


@contextlib.contextmanager
def held_native_stderr(enabled=True, stream=None, notices=START_UP_NOTICES):
    """Runs the block with file descriptor 2 held in a temporary file, then writes
    every held line that holds none of `notices` (the start-up's) to `stream`
    (stderr)."""
    if not enabled:
        yield
        return
    stream = stream or sys.stderr
    stream.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines():
                if line.strip() and not any(notice in line for notice in notices):
                    print(line, file=stream)


def held_graph_optimizer_notices():
    """held_native_stderr around a call that traces a training function and has
    Grappler optimize it (its first): its GRAPH_OPTIMIZER_NOTICES held back,
    every other line passed on, unless absl's --verbosity asks for TensorFlow's
    lines (INFO or more)."""
    from absl import logging as absl_logging  # noqa: PLC0415  (not TensorFlow)

    quiet = absl_logging.get_verbosity() < absl_logging.INFO
    return held_native_stderr(enabled=quiet, notices=GRAPH_OPTIMIZER_NOTICES)


def describe_devices(tf):
    """'GPU: <names>' or 'CPU (<n> threads)': where TensorFlow computes by default."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus]
        return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: {', '.join(names)}"
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return f"CPU ({threads} threads, {onednn_state()})"


def onednn_on():
    """Whether TensorFlow runs its CPU ops on oneDNN's kernels (None where this
    TensorFlow cannot say)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415
    except ImportError:
        return None
    enabled = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return None if enabled is None else bool(enabled())


def onednn_state():
    """'oneDNN on' or 'off', and why: dcgan-tf's choice (choose_onednn), else
    TF_ENABLE_ONEDNN_OPTS where a user set it (read when TensorFlow was
    imported), else TensorFlow's default for this CPU (on where it has AVX-512's
    newer extensions). Asked of TensorFlow, not guessed from the CPU's flags."""
    enabled = onednn_on()
    if enabled is None:
        return "oneDNN state unknown"
    state = "on" if enabled else "off"
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    why = (_onednn_chosen_here or (f"TF_ENABLE_ONEDNN_OPTS={setting}" if setting is not None
                                   else "TensorFlow's default for this CPU"))
    return f"oneDNN {state}: {why}"
