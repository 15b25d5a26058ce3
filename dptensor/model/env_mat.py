"""The smooth environment matrix of DeepPot-SE.

For atom i and neighbor slot k holding atom j, with r_ij = x_j + shift_ik - x_i and r = |r_ij|:

    R_ik = s(r) * [1, x_ij / r, y_ij / r, z_ij / r],   s(r) = sw(r) / r

    sw(r) = 1                                   r < r_s
          = u^3 (-6 u^2 + 15 u - 10) + 1        r_s <= r < r_c,  u = (r - r_s) / (r_c - r_s)
          = 0                                   r >= r_c

Empty slots (nlist = -1) give zero rows. Reference: Zhang et al., NeurIPS 31 (2018) 4436.
"""

import numpy as np


def switch(ops, r, rcut_smth, rcut):
    """sw(r) above; r: any shape; C2-continuous at r_s and r_c."""
    u = (r - rcut_smth) / (rcut - rcut_smth)
    inner = u * u * u * (-6.0 * u * u + 15.0 * u - 10.0) + 1.0
    return ops.where(r < rcut_smth, 1.0 + 0.0 * r, ops.where(r < rcut, inner, 0.0 * r))


def neighbor_vectors(ops, coord, nlist, shift, center=None):
    """r_ij for every slot: coord nf x nall x 3, nlist nf x nloc x nnei, shift nf x nloc x nnei x 3,
    center nf x nloc x 3 (default: coord, i.e. every atom is a center)
    -> rij nf x nloc x nnei x 3 (zero for empty slots), mask nf x nloc x nnei (bool)."""
    nf, nloc, nnei = ops.shape(nlist)
    mask = nlist >= 0
    index = ops.where(mask, nlist, 0 * nlist)  # empty slots read atom 0, then are zeroed
    coord_j = ops.gather_rows(coord, ops.reshape(index, (nf, nloc * nnei)))  # nf x nloc*nnei x 3
    coord_j = ops.reshape(coord_j, (nf, nloc, nnei, 3))
    center = coord if center is None else center
    rij = coord_j + shift - center[:, :, None, :]  # nf x nloc x nnei x 3
    maskf = ops.astype(mask, ops.dtype_of(coord))[..., None]
    return rij * maskf, mask


def env_mat(ops, coord, nlist, shift, rcut, rcut_smth, protection=0.0, center=None):
    """R of the module docstring: nf x nloc x nnei x 4 (dtype of coord); see neighbor_vectors."""
    rij, mask = neighbor_vectors(ops, coord, nlist, shift, center)
    r2 = ops.sum(rij * rij, axis=-1, keepdims=True)  # nf x nloc x nnei x 1
    maskf = ops.astype(mask, ops.dtype_of(coord))[..., None]
    # empty slots get r = 1 so that no 1/0 (and no nan gradient) appears; they are zeroed below
    r = ops.sqrt(r2 + (1.0 - maskf)) + protection
    s = switch(ops, r, rcut_smth, rcut) / r * maskf  # nf x nloc x nnei x 1
    return ops.concat([s, s * rij / r], axis=-1)


def env_mat_stats(coord, nlist, shift, atype, ntypes, rcut, rcut_smth, protection=0.0):
    """Sums for the per-type normalization of R (numpy): returns dict of arrays, each ntypes long:
    n (slots), s, s2 (radial part), a2 (angular parts, summed over x, y, z)."""
    from dptensor.model.ops import numpy_ops

    em = env_mat(numpy_ops, coord, nlist, shift, rcut, rcut_smth, protection)  # nf x nloc x nnei x 4
    nnei = em.shape[2]
    out = {k: np.zeros(ntypes) for k in ("n", "s", "s2", "a2")}
    for t in range(ntypes):
        sel = em[atype == t]  # m x nnei x 4
        out["n"][t] = sel.shape[0] * nnei
        out["s"][t] = sel[..., 0].sum()
        out["s2"][t] = (sel[..., 0] ** 2).sum()
        out["a2"][t] = (sel[..., 1:] ** 2).sum()
    return out
