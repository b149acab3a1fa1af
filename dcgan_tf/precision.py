"""--mixed_precision: which low-precision type the training steps compute in.

Variables, batch-norm statistics, losses and Adam stay float32 (the "mixed"
in mixed precision); only the layers' matmuls and convolutions run in 16 bits.
bfloat16 has float32's exponent range, so it needs no loss scaling; float16
does (optim.DynamicLossScale).
"""

import tensorflow as tf

from dcgan_tf import startup

# CPU features with native bfloat16 arithmetic (AVX-512 BF16, AMX).
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def compute_dtype(mixed_precision):
    """float32 without --mixed_precision; with it float16 where a GPU trains
    (tensor cores), else bfloat16 (CPUs)."""
    if not mixed_precision:
        return "float32"
    return "float16" if tf.config.list_logical_devices("GPU") else "bfloat16"


def cpu_has_native_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU computes bfloat16 natively; without it oneDNN converts
    to float32 and back, so bfloat16 is slower than float32, not faster."""
    return bool(startup.cpu_flags(cpuinfo) & set(NATIVE_BF16_CPU_FLAGS))
