"""Polarizability fitting: a symmetric 3 x 3 tensor per selected atom.

With the net output reshaped to A_i (M1 x M1; symmetrized as A + A^T) or, with ``fit_diag``, the
diagonal matrix diag(N(D_i)), and R_i = T_i[:, 1:] (M1 x 3):

    alpha_i = s_{t_i} R_i^T A_i R_i + c_{t_i} I

``s`` is the per-type ``scale``; ``c`` (``constant_matrix``) is the per-type mean of the diagonal
of the labels, set before training when ``shift_diag``. alpha_i -> R alpha_i R^T under rotation.
"""

import numpy as np

from dptensor.data import keys
from dptensor.model import output_def
from dptensor.model.fitting.base import TypedFitting, rotated_symmetric


class PolarFitting(TypedFitting):
    fitting_type = "polar"
    output_def = output_def.POLAR

    def __init__(self, ntypes, dim_descrpt, dim_emb, fit_diag=True, scale=1.0, shift_diag=True,
                 **kwargs):
        self.fit_diag, self.shift_diag = bool(fit_diag), bool(shift_diag)
        scale = [float(scale)] * int(ntypes) if np.isscalar(scale) else [float(s) for s in scale]
        self.scale = scale
        super().__init__(ntypes, dim_descrpt, dim_emb, **kwargs)

    @property
    def out_dim(self):
        return self.dim_emb if self.fit_diag else self.dim_emb * self.dim_emb

    def extra_variables(self):
        return {"constant_matrix": np.zeros(self.ntypes)}

    def call(self, ops, v, descriptor, rot_mat, atype, groups=None):
        out = self.typed_output(ops, v, descriptor, atype, groups)  # nf x nloc x out_dim
        alpha = rotated_symmetric(ops, out, rot_mat, self.fit_diag)  # nf x nloc x 3 x 3
        dtype = ops.dtype_of(out)
        sel = np.isin(np.arange(self.ntypes), self.sel_type).astype(float)
        scale = ops.take(ops.asarray(np.asarray(self.scale) * sel, dtype=dtype), atype, axis=0)
        alpha = alpha * scale[:, :, None, None]
        if self.shift_diag:
            shift = ops.take(ops.astype(v["constant_matrix"], dtype) * ops.asarray(sel, dtype=dtype),
                             atype, axis=0)
            alpha = alpha + shift[:, :, None, None] * ops.eye(3, dtype)
        return {self.output_def.atomic_name: alpha}

    def compute_stats(self, batches):
        """constant_matrix[t]: mean trace/3 of the atomic labels of type t; without atomic labels,
        least squares of trace(alpha)/3 = sum_t n_t c_t over the global labels."""
        if not self.shift_diag:
            return
        atomic = [b for b in batches if keys.ATOMIC_POLARIZABILITY in b]
        if atomic:
            sums, counts = np.zeros(self.ntypes), np.zeros(self.ntypes)
            for b in atomic:
                diag = np.trace(b[keys.ATOMIC_POLARIZABILITY], axis1=-2, axis2=-1) / 3.0
                for t in self.sel_type:
                    m = b[keys.ATYPE] == t
                    sums[t] += diag[m].sum()
                    counts[t] += m.sum()
            self.variables["constant_matrix"] = sums / np.maximum(counts, 1)
            return
        rows, values = [], []
        for b in batches:
            if keys.POLARIZABILITY in b:
                rows.append(np.stack([(b[keys.ATYPE] == t).sum(axis=1) if t in self.sel_type
                                      else np.zeros(len(b[keys.ATYPE])) for t in range(self.ntypes)], 1))
                values.append(np.trace(b[keys.POLARIZABILITY], axis1=-2, axis2=-1) / 3.0)
        if rows:
            c, *_ = np.linalg.lstsq(np.concatenate(rows).astype(float), np.concatenate(values), rcond=None)
            self.variables["constant_matrix"] = c

    def config(self):
        return {**super().config(), "fit_diag": self.fit_diag, "scale": list(self.scale),
                "shift_diag": self.shift_diag}
