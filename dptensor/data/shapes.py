"""Shapes of the data files of a DeePMD system, and their check and reshape into ``keys`` layouts.

A file stores one row per frame (``nf x k``, or flat); only its total size is trusted, so that
``(nf, 3nat)``, ``(nf*nat, 3)`` and flat files all read alike, as in DeePMD-kit. Whether a tensor
label is global or atomic is decided by its file name alone. Atomic tensor files may hold rows for
all ``nat`` atoms or only for the ``nsel`` atoms whose type is in ``sel_type`` (in atom order); both
are expanded to ``nf x nat x ...`` with zero rows for the non-selected atoms.

Besides the labels of ``keys.LABELS``, a model may learn a tensor of its own name (a ``tensor``
fitting with ``label: "bec"``): a :class:`TensorLabel` adds its global and atomic files to the
tables, with the same checks and hints as the built-in dipole and polarizability.
"""

from dataclasses import dataclass

import numpy as np

from dptensor.data import keys
from dptensor.errors import DataError

# label -> (per-atom?, trailing shape per frame or per atom). Per-atom labels of the "all atoms"
# kind (force, atom_ener) always have nat rows; the atomic tensors may have nsel rows.
_GLOBAL = {
    keys.ENERGY: (),
    keys.VIRIAL: (3, 3),
    keys.DIPOLE: (3,),
    keys.POLARIZABILITY: (3, 3),
}
_PER_ATOM = {keys.FORCE: (3,), keys.ATOM_ENER: ()}
_ATOMIC_TENSOR = {keys.ATOMIC_DIPOLE: (3,), keys.ATOMIC_POLARIZABILITY: (3, 3)}
# the global label of the same quantity, used to explain a file stored under the wrong name
_GLOBAL_OF = {keys.ATOMIC_DIPOLE: keys.DIPOLE, keys.ATOMIC_POLARIZABILITY: keys.POLARIZABILITY}
_ATOMIC_OF = {v: k for k, v in _GLOBAL_OF.items()}


@dataclass(frozen=True)
class TensorLabel:
    """A tensor label pair: global file ``name`` (nf x shape, the sum over the selected atoms) and
    atomic file ``atomic_name`` (nf x nat x shape, or nsel rows); shape (3,) or (3, 3), rows of
    3 or 9 numbers in XX XY XZ YX ... ZZ order."""

    name: str
    atomic_name: str
    shape: tuple


def tensor_labels_of(output_def):
    """The TensorLabel of a model's declared output (anything with ``label``, ``atomic_label``
    and ``shape``) as a 1-tuple, or () when the output is not a tensor or is None."""
    if output_def is None or not output_def.atomic_label or len(output_def.shape) == 0:
        return ()
    return (TensorLabel(output_def.label, output_def.atomic_label, tuple(output_def.shape)),)


def label_names(extra=()):
    """Data-file stems of labels: keys.LABELS, then the names of the TensorLabels ``extra``."""
    names = list(keys.LABELS)
    for t in extra:
        names += [n for n in (t.name, t.atomic_name) if n not in names]
    return tuple(names)


@dataclass(frozen=True)
class _Tables:
    glob: dict
    atomic: dict
    global_of: dict
    atomic_of: dict


def _tables(extra):
    """The label tables with the TensorLabels ``extra`` added."""
    t = _Tables(dict(_GLOBAL), dict(_ATOMIC_TENSOR), dict(_GLOBAL_OF), dict(_ATOMIC_OF))
    for lab in extra:
        t.glob[lab.name], t.atomic[lab.atomic_name] = tuple(lab.shape), tuple(lab.shape)
        t.global_of[lab.atomic_name], t.atomic_of[lab.name] = lab.name, lab.atomic_name
    return t


def _prod(shape):
    return int(np.prod(shape, dtype=np.int64))


def coord_frames(array, nat, where):
    """Number of frames of a coordinate file (size nf * 3nat); DataError when it does not fit."""
    per = 3 * nat
    if array.size == 0 or array.size % per:
        raise DataError(f"{where}: shape {array.shape} does not fit {nat} atoms of type.raw: "
                        f"expected (nframes, {per}) = (nframes, 3 x {nat}) with nframes >= 1")
    return array.size // per


def reshape_box(array, nf, where):
    """Box file (nf x 9, rows are cell vectors) -> nf x 3 x 3; every cell must have a volume."""
    if array.size != nf * 9:
        raise DataError(f"{where}: shape {array.shape} does not fit: expected ({nf}, 9) "
                        f"(one 3x3 cell per frame, {nf} frames as in coord)" + _frames_hint(
                            array.size, [9], nf))
    box = np.asarray(array, dtype=np.float64).reshape(nf, 3, 3)
    vol = np.abs(np.linalg.det(box))
    if np.any(vol < 1e-10):
        bad = int(np.argmax(vol < 1e-10))
        raise DataError(f"{where}: frame {bad} has a cell of zero volume {box[bad].tolist()}; "
                        "for a non-periodic system put an empty file named 'nopbc' in the system "
                        "folder")
    return box


