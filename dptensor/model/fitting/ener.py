"""Energy fitting: E_i = N_{t_i}(D_i) + b_{t_i}, E = sum_i E_i.

``b`` (``bias_atom_e``, eV per atom of each type) is set before training by least squares of the
frame energies on the atom counts per type. With ``atom_ener`` set for a type, the net is shifted so
that an atom of that type with an empty environment (D = 0) has exactly that energy.
Types in ``atom_exclude_types`` have zero atomic energy.
"""

import numpy as np

from dptensor.data import keys
from dptensor.model import output_def
from dptensor.model.fitting.base import TypedFitting


class EnerFitting(TypedFitting):
    fitting_type = "ener"
    output_def = output_def.ENERGY

    def __init__(self, ntypes, dim_descrpt, dim_emb, rcond=None, atom_ener=(), atom_exclude_types=(),
                 **kwargs):
        self.rcond = rcond
        self.atom_ener = list(atom_ener or [])
        self.atom_exclude_types = sorted(int(t) for t in (atom_exclude_types or []))
        kwargs.pop("sel_type", None)
        sel = [t for t in range(int(ntypes)) if t not in self.atom_exclude_types]
        super().__init__(ntypes, dim_descrpt, dim_emb, sel_type=sel, **kwargs)

    @property
    def out_dim(self):
        return 1

    def extra_variables(self):
        return {"bias_atom_e": np.zeros(self.ntypes)}

    def call(self, ops, v, descriptor, rot_mat, atype, groups=None):
        out = self.typed_output(ops, v, descriptor, atype, groups)[..., 0]  # nf x nloc
        dtype = ops.dtype_of(out)
        bias = ops.astype(v["bias_atom_e"], dtype) * ops.asarray(self.sel_mask_table(), dtype=dtype)
        energy = out + ops.take(bias, atype, axis=0)
        for t, target in enumerate(self.atom_ener[:self.ntypes]):
            if target is not None and t in self.sel_type:
                energy = energy + self._isolated_shift(ops, v, t, target, atype, dtype)
        return {self.output_def.atomic_name: energy}

    def sel_mask_table(self):
        """ntypes floats: 1 for types with an energy, 0 for excluded types."""
        return np.isin(np.arange(self.ntypes), self.sel_type).astype(float)

    def _isolated_shift(self, ops, v, t, target, atype, dtype):
        """(atom_ener[t] - E_t(D = 0)) on atoms of type t, else 0: nf x nloc."""
        zero = ops.zeros((1, self.dim_descrpt), dtype)
        e0 = self.nets[t].call(ops, v["nets"][t], zero)[0, 0] + ops.astype(v["bias_atom_e"][t], dtype)
        return (target - e0) * ops.astype(atype == t, dtype)

    def compute_stats(self, batches):
        """bias_atom_e: least squares of E_frame = sum_t n_t b_t over the batches with energies."""
        rows, energies = [], []
        for b in batches:
            if keys.ENERGY not in b:
                continue
            counts = np.stack([(b[keys.ATYPE] == t).sum(axis=1) for t in range(self.ntypes)], axis=1)
            rows.append(counts)
            energies.append(b[keys.ENERGY].reshape(-1))
        if not rows:
            return
        a, e = np.concatenate(rows).astype(float), np.concatenate(energies)
        a[:, [t for t in range(self.ntypes) if t not in self.sel_type]] = 0.0
        bias, *_ = np.linalg.lstsq(a, e, rcond=self.rcond)
        self.variables["bias_atom_e"] = bias.astype(np.float64)

    def config(self):
        cfg = super().config()
        cfg.pop("sel_type")
        return {**cfg, "rcond": self.rcond, "atom_ener": self.atom_ener,
                "atom_exclude_types": self.atom_exclude_types}
