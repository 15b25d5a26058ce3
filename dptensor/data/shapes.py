"""Shapes of the data files of a DeePMD system, and their check and reshape into ``keys`` layouts.

A file stores one row per frame (``nf x k``, or flat); only its total size is trusted, so that
``(nf, 3nat)``, ``(nf*nat, 3)`` and flat files all read alike, as in DeePMD-kit. Whether a tensor
label is global or atomic is decided by its file name alone. Atomic tensor files may hold rows for
all ``nat`` atoms or only for the ``nsel`` atoms whose type is in ``sel_type`` (in atom order); both
are expanded to ``nf x nat x ...`` with zero rows for the non-selected atoms.
"""

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


def reshape_label(name, array, nf, sel_mask, where):
    """Check a label's size and return it in its keys.py layout (float64).

    name: a keys.LABELS entry; array: as stored; nf: frames of the set; sel_mask: (nat,) bool,
    atoms whose type is selected (all True when the model has no sel_type); where: file path for
    messages. Raises DataError naming the file, its shape and the shapes that would fit.
    """
    nat = sel_mask.size
    nsel = int(sel_mask.sum())
    arr = np.asarray(array, dtype=np.float64)
    if name in _GLOBAL:
        tail = _GLOBAL[name]
        if arr.size == nf * _prod(tail):
            return arr.reshape((nf,) + tail)
        raise _bad_label(name, arr, nf, [(_prod(tail), f"({nf}, {_prod(tail)})")], nat, nsel,
                         where)
    if name == keys.HESSIAN:
        per = (3 * nat) ** 2
        if arr.size == nf * per:
            return arr.reshape(nf, 3 * nat, 3 * nat)
        raise _bad_label(name, arr, nf, [(per, f"({nf}, {per}) = ({nf}, (3 x {nat})^2)")], nat,
                         nsel, where)
    if name in _PER_ATOM:
        tail = _PER_ATOM[name]
        per = nat * _prod(tail)
        if arr.size == nf * per:
            return arr.reshape((nf, nat) + tail)
        raise _bad_label(name, arr, nf, [(per, f"({nf}, {per}) ({nat} atoms x {_prod(tail)})")],
                         nat, nsel, where)
    if name in _ATOMIC_TENSOR:
        return _reshape_atomic(name, arr, nf, sel_mask, where)
    raise ValueError(f"unknown label {name!r}")


def _reshape_atomic(name, arr, nf, sel_mask, where):
    """Atomic tensor: nat or nsel rows per frame -> nf x nat x tail, zero rows of unselected."""
    tail = _ATOMIC_TENSOR[name]
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
    raise _bad_label(name, arr, nf, fits, nat, nsel, where)


def _bad_label(name, arr, nf, fits, nat, nsel, where):
    """The DataError of a label that fits none of ``fits`` ((per-frame size, text) pairs)."""
    expected = " or ".join(text for _, text in fits)
    msg = f"{where}: shape {arr.shape} does not fit {name}: expected {expected}"
    cause = _likely_cause(name, arr.size, nf, nat, nsel)
    if not cause:
        cause = _frames_hint(arr.size, [per for per, _ in fits], nf)
    return DataError(msg + cause)


def _likely_cause(name, size, nf, nat, nsel):
    """A guess at why a label does not fit, from its per-frame size (empty string if none)."""
    if size % nf:
        return ""
    per = size // nf
    if name in _GLOBAL_OF and per == _prod(_ATOMIC_TENSOR[name]):
        glob = _GLOBAL_OF[name]
        return (f"; it holds one {per}-vector per frame, which looks like a global {glob}: "
                f"name the file {glob}.npy (or {glob}.raw)")
    if name in _ATOMIC_OF and per in {nat * _prod(_GLOBAL[name]), nsel * _prod(_GLOBAL[name])}:
        atomic = _ATOMIC_OF[name]
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
