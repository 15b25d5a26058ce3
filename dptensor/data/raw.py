"""Reading a DeePMD system folder as stored, before any check of shapes.

Two layouts: ``set.*/<name>.npy`` folders (frames of all sets concatenated in sorted order), or,
without sets, the text layout ``<name>.raw`` (one frame per line) in the system folder itself.
Both give a :class:`StoredSystem`; ``system.py`` checks and reshapes it.
"""

import glob
import os
from dataclasses import dataclass, field

import numpy as np

from dptensor.data import keys
from dptensor.errors import DataError

TYPE_FILE = "type.raw"  # nat integers: the type index of each atom
TYPE_MAP_FILE = "type_map.raw"  # element names, one per type index
NOPBC_FILE = "nopbc"  # marker: non-periodic, any box.npy beside it is ignored
SET_GLOB = "set.*"
FRAME_FILES = (keys.COORD, keys.BOX) + keys.LABELS  # stems read from each set
# DeePMD-kit's "mixed type" format stores per-frame types here; type.raw alone would be wrong
MIXED_TYPE_FILE = "real_atom_types"


@dataclass
class StoredSet:
    """The frame arrays of one set, as stored: ``arrays[stem]`` any shape."""

    where: str  # the set folder (or HDF5 group), for messages
    suffix: str  # ".npy" or ".raw"
    arrays: dict = field(default_factory=dict)

    def file(self, stem):
        return f"{self.where}/{stem}{self.suffix}"


@dataclass
class StoredSystem:
    """A system as read: atom types in the data's own indices, names if the data has them."""

    where: str
    atom_types: np.ndarray  # nat, int
    type_names: list | None  # from type_map.raw
    nopbc: bool
    sets: list  # of StoredSet


def parse_types(words, where):
    """type.raw contents (whitespace-separated words) -> nat int array; DataError if not ints."""
    try:
        types = np.array([int(w) for w in words], dtype=np.int64)
    except ValueError:
        raise DataError(f"{where}: expected one non-negative integer per atom") from None
    if types.size == 0:
        raise DataError(f"{where}: no atoms (the file is empty)")
    if types.min() < 0:
        raise DataError(f"{where}: type indices must be >= 0, found {int(types.min())}")
    return types


def read_folder(path, extra_stems=()):
    """Read a system folder -> StoredSystem. DataError if type.raw or frames are missing.
    ``extra_stems``: label files read besides FRAME_FILES (a model's own tensor labels)."""
    type_file = os.path.join(path, TYPE_FILE)
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such system folder")
    if not os.path.isfile(type_file):
        raise DataError(f"{path}: not a DeePMD system: {TYPE_FILE} is missing in the folder")
    with open(type_file) as fh:
        types = parse_types(fh.read().split(), type_file)
    names = None
    map_file = os.path.join(path, TYPE_MAP_FILE)
    if os.path.isfile(map_file):
        with open(map_file) as fh:
            names = fh.read().split()
    stems = frame_stems(extra_stems)
    set_dirs = sorted(d for d in glob.glob(os.path.join(path, SET_GLOB)) if os.path.isdir(d))
    if set_dirs:
        sets = [_read_npy_set(d, stems) for d in set_dirs]
    elif os.path.isfile(os.path.join(path, keys.COORD + ".raw")):
        sets = [_read_raw_set(path, stems)]
    else:
        raise DataError(f"{path}: no frames: neither set.*/{keys.COORD}.npy folders nor "
                        f"{keys.COORD}.raw in the system folder")
    nopbc = os.path.isfile(os.path.join(path, NOPBC_FILE))
    return StoredSystem(path, types, names, nopbc, sets)


def frame_stems(extra_stems=()):
    """FRAME_FILES followed by the ``extra_stems`` that are not among them."""
    return FRAME_FILES + tuple(s for s in extra_stems if s not in FRAME_FILES)


def _read_npy_set(set_dir, stems=FRAME_FILES):
    """One set.* folder: every <stem>.npy of ``stems`` present; coord.npy is required."""
    out = StoredSet(set_dir.rstrip("/"), ".npy")
    if os.path.isfile(os.path.join(set_dir, MIXED_TYPE_FILE + ".npy")):
        raise DataError(f"{out.file(MIXED_TYPE_FILE)}: the mixed-type format (per-frame atom "
                        "types) is not supported; store one system per composition instead")
    for stem in stems:
        fname = out.file(stem)
        if os.path.isfile(fname):
            try:
                out.arrays[stem] = np.load(fname, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise DataError(f"{fname}: not a readable .npy file ({err})") from None
    if keys.COORD not in out.arrays:
        raise DataError(f"{set_dir}: no frames: {keys.COORD}.npy is missing in this set")
    return out


def _read_raw_set(path, stems=FRAME_FILES):
    """The text layout: <stem>.raw files in the system folder, one frame per line."""
    out = StoredSet(path.rstrip("/"), ".raw")
    for stem in stems:
        fname = out.file(stem)
        if os.path.isfile(fname):
            try:
                out.arrays[stem] = np.loadtxt(fname, ndmin=2, dtype=np.float64)
            except ValueError as err:
                raise DataError(f"{fname}: not a table of numbers ({err})") from None
    return out
