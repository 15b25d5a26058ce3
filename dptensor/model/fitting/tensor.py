"""General tensor fitting: a rank-1 or rank-2 tensor per selected atom, made of chosen irreducible
parts, each equivariant by construction.

With G_i = T_i[:, 1:] (M1 x 3) the descriptor's rotation matrix of atom i (rows g_m rotate as
vectors: G -> G R^T) and the net output N_{t_i}(D_i) split into invariant blocks:

    rank 1, part 1:  v_i = a_i . G_i                              a: M1
    rank 2, part 0:  (c_i + c0_{t_i}) I                           c: 1
            part 1:  P_i^T J P_i = u w^T - w u^T,  P_i = W_i G_i  W: 2 x M1, J = [[0, 1], [-1, 0]]
            part 2:  S_i - tr(S_i)/3 I,  S_i = G_i^T (B + B^T) G_i
                                                    B: M1 x M1 (diagonal with fit_diag: M1)

Each part is exactly isotropic, antisymmetric or symmetric traceless whatever the weights, and
the sum rotates as R T R^T for every orthogonal R (reflections included: the antisymmetric part
is the wedge of two vectors, i.e. the axial vector u x w). ``c0`` (``constant_matrix``) is the
per-type mean of trace/3 of the labels, set before training. The global tensor is the sum over
the atoms; atoms whose type is not in ``sel_type`` contribute exactly zero.
"""

import numpy as np

from dptensor.data import keys
from dptensor.model import output_def
from dptensor.model.fitting.base import TypedFitting, rotated_symmetric

RANKS = (1, 2)
COMPONENTS = {1: (1,), 2: (0, 1, 2)}  # the irreducible parts (angular momenta) of each rank
DEFAULT_COMPONENTS = {1: [1], 2: [0, 1, 2]}
_WEDGE = np.array([[0.0, 1.0], [-1.0, 0.0]])  # J: P^T J P = u w^T - w u^T


def check_components(rank, components):
    """Problems (plain sentences) of a ``rank`` / ``tensor_components`` pair; empty if valid."""
    if rank not in RANKS:
        return [f"rank {rank!r} is not 1 or 2"]
    allowed = COMPONENTS[rank]
    if not components:
        return [f"no component given; a rank-{rank} tensor has parts {list(allowed)}"]
    bad = [c for c in components if c not in allowed]
    if bad:
        return [f"{bad} not among the parts {list(allowed)} of a rank-{rank} tensor"]
    return []


