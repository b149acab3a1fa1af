"""Shared test setup: quiet TensorFlow, and where ../shared lives."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The suite runs on two workers, one per core: each one's ops would otherwise
# run their independent parts side by side on both cores, oversubscribing them.
# (Inter-op threads order nothing a result depends on; intra-op threads would:
# oneDNN's reductions split their sums per thread, so those stay as they are.)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import sys  # noqa: E402

import pytest  # noqa: E402

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DIR = os.path.join(os.path.dirname(REPO_DIR), "shared")
REFERENCE_DIR = os.path.join(SHARED_DIR, "reference", "carpedm20-tf1")
MNIST_DIR = os.path.join(SHARED_DIR, "data", "mnist")


def require_shared(path):
    """Skips the test, saying why, where ../shared (or a file in it) is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent: ../shared (the original TF1 graphs and MNIST) is only"
                    " beside the project on the team's machines and in CI.")
    return path


def _has_gpu():
    import tensorflow as tf  # noqa: PLC0415 (after TF_CPP_MIN_LOG_LEVEL above)
    return bool(tf.config.list_physical_devices("GPU"))


# Tests whose expectations hold on a machine without a GPU only: --mixed_precision
# picks bfloat16 there (float16 on a GPU), and mirrored strategies split the CPU
# into --logical_cpus devices (they take the GPUs where there are some).
cpu_only = pytest.mark.skipif(_has_gpu(), reason="expects a machine without a GPU (CPU"
                              " behaviour of --mixed_precision / --logical_cpus)")


@pytest.fixture
def parsed_flags():
    """parse(*argv) -> main.py's Config for that command line (its flags, then the
    --model's defaults where none was given)."""
    sys.path.insert(0, REPO_DIR)
    import main  # noqa: PLC0415 (defines the flags once per process)

    def parse(*argv):
        main.FLAGS.unparse_flags()
        main.FLAGS(["main.py", *argv])
        return main.config_from_flags()

    yield parse
    main.FLAGS.unparse_flags()
