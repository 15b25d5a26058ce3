"""A DeePMD data system in memory: atom types in the model's indices, frames and labels.

``load_system`` reads a folder (``set.*/*.npy`` or ``*.raw``), an HDF5 group, or any format
dpdata knows, and checks every array against the atom count of ``type.raw`` (see ``shapes.py``).
"""

import os
from dataclasses import dataclass, field

import numpy as np

from dptensor.data import keys
from dptensor.data.hdf5 import find_h5_systems, is_h5_path, read_h5, split_h5_path
from dptensor.data.raw import (NOPBC_FILE, TYPE_FILE, TYPE_MAP_FILE, StoredSet, StoredSystem,
                               read_folder)
from dptensor.data.shapes import check_finite, coord_frames, label_names, reshape_box, reshape_label
from dptensor.errors import DataError


@dataclass
class DeepmdSystem:
    """Frames of one system (float64 arrays, frames of all sets concatenated).

    ``labels`` holds only what the data has (a missing file is absent, never zeros), in the
    layouts of ``keys``: energy nf, force nf x nat x 3, virial nf x 3 x 3, hessian
    nf x 3nat x 3nat, atomic_dipole nf x nat x 3 (zero rows for atoms not in ``sel_type``) ...
    """

    path: str
    type_map: list | None  # names of the type indices in ``atype`` (the model's type_map)
    atype: np.ndarray  # nat, int64, indices into type_map
    coord: np.ndarray  # nf x nat x 3, Angstrom
    box: np.ndarray | None  # nf x 3 x 3 (rows are cell vectors), None when non-periodic
    labels: dict = field(default_factory=dict)
    set_nframes: tuple = ()  # frames of each set.* (DeePMD-kit counts batches per set)
    sel_type: tuple | None = None  # types whose atomic tensor labels are meaningful

    @property
    def natoms(self):
        return int(self.atype.size)

    @property
    def nframes(self):
        return int(self.coord.shape[0])

    @property
    def periodic(self):
        return self.box is not None

    def natoms_per_type(self, ntypes):
        """Atom count of each type index, ntypes long."""
        return np.bincount(self.atype, minlength=ntypes)[:ntypes]


def load_system(path, type_map, sel_type=None, fmt=None, tensor_labels=()):
    """Read one system -> DeepmdSystem.

    path: a system folder, ``file.h5`` or ``file.h5#/group``; type_map: the model's element names
    (None keeps the data's own indices and names); sel_type: model type indices whose atoms carry
    atomic tensor labels (None: all); fmt: None for DeePMD layouts, else a dpdata format name
    (e.g. "vasp/outcar"), read with ``dpdata.LabeledSystem`` (``dpdata.System`` if unlabeled);
    tensor_labels: ``shapes.TensorLabel`` s of a model's own tensor (``<label>.npy``,
    ``atomic_<label>.npy``), read and checked like the built-in labels.
    """
    path = str(path)
    stems = [n for t in tensor_labels for n in (t.name, t.atomic_name)]
    if fmt is not None:
        stored = _read_dpdata(path, fmt)
    elif is_h5_path(path) or os.path.isfile(path):
        stored = read_h5(path, stems)
    else:
        stored = read_folder(path, stems)
    return build_system(stored, type_map, sel_type, tensor_labels)


def map_types(types, names, type_map, where):
    """Data type indices -> model indices: by element name when the data has type_map.raw,
    else unchanged (then they must be < len(type_map)). DataError names both maps."""
    if names is not None:
        if types.max() >= len(names):
            raise DataError(f"{where}/{TYPE_FILE}: type index {int(types.max())} but "
                            f"{TYPE_MAP_FILE} lists only {len(names)} names {names}")
        if type_map is None:
            return types
        unknown = [names[t] for t in np.unique(types) if names[t] not in type_map]
        if unknown:
            raise DataError(f"{where}: element(s) {unknown} of the data's {TYPE_MAP_FILE} {names} "
                            f"are not in the model's type_map {list(type_map)}; add them to "
                            "model.type_map")
        lookup = np.array([list(type_map).index(n) if n in type_map else -1 for n in names])
        return lookup[types]
    if type_map is not None and types.max() >= len(type_map):
        raise DataError(f"{where}/{TYPE_FILE}: type index {int(types.max())} but the model's "
                        f"type_map {list(type_map)} has {len(type_map)} types (there is no "
                        f"{TYPE_MAP_FILE}, so indices are used as they are)")
    return types


def build_system(stored, type_map, sel_type=None, tensor_labels=()):
    """Check and reshape a StoredSystem (see raw.py) -> DeepmdSystem in the model's types;
    ``tensor_labels`` as in ``load_system``."""
    atype = map_types(stored.atom_types, stored.type_names, type_map, stored.where)
    nat = atype.size
    sel_mask = np.ones(nat, bool) if sel_type is None else np.isin(atype, list(sel_type))
    parts = [_build_set(s, nat, sel_mask, stored.nopbc, tensor_labels) for s in stored.sets]
    _check_same_labels(parts, stored.sets)
    coord = np.concatenate([p[0] for p in parts])
    box = None if stored.nopbc else np.concatenate([p[1] for p in parts])
    labels = {name: np.concatenate([p[2][name] for p in parts]) for name in parts[0][2]}
    names = list(type_map) if type_map is not None else stored.type_names
    return DeepmdSystem(stored.where, names, atype.astype(np.int64), coord, box, labels,
                        tuple(p[0].shape[0] for p in parts),
                        None if sel_type is None else tuple(int(t) for t in sel_type))


