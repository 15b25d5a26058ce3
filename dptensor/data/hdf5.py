"""DeePMD systems inside HDF5 files: ``file.h5`` (system at the root) or ``file.h5#/group``.

The tree inside a group mirrors a system folder (as dpdata's ``deepmd/hdf5`` writes it): datasets
``type.raw``, ``type_map.raw`` (bytes), an optional ``nopbc`` dataset, and groups ``set.*`` holding
datasets ``coord.npy``, ``box.npy``, ``energy.npy`` ...
"""

import fnmatch
import os

import numpy as np

from dptensor.data import keys
from dptensor.data.raw import (MIXED_TYPE_FILE, NOPBC_FILE, SET_GLOB, TYPE_FILE, TYPE_MAP_FILE,
                               StoredSet, StoredSystem, frame_stems, parse_types)
from dptensor.errors import DataError

H5_SUFFIXES = (".h5", ".hdf5")
GROUP_SEP = "#"


def split_h5_path(path):
    """'file.h5#/g/s' -> ('file.h5', '/g/s'); a path without '#' -> (path, '/')."""
    file, _, group = path.partition(GROUP_SEP)
    return file, "/" + group.strip("/")


def is_h5_path(path):
    """Whether a system path names an HDF5 file (by suffix, or a '#group' part)."""
    file, _ = split_h5_path(path)
    return GROUP_SEP in path or file.lower().endswith(H5_SUFFIXES)


def _open(file):
    import h5py  # imported here: plain-folder users never pay for it

    if not os.path.isfile(file):
        raise DataError(f"{file}: no such HDF5 file")
    try:
        return h5py.File(file, "r")
    except OSError as err:
        raise DataError(f"{file}: not a readable HDF5 file ({err})") from None


def read_h5(path, extra_stems=()):
    """Read the system at ``file.h5#/group`` -> StoredSystem (DataError on missing parts);
    ``extra_stems``: label datasets read besides the known ones."""
    file, group = split_h5_path(path)
    with _open(file) as fh:
        if group not in fh:
            raise DataError(f"{path}: no group {group} in {file}")
        g = fh[group]
        if TYPE_FILE not in g:
            raise DataError(f"{path}: not a DeePMD system: no {TYPE_FILE} dataset in the group")
        types = parse_types(np.asarray(g[TYPE_FILE][()]).ravel().astype(str), f"{path}/{TYPE_FILE}")
        names = None
        if TYPE_MAP_FILE in g:
            raw = np.asarray(g[TYPE_MAP_FILE][()]).ravel()
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
        set_names = sorted(k for k in g.keys() if fnmatch.fnmatch(k, SET_GLOB))
        if not set_names:
            raise DataError(f"{path}: no frames: no set.* groups in the group")
        stems = frame_stems(extra_stems)
        sets = [_read_set(g[name], f"{path.rstrip('/')}/{name}", stems) for name in set_names]
        return StoredSystem(path, types, names, NOPBC_FILE in g, sets)


def _read_set(g, where, stems):
    out = StoredSet(where, ".npy")
    if MIXED_TYPE_FILE + ".npy" in g:
        raise DataError(f"{out.file(MIXED_TYPE_FILE)}: the mixed-type format (per-frame atom "
                        "types) is not supported")
    for stem in stems:
        if stem + ".npy" in g:
            out.arrays[stem] = np.asarray(g[stem + ".npy"][()])
    if keys.COORD not in out.arrays:
        raise DataError(f"{where}: no frames: coord.npy is missing in this set")
    return out


def find_h5_systems(path):
    """Every system group under ``file.h5[#/group]`` (a group holding type.raw), sorted, as
    'file.h5#/name' paths ('file.h5' itself when the root is a system)."""
    file, group = split_h5_path(path)
    found = []
    with _open(file) as fh:
        if group not in fh:
            raise DataError(f"{path}: no group {group} in {file}")

        def visit(name, obj):
            if hasattr(obj, "keys") and TYPE_FILE in obj:
                found.append(obj.name)

        top = fh[group]
        if TYPE_FILE in top:
            found.append(top.name)
        top.visititems(visit)
    return [file if g == "/" else f"{file}{GROUP_SEP}{g}" for g in sorted(set(found))]
