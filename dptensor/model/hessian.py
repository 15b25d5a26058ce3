"""The Hessian d2E/dx2 of an se_e2_a energy model, written out from the model's structure.

The energy is E = sum_i phi_i(X_i): X_i = sum_k u_ik (4 x M1) sums over the neighbor slots k of
atom i a term u_ik = R~_ik^T G(s_ik) that depends on r_ik alone (R~ the normalized environment
row, s its radial column, G the embedding net), and phi_i is the rest of the model
(``DescrptSeA.from_xyz`` and the fitting net). With A_i = dX_i/dx (one tangent per coordinate)
and g_i = dphi_i/dX_i,

    H = sum_i A_i^T (d2phi_i/dX_i^2) A_i  +  sum_ik P_ik^T <g_i, d2u_ik/dr_ik^2> P_ik,

P_ik = dr_ik/dx (+1 on the neighbor's coordinates, -1 on the center's). Each part is taken
where it is cheap:

- R(r) and its first and second derivatives in r_ik, written out (``env_mat.env_mat_deriv2``);
- G, G', G'' of each slot's scalar input in one pass through the embedding net
  (``Network.call_derivs``);
- A_i from the per-slot Jacobians du_ik/dr_ik (3 directions), scattered onto the atoms;
- the first term in the space of the first fitting layer (``hessian_fit``);
- the second term as one 3 x 3 block per slot.

So the embedding net runs a fixed number of times per slot, not once per coordinate of the
system as differentiating the force would, and no framework autodiff is needed: the numpy
reference computes it, and a backend trains on it by differentiating these operations once
(the weights' gradient of the Hessian).
"""

from dptensor.model.env_mat import neighbor_vectors
from dptensor.model.hessian_fit import fitting_curvature


def energy_hessian(model, ops, v, coord, atype, nlist, shift, groups=None, widths=None):
    """d2E/dx2 per frame, nf x 3nat x 3nat (float64, atom-major: x0 y0 z0 x1 ...), of an energy
    ``model`` with variables ``v``; every atom is a center (nlist nf x nat x nnei). ``groups``
    and ``widths``: see ``Model.call_atomic``."""
    desc = model.descriptor
    nat = ops.shape(coord)[1]
    rij, mask = neighbor_vectors(ops, coord, nlist, shift)
    em, d1, d2 = desc.env_mat_deriv2(ops, rij, mask)
    occupied = nlist >= 0
    blocks = [SlotBlock(desc, ops, v["descriptor"], em, d1, d2, atype, b)
              for b in desc.blocks(desc.block_widths(widths, occupied))]
    xyz = blocks[0].xyz
    for b in blocks[1:]:
        xyz = xyz + b.xyz
    index = [_pair_index(ops, nlist, b.pos, b.w, nat) for b in blocks]
    jac = _tangents(ops, blocks, index, nat)
    curvature, g = fitting_curvature(model, ops, v["fitting"], xyz, jac, atype, groups)
    return ops.astype(curvature + _pair_term(ops, blocks, index, g, nat), ops.float_dtype("float64"))


class SlotBlock:
    """One neighbor-type block (``DescrptSeA.blocks``) of every center's list: the normalized
    environment rows R~ (r0, nf x nloc x w x 4) and their derivatives in r_ik (r1 .. x 4 x 3,
    r2 .. x 4 x 3 x 3), those of the embedding's input s (s1, s2), the embedding G and its
    derivatives in s (g0, g1, g2, .. x M1), and the block's part of X (xyz)."""

    def __init__(self, desc, ops, v, em, d1, d2, atype, block):
        tj, start, pos, w = block
        dstd = ops.take(v["dstd"][:, start:start + w], atype, axis=0)  # nf x nloc x w x 4
        r0 = desc.normalize_block(ops, v, em[:, :, pos:pos + w], atype, start, w)
        prec = ops.dtype_of(r0)
        r1 = ops.astype(d1[:, :, pos:pos + w] / dstd[..., None], prec)
        r2 = ops.astype(d2[:, :, pos:pos + w] / dstd[..., None, None], prec)
        self.s1, self.s2 = r1[..., 0, :], r2[..., 0, :, :]
        self.g0, self.g1, self.g2 = _embedding_derivs(desc, ops, v, r0[..., 0], atype, tj)
        factor = desc.pair_factor(ops, atype, tj, prec)
        if factor is not None:
            r0, r1, r2 = r0 * factor, r1 * factor[..., None], r2 * factor[..., None, None]
        self.r0, self.r1, self.r2 = r0, r1, r2
        self.xyz = ops.einsum("flnd,flnm->fldm", r0, self.g0)
        const = desc.cut_const(ops, v, tj, start, w)
        if const is not None:
            self.xyz = self.xyz + desc.const_term(ops, const, atype, tj)
        self.pos, self.w = pos, w

    def jacobian(self, ops):
        """du_ik/dr_ik per slot: nf x nloc x w x 3 x 4 x M1."""
        return (ops.einsum("flndc,flnm->flncdm", self.r1, self.g0)
                + ops.einsum("flnd,flnm,flnc->flncdm", self.r0, self.g1, self.s1))

    def curvature(self, ops, g):
        """<g_i, d2u_ik/dr_ik^2> per slot, nf x nloc x w x 3 x 3, for g = dphi/dX (nf x nloc x 4
        x M1). With q_n[d] = sum_m g[d, m] G^(n)[m]:
        sum_d R2[d] q0[d] + (R1[d] q1[d]) s1^T + s1 (R1[d] q1[d])^T + R[d] (q2[d] s1 s1^T + q1[d] s2)."""
        q0, q1, q2 = (ops.einsum("fldm,flnm->flnd", g, x) for x in (self.g0, self.g1, self.g2))
        cross = ops.einsum("flndc,flnd->flnc", self.r1, q1)[..., :, None] * self.s1[..., None, :]
        out = ops.einsum("flndce,flnd->flnce", self.r2, q0) + cross + ops.transpose(cross, (0, 1, 2, 4, 3))
        out = out + ops.sum(self.r0 * q2, axis=-1)[..., None, None] * (self.s1[..., :, None] * self.s1[..., None, :])
        return out + ops.sum(self.r0 * q1, axis=-1)[..., None, None] * self.s2


