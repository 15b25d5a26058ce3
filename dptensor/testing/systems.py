"""The system paths of a ``dpt test`` command line: ``-s`` entries and ``-f`` list files."""

import os

from dptensor.data.system import find_systems, resolve_path
from dptensor.errors import DataError, DptError


def read_system_list(path):
    """A list file (one system path per line; blank lines and ``#`` comments skipped) -> paths."""
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read the system list ({err.strerror})") from None
    entries = [line.split("#", 1)[0].strip() for line in lines]
    entries = [e for e in entries if e]
    if not entries:
        raise DataError(f"{path}: the system list names no system (one path per line)")
    return entries


def system_paths(systems=(), datafile=None, fmt=None):
    """Every system named by ``-s`` entries and the ``-f`` list file, in order.

    Without ``fmt`` an entry may be a system, a parent folder searched for systems, or an HDF5
    file (``find_systems``); with a dpdata ``fmt`` each entry is one file or folder of that
    format, used as it is. Relative paths in the list file are tried against the working
    directory, then against the list file's folder.
    """
    groups = [(list(systems), None)]
    if datafile:
        groups.append((read_system_list(datafile), os.path.dirname(os.path.abspath(datafile))))
    out = []
    for entries, base_dir in groups:
        if not entries:
            continue
        if fmt is None:
            out.extend(find_systems(entries, base_dir=base_dir))
        else:
            out.extend(resolve_path(e, base_dir) for e in entries)
    if not out:
        raise DptError("no system to test: give systems with -s PATH or a list file with -f FILE")
    return out
