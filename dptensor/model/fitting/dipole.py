"""Dipole fitting: a vector per selected atom, built from the descriptor's rotation matrix.

    mu_i = N_{t_i}(D_i) . T_i[:, 1:]        (M1) x (M1 x 3) -> 3

so mu_i rotates with the atomic environment by construction. The global dipole is the sum over
atoms; atoms whose type is not in ``sel_type`` contribute exactly zero.
"""

from dptensor.model import output_def
from dptensor.model.fitting.base import TypedFitting


class DipoleFitting(TypedFitting):
    fitting_type = "dipole"
    output_def = output_def.DIPOLE

    @property
    def out_dim(self):
        return self.dim_emb

    def call(self, ops, v, descriptor, rot_mat, atype, groups=None):
        out = self.typed_output(ops, v, descriptor, atype, groups)  # nf x nloc x M1
        return {self.output_def.atomic_name: ops.einsum("flm,flmd->fld", out, rot_mat)}
