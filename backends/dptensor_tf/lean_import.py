"""Import TensorFlow without the optional packages Keras loads for features dptensor never uses.

``import tensorflow`` imports Keras 3, and Keras and TensorFlow's legacy Keras then import
matplotlib (``keras.src.visualization``), IPython (``keras.src.saving.file_editor``), scipy and h5py
(``tensorflow.python.keras``) whenever they are installed, each inside ``try: ... except
ImportError``. Together they keep about 70 MB resident in every TensorFlow process (import of
TensorFlow alone: 588 MB with them, 519 MB without, on the development machine), a tenth of a
training run's peak memory. During the import these four names read as not installed; afterwards they
import normally for whoever needs them (dptensor's plots, HDF5 systems); only Keras's image gallery,
notebook detection and legacy HDF5 saving keep their "not installed" fallback, which dptensor does
not call. A package the process already imported is left as it is.

``DPT_TF_LEAN_IMPORT=0`` imports TensorFlow plainly.
"""

import importlib.abc
import os
import sys

ENV_SWITCH = "DPT_TF_LEAN_IMPORT"
OPTIONAL = ("matplotlib", "IPython", "scipy", "h5py")


class _NotDuringImport(importlib.abc.MetaPathFinder):
    """Finds nothing for ``names`` and their submodules: the import system raises ImportError."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (skipped while TensorFlow imports)",
                                      name=fullname)
        return None


def import_tensorflow():
    """The ``tensorflow`` module, imported (once) without the packages in OPTIONAL."""
    lean = os.environ.get(ENV_SWITCH, "1") != "0"
    finder = _NotDuringImport(name for name in OPTIONAL if lean and name not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        import tensorflow
    finally:
        sys.meta_path.remove(finder)
    return tensorflow
