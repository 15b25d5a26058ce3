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
    center nf x nloc x 3 (default: the first nloc atoms of coord; nloc = nall when every atom
    is a center)
    -> rij nf x nloc x nnei x 3 (zero for empty slots), mask nf x nloc x nnei (bool)."""
    nf, nloc, nnei = ops.shape(nlist)
    mask = nlist >= 0
    index = ops.where(mask, nlist, 0 * nlist)  # empty slots read atom 0, then are zeroed
    coord_j = ops.gather_rows(coord, ops.reshape(index, (nf, nloc * nnei)))  # nf x nloc*nnei x 3
    coord_j = ops.reshape(coord_j, (nf, nloc, nnei, 3))
    center = coord[:, :nloc] if center is None else center
    rij = coord_j + shift - center[:, :, None, :]  # nf x nloc x nnei x 3
    maskf = ops.astype(mask, ops.dtype_of(coord))[..., None]
    return rij * maskf, mask


def env_mat(ops, coord, nlist, shift, rcut, rcut_smth, protection=0.0, center=None):
    """R of the module docstring: nf x nloc x nnei x 4 (dtype of coord); see neighbor_vectors."""
    rij, mask = neighbor_vectors(ops, coord, nlist, shift, center)
    return env_mat_of(ops, rij, mask, rcut, rcut_smth, protection)


def _radial(ops, rij, mask, protection):
    maskf = ops.astype(mask, ops.dtype_of(rij))[..., None]
    # empty slots get |r_ij| = 1 so that no 1/0 (and no nan gradient) appears; they are zeroed
    d = ops.sqrt(ops.sum(rij * rij, axis=-1, keepdims=True) + (1.0 - maskf))  # nf x nloc x nnei x 1
    return d, d + protection, maskf


def env_mat_of(ops, rij, mask, rcut, rcut_smth, protection=0.0):
    """R from the neighbor vectors (rij, mask as ``neighbor_vectors`` returns them)."""
    _, r, maskf = _radial(ops, rij, mask, protection)
    s = switch(ops, r, rcut_smth, rcut) / r * maskf  # nf x nloc x nnei x 1
    return ops.concat([s, s * rij / r], axis=-1)


def switch_deriv(ops, r, rcut_smth, rcut):
    """d sw / dr = -30 u^2 (1 - u)^2 / (r_c - r_s) between r_s and r_c, else 0."""
    width = rcut - rcut_smth
    u = (r - rcut_smth) / width
    inner = -30.0 * u * u * (1.0 - u) * (1.0 - u) / width
    inside = ops.astype(r >= rcut_smth, ops.dtype_of(r)) * ops.astype(r < rcut, ops.dtype_of(r))
    return inner * inside


def env_mat_deriv(ops, rij, mask, rcut, rcut_smth, protection=0.0):
    """R and its derivative with respect to r_ij, written out (no autograd):
    -> R nf x nloc x nnei x 4, dR nf x nloc x nnei x 4 x 3 with dR[..., k, b] = dR_k / d r_ij,b.

    With d = |r_ij|, r = d + protection, e = r_ij / d, s = sw(r) / r and s' = ds/dr:
    dR_0/dr_ij = s' e,   dR_a/dr_ij,b = (s'/r - s/r^2) r_ij,a e_b + (s/r) delta_ab  (a = x, y, z)."""
    d, r, maskf = _radial(ops, rij, mask, protection)
    sw = switch(ops, r, rcut_smth, rcut)
    s = sw / r * maskf
    ds = (switch_deriv(ops, r, rcut_smth, rcut) / r - sw / (r * r)) * maskf
    e = rij / d
    rmat = ops.concat([s, s * rij / r], axis=-1)
    coef = ds / r - s / (r * r)  # nf x nloc x nnei x 1
    d_ang = (rij * coef)[..., :, None] * e[..., None, :] + (s / r)[..., None] * ops.eye(3, ops.dtype_of(rij))
    return rmat, ops.concat([(ds * e)[..., None, :], d_ang], axis=-2)


def switch_deriv2(ops, r, rcut_smth, rcut):
    """d2 sw / dr2 = -60 u (1 - u) (1 - 2u) / (r_c - r_s)^2 between r_s and r_c, else 0."""
    width = rcut - rcut_smth
    u = (r - rcut_smth) / width
    inner = -60.0 * u * (1.0 - u) * (1.0 - 2.0 * u) / (width * width)
    inside = ops.astype(r >= rcut_smth, ops.dtype_of(r)) * ops.astype(r < rcut, ops.dtype_of(r))
    return inner * inside


def env_mat_deriv2(ops, rij, mask, rcut, rcut_smth, protection=0.0):
    """``env_mat_deriv`` and the second derivative, written out:
    -> R, dR (as ``env_mat_deriv``), d2R nf x nloc x nnei x 4 x 3 x 3 with
    d2R[..., k, b, c] = d2R_k / d r_ij,b d r_ij,c.

    With t = s/r (so R_a = t r_ij,a), t' = s'/r - s/r^2, P = (I - e e^T) / d:
    d2R_0 = s'' e e^T + s' P,
    d2R_a = (t'' e e^T + t' P) r_ij,a + t' (e_b delta_ac + e_c delta_ab),
    s'' = sw''/r - 2 sw'/r^2 + 2 sw/r^3,  t'' = s''/r - 2 s'/r^2 + 2 s/r^3."""
    d, r, maskf = _radial(ops, rij, mask, protection)
    rmat, deriv = env_mat_deriv(ops, rij, mask, rcut, rcut_smth, protection)
    sw, dsw = switch(ops, r, rcut_smth, rcut), switch_deriv(ops, r, rcut_smth, rcut)
    ddsw = switch_deriv2(ops, r, rcut_smth, rcut)
    s, ds = sw / r, dsw / r - sw / (r * r)
    dds = ddsw / r - 2.0 * dsw / (r * r) + 2.0 * sw / (r * r * r)
    t1 = ds / r - s / (r * r)
    t2 = dds / r - 2.0 * ds / (r * r) + 2.0 * s / (r * r * r)
    e = rij / d
    eye = ops.eye(3, ops.dtype_of(rij))
    ee = e[..., :, None] * e[..., None, :]  # nf x nloc x nnei x 3 x 3
    proj = (eye - ee) / d[..., None]
    radial = (dds[..., None] * ee + ds[..., None] * proj)[..., None, :, :]  # .. x 1 x 3 x 3
    ang = (t2[..., None] * ee + t1[..., None] * proj)[..., None, :, :] * rij[..., :, None, None]
    cross = t1[..., None, None] * (e[..., None, :, None] * eye[:, None, :] + e[..., None, None, :] * eye[:, :, None])
    second = ops.concat([radial, ang + cross], axis=-3) * maskf[..., None, None]
    return rmat, deriv, second


def forces_from_env_grad(ops, grad_r, deriv, rij, nlist, nall, centers=None):
    """Forces and virial of an energy E(R) from G = dE/dR (nf x nloc x nnei x 4) and the
    ``env_mat_deriv`` derivative: with g_ij = dE/dr_ij = sum_k G_ik dR_ik/dr_ij,

        F_i = sum_j g_ij (i the center) - sum over the slots where i is the neighbor j of g_ij,
        W_ab = -sum_ij g_ij,a r_ij,b   (= -(dE/d eps)^T, eps the strain; see the backends).

    nlist: -1 for empty slots (their g is zero); centers: nf x nloc, the atom of each center
    (default: every atom is a center, nloc = nall).
    -> F nf x nall x 3, W nf x 3 x 3."""
    nf, nloc, nnei = ops.shape(nlist)
    g = ops.einsum("flnk,flnkx->flnx", grad_r, deriv)  # nf x nloc x nnei x 3
    own = ops.sum(g, axis=2)  # nf x nloc x 3
    index = ops.reshape(ops.where(nlist >= 0, nlist, 0 * nlist), (nf, nloc * nnei))
    force = -ops.scatter_rows(index, ops.reshape(g, (nf, nloc * nnei, 3)), nall)
    if centers is None:
        force = force + own
    else:
        force = force + ops.scatter_rows(centers, own, nall)
    virial = -ops.einsum("flna,flnb->fab", g, rij)
    return force, virial


def env_mat_stats(coord, nlist, shift, atype, ntypes, rcut, rcut_smth, protection=0.0, centers=None):
    """Sums for the per-type normalization of R (numpy): returns dict of arrays, each ntypes long:
    n (slots), s, s2 (radial part), a2 (angular parts, summed over x, y, z). atype: of the
    centers, which are the atoms ``centers`` (nf x nloc) or, by default, the first nloc atoms."""
    from dptensor.model.ops import numpy_ops

    center = None if centers is None else numpy_ops.gather_rows(coord, centers)
    em = env_mat(numpy_ops, coord, nlist, shift, rcut, rcut_smth, protection, center)  # nf x nloc x nnei x 4
    nnei = em.shape[2]
    out = {k: np.zeros(ntypes) for k in ("n", "s", "s2", "a2")}
    for t in range(ntypes):
        sel = em[atype == t]  # m x nnei x 4
        out["n"][t] = sel.shape[0] * nnei
        out["s"][t] = sel[..., 0].sum()
        out["s2"][t] = (sel[..., 0] ** 2).sum()
        out["a2"][t] = (sel[..., 1:] ** 2).sum()
    return out