class TensorFitting(TypedFitting):
    fitting_type = "tensor"

    def __init__(self, ntypes, dim_descrpt, dim_emb, label, rank=2, tensor_components=None,
                 fit_diag=False, **kwargs):
        self.rank, self.label, self.fit_diag = int(rank), str(label), bool(fit_diag)
        if tensor_components is None:
            tensor_components = DEFAULT_COMPONENTS.get(self.rank)
        comps = sorted({int(c) for c in tensor_components or []})
        problems = check_components(self.rank, comps)
        if problems:
            raise ValueError(f"tensor fitting: {problems[0]}")
        self.tensor_components = comps
        self.output_def = output_def.tensor_output(self.label, self.rank)
        super().__init__(ntypes, dim_descrpt, dim_emb, **kwargs)

    # layout of the net output ---------------------------------------------------------------
    def _widths(self):
        """(part, width) of each block of the net output, in order."""
        m = self.dim_emb
        if self.rank == 1:
            return [(1, m)]
        width = {0: 1, 1: 2 * m, 2: m if self.fit_diag else m * m}
        return [(c, width[c]) for c in self.tensor_components]

    @property
    def out_dim(self):
        return sum(w for _, w in self._widths())

    @property
    def has_shift(self):
        return self.rank == 2 and 0 in self.tensor_components

    def extra_variables(self):
        return {"constant_matrix": np.zeros(self.ntypes)} if self.has_shift else {}

    def _blocks(self, ops, out):
        """{part: nf x nloc x width} from the net output nf x nloc x out_dim."""
        blocks, start = {}, 0
        for part, width in self._widths():
            blocks[part] = ops.take(out, np.arange(start, start + width), axis=2)
            start += width
        return blocks

    # math ------------------------------------------------------------------------------------
    def call(self, ops, v, descriptor, rot_mat, atype, groups=None):
        out = self.typed_output(ops, v, descriptor, atype, groups)  # nf x nloc x out_dim
        blocks = self._blocks(ops, out)
        name = self.output_def.atomic_name
        if self.rank == 1:
            return {name: ops.einsum("flm,flmd->fld", blocks[1], rot_mat)}  # nf x nloc x 3
        dtype = ops.dtype_of(out)
        makers = {0: lambda b: self._isotropic(ops, v, b, atype, dtype),
                  1: lambda b: self._antisymmetric(ops, b, rot_mat, dtype),
                  2: lambda b: self._symmetric_traceless(ops, b, rot_mat, dtype)}
        tensor = None
        for part in self.tensor_components:
            t = makers[part](blocks[part])  # nf x nloc x 3 x 3
            tensor = t if tensor is None else tensor + t
        return {name: tensor}

    def _isotropic(self, ops, v, block, atype, dtype):
        """(c_i + c0_{t_i}) I; c0 only on selected types (others stay exactly zero)."""
        sel = np.isin(np.arange(self.ntypes), self.sel_type).astype(float)
        shift = ops.take(ops.astype(v["constant_matrix"], dtype) * ops.asarray(sel, dtype=dtype),
                         atype, axis=0)  # nf x nloc
        c = block[:, :, 0] + shift
        return c[:, :, None, None] * ops.eye(3, dtype)

    def _antisymmetric(self, ops, block, rot_mat, dtype):
        """P^T J P with P = W G (2 x 3): u w^T - w u^T."""
        nf, nloc, _ = ops.shape(block)
        w = ops.reshape(block, (nf, nloc, 2, self.dim_emb))
        p = ops.einsum("flkm,flmi->flki", w, rot_mat)  # nf x nloc x 2 x 3
        return ops.einsum("kn,flki,flnj->flij", ops.asarray(_WEDGE, dtype=dtype), p, p)

    def _symmetric_traceless(self, ops, block, rot_mat, dtype):
        """G^T (B + B^T) G (or G^T diag(b) G) minus its trace/3 times I."""
        s = rotated_symmetric(ops, block, rot_mat, self.fit_diag)  # nf x nloc x 3 x 3
        eye = ops.eye(3, dtype)
        trace = ops.einsum("flij,ij->fl", s, eye)
        return s - (trace / 3.0)[:, :, None, None] * eye

    # statistics ------------------------------------------------------------------------------
    def compute_stats(self, batches):
        """constant_matrix[t]: mean trace/3 of the atomic labels of type t; without atomic labels,
        least squares of trace(T)/3 = sum_t n_t c_t over the global labels."""
        if not self.has_shift:
            return
        od = self.output_def
        atomic = [b for b in batches if od.atomic_label in b]
        if atomic:
            self.variables["constant_matrix"] = self._atomic_trace_means(atomic)
            return
        rows, values = [], []
        for b in batches:
            if od.label in b:
                counts = [(b[keys.ATYPE] == t).sum(axis=1) for t in range(self.ntypes)]
                rows.append(np.stack([c if t in self.sel_type else 0 * c
                                      for t, c in enumerate(counts)], axis=1))
                values.append(np.trace(b[od.label], axis1=-2, axis2=-1) / 3.0)
        if rows:
            c, *_ = np.linalg.lstsq(np.concatenate(rows).astype(float), np.concatenate(values),
                                    rcond=None)
            self.variables["constant_matrix"] = c

    def _atomic_trace_means(self, batches):
        sums, counts = np.zeros(self.ntypes), np.zeros(self.ntypes)
        for b in batches:
            trace = np.trace(b[self.output_def.atomic_label], axis1=-2, axis2=-1) / 3.0
            for t in self.sel_type:
                m = b[keys.ATYPE] == t
                sums[t] += trace[m].sum()
                counts[t] += m.sum()
        return sums / np.maximum(counts, 1)

    def config(self):
        return {**super().config(), "label": self.label, "rank": self.rank,
                "tensor_components": list(self.tensor_components), "fit_diag": self.fit_diag}
