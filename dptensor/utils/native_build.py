"""Compile a backend's native kernel once and keep it in a cache (framework-free: no torch, no
tensorflow; each backend supplies its own compile command).

    DPT_CACHE_DIR   where built libraries are kept      default: $XDG_CACHE_HOME/dptensor,
                                                         else ~/.cache/dptensor
    CXX             the C++ compiler                    default: g++

API (used by ``dptensor_pt.native`` and ``dptensor_tf.native``):

    enabled(env)                 False when the variable ``env`` is 0/false/no/off (default: on)
    cache_dir(sub)               Path of the cache folder ``sub`` (e.g. "pt_ops"); not created
    cpu_fingerprint()            the CPU's model and instruction sets, as text
    compiler()                   $CXX or "g++"
    library_path(sources, command_fn, name, sub, extra_key="")
                                 where the library of ``name`` is (or will be) cached
    build_cached(sources, command_fn, name, sub, extra_key="", timeout=COMPILE_TIMEOUT, log=None)
                                 the cached library's Path, compiled first when it is not there
    COMMON_HEADERS               source/common headers that both backends' kernels include

``command_fn(sources, output)`` returns the compiler's argv (a list of str) that compiles the
files ``sources`` (list of str) into ``output``. The cache key hashes the text of every source,
``extra_key`` (the framework's version, say), the CPU fingerprint and the command itself
(computed with placeholder paths, so that two clones of the repository share one build). A
library is written atomically: other processes see a finished library or none.
"""

import hashlib
import os
import platform
import subprocess
from pathlib import Path

from dptensor.utils.atomic import atomic_path

CACHE_ENV = "DPT_CACHE_DIR"
# the framework-free table math that both backends' kernels include (in their cache keys)
COMMON_HEADERS = (Path(__file__).resolve().parents[2] / "source" / "common" / "tabulate_core.h",)
COMPILE_TIMEOUT = 900  # seconds
_OFF = ("0", "false", "no", "off")


def enabled(env):
    """False when the environment variable ``env`` turns a native kernel off."""
    return os.environ.get(env, "1").strip().lower() not in _OFF


def cache_dir(sub):
    """The cache folder ``sub`` under $DPT_CACHE_DIR (or the XDG cache); not created here."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "dptensor")
    return Path(root) / sub


def cpu_fingerprint():
    """The CPU's model and instruction sets (libraries are built with -march=native, for the CPU
    they run on)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    wanted = ("model name", "flags", "Features")
    return "\n".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in wanted}))


def compiler():
    return os.environ.get("CXX") or "g++"


def library_path(sources, command_fn, name, sub, extra_key=""):
    """Where the library ``name`` built from ``sources`` by ``command_fn`` is kept."""
    key = hashlib.sha256()
    for source in sources:
        key.update(Path(source).read_bytes())
    placeholders = [f"SRC{i}" for i in range(len(sources))]
    for part in (extra_key, cpu_fingerprint(), " ".join(command_fn(placeholders, "OUT"))):
        key.update(part.encode())
    return cache_dir(sub) / f"{name}-{key.hexdigest()[:16]}.so"


def build_cached(sources, command_fn, name, sub, extra_key="", timeout=COMPILE_TIMEOUT, log=None):
    """The path of the library ``name``, compiled into the cache first if it is not there.

    RuntimeError (with the compiler's last lines) when compiling fails; OSError or
    subprocess.TimeoutExpired as raised. ``log``: a logger told when a build starts."""
    target = library_path(sources, command_fn, name, sub, extra_key)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if log is not None:
        log.info("building the native kernel %s (once for this framework version and CPU)", name)
    with atomic_path(target) as tmp:
        command = command_fn([str(s) for s in sources], tmp)
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0:
            tail = "\n".join(run.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{command[0]} exited with {run.returncode}:\n{tail}")
    return target


__all__ = ["enabled", "cache_dir", "cpu_fingerprint", "compiler", "library_path", "build_cached",
           "CACHE_ENV", "COMMON_HEADERS", "COMPILE_TIMEOUT"]
