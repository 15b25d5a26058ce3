"""glibc malloc settings for training and testing on the CPU.

A training step allocates and frees the same per-slot tensors (tens of MB for a water frame) every
step. With glibc's defaults, blocks of that size are either mapped afresh from the kernel (above the
mmap threshold) or handed back to it when freed (above the trim threshold), so every step pays page
faults on memory it just had. Keeping blocks up to ``MMAP_THRESHOLD`` on the heap and letting up to
``TRIM_THRESHOLD`` of free heap stay mapped removes that: PyTorch's energy step of the water example
went from 0.132-0.139 s to 0.115-0.119 s (``benchmarks/profile_step.py se_e2_a``), with about 10 MB
more peak memory: the memory kept is memory the previous step used. The PyTorch backend applies
this when it trains or evaluates; TensorFlow gained 1-2 % and kept 70-90 MB more, so it does not.

``DPT_MALLOC_TUNE=0`` leaves malloc alone; other C libraries (musl, macOS) are left alone anyway.
"""

import ctypes
import os
import platform

ENV_SWITCH = "DPT_MALLOC_TUNE"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 256 << 20


def tune_malloc():
    """Apply the settings above; True when glibc took them."""
    if os.environ.get(ENV_SWITCH, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
