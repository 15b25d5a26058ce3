"""Detail files of ``dpt test -d PREFIX``: data and prediction side by side, ``PREFIX.<kind>.out``.

One file per quantity kind (``e``, ``f``, ``v`` ...), holding every system of the run: a header
line with the column names at the top, then per system a comment line ``# <system>: <columns>``
followed by its rows (``%.10e``). Unlike DeePMD-kit, which rewrites the files for each system,
the files collect all systems of one run.

Files are written atomically: rows go to temporary files next to the targets, which replace the
targets only when the whole run succeeds. Files of this model type that the run did not write
(e.g. ``PREFIX.v.out`` of an earlier run on data with virials) are removed then, so that after a
run every ``PREFIX.*.out`` belongs to that run; a failed run leaves the old files untouched.
"""

import contextlib
import os

import numpy as np

from dptensor.utils.atomic import atomic_path

ROW_FORMAT = "%.10e"


def detail_path(prefix, kind):
    return f"{prefix}.{kind}.out"


class DetailFiles:
    """Writer of the detail files of one run; use as a context manager.

    prefix: the ``-d`` argument; kinds: every file kind the model type can write (files of these
    kinds not written by this run are removed when the run succeeds).
    """

    def __init__(self, prefix, kinds):
        self.prefix = str(prefix)
        self.kinds = tuple(kinds)
        self._stack = contextlib.ExitStack()
        self._handles = {}  # kind -> open handle of its temporary file

    @property
    def written(self):
        """Paths of the files this run writes, in the order they were started."""
        return [detail_path(self.prefix, k) for k in self._handles]

    def __enter__(self):
        folder = os.path.dirname(os.path.abspath(self.prefix))
        os.makedirs(folder, exist_ok=True)
        self._stack.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        # closing the stack renames the temporary files onto the targets (or removes them
        # when an exception is passing through)
        suppress = self._stack.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self._remove_stale()
        return suppress

    def begin(self, kind, system_path, header):
        """Start the block of one system: ``# <system_path>: <header>``."""
        fh = self._handles.get(kind)
        if fh is None:
            tmp = self._stack.enter_context(atomic_path(detail_path(self.prefix, kind)))
            # the stack closes the handle before atomic_path renames the file
            fh = self._stack.enter_context(open(tmp, "w"))  # noqa: SIM115
            fh.write(f"# {header}\n")
            self._handles[kind] = fh
        fh.write(f"# {system_path}: {header}\n")

    def write(self, kind, rows):
        """Append rows (n x ncol) to the current block of ``kind``."""
        np.savetxt(self._handles[kind], np.asarray(rows, dtype=np.float64), fmt=ROW_FORMAT)

    def _remove_stale(self):
        for kind in self.kinds:
            path = detail_path(self.prefix, kind)
            if kind not in self._handles and os.path.isfile(path):
                os.remove(path)
