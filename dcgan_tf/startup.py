"""TensorFlow's start-up, without its chatter, and one line on where a run computes.

On a machine without a GPU, importing TensorFlow and listing its devices makes
the C++ runtime write lines such as "Could not find cuda drivers" and
"E0000 ... failed call to cuInit: ... CUDA error" straight to file descriptor 2,
before any log level applies; users read the "E0000 ... CUDA error" as a
failure. `held_native_stderr` holds what the runtime writes during start-up and
passes on every line that is not one of those known notices, so a real error
still shows. This module imports nothing from TensorFlow itself.
"""

import contextlib
import os
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


def verbosity_asked(argv):
    """True when the command line sets absl's --verbosity (or -v): then everything shows."""
    return any(arg.startswith(("--verbosity", "-v")) for arg in argv[1:])


def is_start_up_notice(line):
    return any(notice in line for notice in START_UP_NOTICES)


@contextlib.contextmanager
def held_native_stderr(enabled=True, stream=None):
    """Runs the block with file descriptor 2 held in a temporary file, then writes
    every held line that is not a start-up notice to `stream` (stderr)."""
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
                if line.strip() and not is_start_up_notice(line):
                    print(line, file=stream)


def describe_devices(tf):
    """'GPU: <names>' or 'CPU (<n> threads)': where TensorFlow computes by default."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus]
        return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: {', '.join(names)}"
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return f"CPU ({threads} threads, {onednn_state()})"


def onednn_state():
    """'oneDNN on' or 'off', and why: TF_ENABLE_ONEDNN_OPTS where set (read when
    TensorFlow was imported), else TensorFlow's default for this CPU (on where
    it has AVX-512's newer extensions; off on AVX2-only CPUs, where it would pay
    too: bench/RESULTS.md, "Fast on every CPU"). Asked of TensorFlow, not
    guessed from the CPU's flags."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415
        state = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):  # a TensorFlow without the query
        return "oneDNN state unknown"
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    why = (f"TF_ENABLE_ONEDNN_OPTS={setting}" if setting is not None
           else "TensorFlow's default for this CPU")
    return f"oneDNN {state}: {why}"