def _embedding_derivs(desc, ops, v, ss, atype, tj):
    """G, G', G'' (nf x nloc x w x M1, derivatives in ss) on every slot of a block. Empty slots
    are included: their normalized input is the empty row's, so G is theirs, and their R~ does
    not move, so their derivatives never count."""
    shape = ops.shape(ss)
    x = ops.reshape(ss, (-1, 1))
    if desc.type_one_side:
        out = desc.embed_derivs(ops, v, tj, x)
    else:
        out = None
        for ti in range(desc.ntypes):
            k = desc.net_index(ti, tj)
            sel = ops.reshape(ops.astype(atype == ti, ops.dtype_of(ss))[:, :, None] + 0.0 * ss, (-1, 1))
            part = [t * sel for t in desc.embed_derivs(ops, v, k, x)]
            out = part if out is None else [a + b for a, b in zip(out, part)]
    return [ops.reshape(t, (*shape, desc.dim_emb)) for t in out]


def _pair_index(ops, nlist, pos, w, nat):
    """Per frame, the flat indices a*nat + b of the atom pairs (i, j), (i, i), (j, i), (j, j)
    of the block's slots (center i, neighbor j), each nf x nloc*w; empty slots read atom 0
    (their terms are zero)."""
    nf, nloc = ops.shape(nlist)[:2]
    block = ops.astype(nlist[:, :, pos:pos + w], ops.index_dtype)
    j = ops.where(block >= 0, block, 0 * block)
    i = ops.reshape(ops.astype(ops.arange(nloc), ops.index_dtype), (1, nloc, 1)) + 0 * j
    # nat as an index-typed scalar that tracing keeps symbolic (a traced size may be a narrower
    # int, and a tensor made from it would be a constant)
    n = ops.sum(ops.astype(ops.arange(nat) >= 0, ops.index_dtype))
    return [ops.reshape(a * n + b, (nf, -1)) for a, b in ((i, j), (i, i), (j, i), (j, j))]


def _tangents(ops, blocks, index, nat):
    """A = dX/dx: nf x nat x 3nat x 4 x M1, from every slot's du/dr (+ on its neighbor's
    coordinates, - on its center's)."""
    nf = ops.shape(blocks[0].xyz)[0]
    m1 = ops.shape(blocks[0].xyz)[-1]
    values, where = [], []
    for b, (ij, ii, _, _) in zip(blocks, index):
        du = ops.reshape(b.jacobian(ops), (nf, -1, 12 * m1))
        values += [du, -du]
        where += [ij, ii]
    jac = ops.scatter_rows(ops.concat(where, axis=1), ops.concat(values, axis=1), nat * nat)
    return ops.reshape(jac, (nf, nat, 3 * nat, 4, m1))


def _pair_term(ops, blocks, index, g, nat):
    """The second term of the module docstring, nf x 3nat x 3nat."""
    nf = ops.shape(g)[0]
    values, where = [], []
    for b, (ij, ii, ji, jj) in zip(blocks, index):
        h = ops.reshape(b.curvature(ops, g), (nf, -1, 9))
        values += [h, h, -h, -h]
        where += [ii, jj, ij, ji]
    pair = ops.scatter_rows(ops.concat(where, axis=1), ops.concat(values, axis=1), nat * nat)
    pair = ops.transpose(ops.reshape(pair, (nf, nat, nat, 3, 3)), (0, 1, 3, 2, 4))
    return ops.reshape(pair, (nf, 3 * nat, 3 * nat))