def _build_set(stored_set, nat, sel_mask, nopbc, tensor_labels=()):
    """One set -> (coord nf x nat x 3, box nf x 3 x 3 or None, labels dict)."""
    arrays = stored_set.arrays
    nf = coord_frames(arrays[keys.COORD], nat, stored_set.file(keys.COORD))
    coord = np.asarray(arrays[keys.COORD], dtype=np.float64).reshape(nf, nat, 3)
    box = None
    if not nopbc:
        if keys.BOX not in arrays:
            raise DataError(f"{stored_set.file(keys.BOX)} is missing; for a non-periodic system "
                            f"put an empty file named '{NOPBC_FILE}' in the system folder")
        box = reshape_box(arrays[keys.BOX], nf, stored_set.file(keys.BOX))
    labels = {name: reshape_label(name, arrays[name], nf, sel_mask, stored_set.file(name),
                                  tensor_labels)
              for name in label_names(tensor_labels) if name in arrays}
    for name in (keys.COORD, keys.BOX, *labels):  # as stored, so that positions are the file's
        if name in arrays:
            check_finite(arrays[name], nf, stored_set.file(name))
    return coord, box, labels


def _check_same_labels(parts, sets):
    """A label must be in every set or in none: frames without it cannot be told apart."""
    every = set().union(*(p[2] for p in parts))
    for part, stored_set in zip(parts, sets):
        missing = sorted(every - set(part[2]))
        if missing:
            files = ", ".join(n + stored_set.suffix for n in missing)
            raise DataError(f"{stored_set.where}: {files} missing in this set but present in "
                            "other sets of the system")


def _multi_system_data(dpdata, path, fmt):
    """The data of a file that dpdata's MultiSystems reads as one composition; None when it has no
    MultiSystems reader for ``fmt``; DataError for several compositions in one file."""
    try:
        multi = dpdata.MultiSystems.from_file(path, fmt=fmt)
    except Exception:
        return None
    if len(multi) > 1:
        raise DataError(f"{path}: holds {len(multi)} different compositions; give one system per "
                        "composition (dpdata's MultiSystems.to('deepmd/npy', folder) splits them)")
    return multi[0].data if len(multi) == 1 else None


def _read_dpdata(path, fmt):
    """Any dpdata format -> StoredSystem (energies, forces, virials become labels)."""
    import dpdata

    # dpdata raises many exception types for unreadable or unlabeled input; any of them means
    # "try the next reader", then "report". Multi-frame formats such as extxyz are read whole
    # only by MultiSystems (LabeledSystem keeps the first frame).
    try:
        data = _multi_system_data(dpdata, path, fmt)
        if data is None:
            try:
                data = dpdata.LabeledSystem(path, fmt=fmt).data
            except Exception:
                data = dpdata.System(path, fmt=fmt).data
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path}: dpdata cannot read it as {fmt!r} ({type(err).__name__}: {err})"
                        ) from None
    nf = len(data["coords"])
    nopbc = bool(data.get("nopbc", False))
    arrays = {keys.COORD: np.reshape(data["coords"], (nf, -1))}
    if not nopbc:
        arrays[keys.BOX] = np.reshape(data["cells"], (nf, -1))
    for src, name in (("energies", keys.ENERGY), ("forces", keys.FORCE),
                      ("virials", keys.VIRIAL)):
        if src in data and np.size(data[src]) > 0:
            arrays[name] = np.reshape(data[src], (nf, -1))
    where = f"{path} (dpdata {fmt})"
    return StoredSystem(where, np.asarray(data["atom_types"], dtype=np.int64),
                        list(data["atom_names"]), nopbc, [StoredSet(where, "", arrays)])


def resolve_path(entry, base_dir=None):
    """A system path as given by the user -> an existing path.

    Absolute paths are used as they are. A relative path is tried against the current working
    directory first (where DeePMD-kit users run ``dp train``), then against ``base_dir`` (the
    folder of input.json), so that both habits work. The ``#group`` part of HDF5 paths is kept.
    """
    file, sep, group = str(entry).partition("#")
    tried = [file]
    if not os.path.isabs(file) and base_dir is not None:
        tried.append(os.path.join(base_dir, file))
    for cand in tried:
        if os.path.exists(cand):
            return os.path.normpath(cand) + sep + group
    raise DataError(f"{entry}: no such system file or folder (looked for "
                    f"{' and '.join(repr(t) for t in tried)}, working directory {os.getcwd()})")


def find_systems(entries, base_dir=None):
    """System paths listed by the user -> every system they name, in order.

    entries: a path or a list of paths; each is a system folder, a parent folder searched
    recursively for folders holding type.raw (sorted), or an HDF5 file/group (its system groups).
    Relative paths: see ``resolve_path``. An entry that names nothing is a DataError.
    """
    if isinstance(entries, (str, os.PathLike)):
        entries = [entries]
    out = []
    for entry in entries:
        path = resolve_path(entry, base_dir)
        file, _ = split_h5_path(path)
        found = find_h5_systems(path) if os.path.isfile(file) else _find_folders(path)
        if not found:
            raise DataError(f"{entry}: no DeePMD system found (no folder with {TYPE_FILE} in it)")
        out.extend(found)
    return out


def _find_folders(path):
    """``path`` if it is a system folder, else every folder below it holding type.raw, sorted."""
    if os.path.isfile(os.path.join(path, TYPE_FILE)):
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("set."))  # sets hold no systems
        if TYPE_FILE in files:
            found.append(root)
    return sorted(found)