def reshape_label(name, array, nf, sel_mask, where, extra=()):
    """Check a label's size and return it in its keys.py layout (float64).

    name: a keys.LABELS entry or a name of the TensorLabels ``extra``; array: as stored; nf:
    frames of the set; sel_mask: (nat,) bool, atoms whose type is selected (all True when the
    model has no sel_type); where: file path for messages. Raises DataError naming the file, its
    shape and the shapes that would fit.
    """
    tables = _tables(extra)
    nat = sel_mask.size
    nsel = int(sel_mask.sum())
    arr = np.asarray(array, dtype=np.float64)
    if name in tables.glob:
        tail = tables.glob[name]
        if arr.size == nf * _prod(tail):
            return arr.reshape((nf,) + tail)
        raise _bad_label(name, arr, nf, [(_prod(tail), f"({nf}, {_prod(tail)})")], nat, nsel,
                         where, tables)
    if name == keys.HESSIAN:
        per = (3 * nat) ** 2
        if arr.size == nf * per:
            return arr.reshape(nf, 3 * nat, 3 * nat)
        raise _bad_label(name, arr, nf, [(per, f"({nf}, {per}) = ({nf}, (3 x {nat})^2)")], nat,
                         nsel, where, tables)
    if name in _PER_ATOM:
        tail = _PER_ATOM[name]
        per = nat * _prod(tail)
        if arr.size == nf * per:
            return arr.reshape((nf, nat) + tail)
        raise _bad_label(name, arr, nf, [(per, f"({nf}, {per}) ({nat} atoms x {_prod(tail)})")],
                         nat, nsel, where, tables)
    if name in tables.atomic:
        return _reshape_atomic(name, arr, nf, sel_mask, where, tables)
    raise ValueError(f"unknown label {name!r}")


def _reshape_atomic(name, arr, nf, sel_mask, where, tables):
    """Atomic tensor: nat or nsel rows per frame -> nf x nat x tail, zero rows of unselected."""
    tail = tables.atomic[name]
    k = _prod(tail)
    nat, nsel = sel_mask.size, int(sel_mask.sum())
    out = np.zeros((nf, nat) + tail)
    if arr.size == nf * nat * k:
        out[:, sel_mask] = arr.reshape((nf, nat) + tail)[:, sel_mask]
        return out
    if arr.size == nf * nsel * k:
        out[:, sel_mask] = arr.reshape((nf, nsel) + tail)
        return out
    fits = [(nat * k, f"({nf}, {nat * k}) (all {nat} atoms x {k})")]
    if nsel != nat:
        fits.append((nsel * k, f"({nf}, {nsel * k}) ({nsel} selected atoms x {k})"))
    raise _bad_label(name, arr, nf, fits, nat, nsel, where, tables)


def _bad_label(name, arr, nf, fits, nat, nsel, where, tables):
    """The DataError of a label that fits none of ``fits`` ((per-frame size, text) pairs)."""
    expected = " or ".join(text for _, text in fits)
    msg = f"{where}: shape {arr.shape} does not fit {name}: expected {expected}"
    cause = _likely_cause(name, arr.size, nf, nat, nsel, tables)
    if not cause and arr.ndim >= 2 and arr.shape[0] == nf:  # frames right: the rows are wrong
        cause = f"; its {nf} frames have {arr.size // nf} numbers each"
    if not cause:
        cause = _frames_hint(arr.size, [per for per, _ in fits], nf)
    return DataError(msg + cause)


def _likely_cause(name, size, nf, nat, nsel, tables):
    """A guess at why a label does not fit, from its per-frame size (empty string if none)."""
    if size % nf:
        return ""
    per = size // nf
    if name in tables.global_of and per == _prod(tables.atomic[name]):
        glob = tables.global_of[name]
        return (f"; it holds one {per}-vector per frame, which looks like a global {glob}: "
                f"name the file {glob}.npy (or {glob}.raw)")
    if name in tables.atomic_of and per in {nat * _prod(tables.glob[name]),
                                            nsel * _prod(tables.glob[name])}:
        atomic = tables.atomic_of[name]
        return (f"; it holds {per} numbers per frame, which looks like per-atom data: name the "
                f"file {atomic}.npy (or {atomic}.raw)")
    if name == keys.ENERGY and per == nat:
        return ("; it holds one number per atom, which looks like atomic energies: name the file "
                f"{keys.ATOM_ENER}.npy")
    return ""


def _frames_hint(size, pers, nf):
    """Explain a frame-count mismatch when the size is a whole number of frames of a right width."""
    for per in pers:
        if per and size % per == 0 and size // per != nf:
            return f"; it holds {size // per} frames but coord has {nf} in the same set"
    return ""


def check_finite(array, nf, where):
    """DataError naming the first nan or inf of a set's array (nf frames) by frame and position."""
    flat = np.reshape(np.asarray(array, dtype=np.float64), (nf, -1))
    bad = ~np.isfinite(flat)
    if not bad.any():
        return
    frame, pos = (int(i) for i in np.argwhere(bad)[0])
    count = int(bad.sum())
    raise DataError(f"{where}: {flat[frame, pos]} at frame {frame}, value {pos} of the frame "
                    f"({count} {'value is' if count == 1 else 'values are'} nan or inf in all); every "
                    "coordinate, box and label must be a finite number (a label file the training "
                    "does not use can be removed from the set)")
