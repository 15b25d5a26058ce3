"""Building source/ (the C++ API) and running its programs, for tests/native.

The build goes to pytest's cache folder (``.pytest_cache/d/dptensor-native-<key>``), so a second
session rebuilds only what changed (a fresh clone builds everything: about a minute on 2 cores).
"""

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "source"
BUILD_TIMEOUT = 1800  # s; a cold build takes about a minute on 2 cores
# libtorch's OpenMP threads spin-wait for each other: on a busy 2-core machine two threads are up
# to 50x slower than one. The programs and the Python side run with one thread (same results).
RUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RUN_TIMEOUT = 300  # s per program run


@dataclass
class NativeBuild:
    build_dir: Path
    dpt_eval: Path
    api_check: Path
    seconds: float  # configure + build of this session (small when the cache was up to date)


def missing_tool():
    """Why the native tests cannot run here, or None."""
    if shutil.which("cmake") is None:
        return "cmake is not installed (needed to build source/)"
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        return "no C++ compiler (c++ or g++, or $CXX) is installed"
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (libtorch comes with the torch wheel)"
    return None


def run(cmd, timeout=RUN_TIMEOUT, **kwargs):
    """subprocess.run with text output captured and the single-thread environment."""
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=RUN_ENV,
                          timeout=timeout, check=False, **kwargs)


def _build_dir(config, tmp_path_factory):
    import torch

    key = hashlib.sha1(f"{SOURCE}|{sys.executable}|{torch.__version__}".encode()).hexdigest()[:10]
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    if cache is None:
        return tmp_path_factory.mktemp("native-build")
    return Path(cache.mkdir(f"dptensor-native-{key}"))


def _step(cmd, what):
    out = run(cmd, timeout=BUILD_TIMEOUT)
    if out.returncode != 0:
        log = (out.stdout + out.stderr)[-6000:]
        pytest.fail(f"{what} failed ({' '.join(map(str, cmd))}):\n{log}", pytrace=False)


def build(config, tmp_path_factory):
    """Configure and build source/ with its check programs (once per session): a NativeBuild.
    A failing build fails the test that asked for it, with the end of the log."""
    folder = _build_dir(config, tmp_path_factory)
    start = time.perf_counter()
    with open(folder / ".lock", "w") as lock:  # two sessions must not build one folder at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        _step(["cmake", "-S", SOURCE, "-B", folder, "-DDPTENSOR_BUILD_TESTS=ON",
               "-DCMAKE_BUILD_TYPE=Release", f"-DPython3_EXECUTABLE={sys.executable}"],
              "cmake configure")
        _step(["cmake", "--build", folder, "-j", "2"], "cmake build")
    seconds = time.perf_counter() - start
    print(f"\nnative build (configure + build) took {seconds:.1f} s in {folder}")
    return NativeBuild(folder, folder / "examples" / "dpt-eval",
                       folder / "tests" / "dpt-api-check", seconds)
