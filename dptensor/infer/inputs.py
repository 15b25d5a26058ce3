"""Checking and normalizing the arrays given to ``DeepModel.evaluate`` (and through it the ASE
calculator and the dpdata driver): every mistake is a DptError that names the argument and its
shape, never a numpy error from deep inside the neighbor search.

    coord: nf x nat x 3, nat x 3, nf x 3nat or 3nat (nat from atype), finite
    box:   nf x 3 x 3, nf x 9, 3 x 3 or 9 (one box for every frame), or None (non-periodic);
           finite, non-zero volume, and not so flat that the cutoff would reach millions of atom images
    atype: nat or nf x nat integer type indices
"""

import numpy as np

from dptensor.errors import DptError

# periodic images the neighbor search would visit for one frame, times its atoms, above which the
# box is refused (a 192-atom water box with rcut 6 A needs 27 images, 5 184 candidates; a one-atom cell
# 1 A high with rcut 9 A needs 6 859)
MAX_CANDIDATES = 10**7


def frame_inputs(coord, box, atype, rcut=None):
    """-> coord nf x nat x 3 float64, box nf x 3 x 3 float64 or None, atype nf x nat int64."""
    atype = _atom_types(atype)
    coord = _coordinates(coord, atype.shape[-1])
    nf, nat = coord.shape[:2]
    if atype.ndim == 1:
        atype = np.broadcast_to(atype, (nf, nat))
    if atype.shape != (nf, nat):
        raise DptError(f"atype has shape {atype.shape}; expected ({nat},) or ({nf}, {nat}) for coord "
                       f"of shape {coord.shape}")
    if box is not None:
        box = _boxes(box, nf, rcut, nat)
    return coord, box, np.ascontiguousarray(atype)


def _atom_types(atype):
    raw = np.asarray(atype)
    if raw.ndim not in (1, 2):
        raise DptError(f"atype has shape {raw.shape}; expected (nat,) or (nf, nat) type indices")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        whole = np.issubdtype(raw.dtype, np.number) and np.all(raw == np.round(raw))
        if not whole:
            raise DptError(f"atype must hold integer type indices; got {raw.dtype} values that are not")
    return raw.astype(np.int64)


def _coordinates(coord, nat):
    coord = np.asarray(coord, dtype=np.float64)
    shape = coord.shape
    if coord.ndim == 3 and shape[1:] == (nat, 3):
        pass
    elif shape == (nat, 3):
        coord = coord[None]
    elif coord.ndim in (1, 2) and shape[-1] == 3 * nat:
        coord = coord.reshape(-1, nat, 3)
    else:
        raise DptError(f"coord has shape {shape}; for the {nat} atoms of atype expected (nf, {nat}, 3), "
                       f"({nat}, 3), (nf, {3 * nat}) or ({3 * nat},)")
    bad = ~np.isfinite(coord)
    if bad.any():
        frame, atom, xyz = np.argwhere(bad)[0]
        raise DptError(f"coord: {coord[frame, atom, xyz]} at frame {frame}, atom {atom}; coordinates must "
                       "be finite")
    return coord


def _boxes(box, nf, rcut, nat):
    box = np.asarray(box, dtype=np.float64)
    if box.shape in ((3, 3), (9,)):
        box = np.broadcast_to(box.reshape(1, 3, 3), (nf, 3, 3))
    elif box.shape in ((nf, 3, 3), (nf, 9)):
        box = box.reshape(nf, 3, 3)
    else:
        raise DptError(f"box has shape {box.shape}; expected ({nf}, 3, 3), ({nf}, 9), (3, 3) or (9,) "
                       "(rows are the cell vectors), or None for non-periodic frames")
    if not np.all(np.isfinite(box)):
        raise DptError(f"box: frame {int(np.argwhere(~np.isfinite(box))[0][0])} is not finite")
    volume = np.abs(np.linalg.det(box))
    flat = np.flatnonzero(volume < 1e-10)
    if flat.size:
        raise DptError(f"box: frame {flat[0]} has zero volume ({box[flat[0]].tolist()}); give box=None "
                       "for non-periodic frames")
    if rcut:
        _check_images(box, volume, float(rcut), nat)
    return box


def _check_images(box, volume, rcut, nat):
    """Refuse boxes so flat that the neighbor search would visit more than MAX_CANDIDATES
    periodic images of atoms: hours and gigabytes for a box that is almost surely a mistake."""
    faces = np.linalg.norm(np.cross(box[:, [1, 2, 0]], box[:, [2, 0, 1]]), axis=-1)  # nf x 3
    heights = volume[:, None] / faces
    images = np.prod(2 * np.ceil(rcut / heights) + 1, axis=-1)
    worst = int(np.argmax(images))
    if images[worst] * max(nat, 1) > MAX_CANDIDATES:
        raise DptError(f"box: frame {worst} is nearly flat (cell heights {np.round(heights[worst], 4).tolist()} "
                       f"A, volume {volume[worst]:.3g} A^3): the cutoff {rcut} A would reach "
                       f"{images[worst]:.1e} periodic images. Rows of the box are the cell vectors; "
                       "cell lengths alone are not a box")
