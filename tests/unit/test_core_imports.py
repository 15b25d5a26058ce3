"""The core package never imports a framework: every module of dptensor/ imports without torch or
tensorflow appearing in sys.modules."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import dptensor
names = [m.name for m in pkgutil.walk_packages(dptensor.__path__, "dptensor.")]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras", "jax"))
assert not bad, bad
print(len(names))
"""


def test_core_imports_no_framework():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 20  # every module was imported, not an empty walk
