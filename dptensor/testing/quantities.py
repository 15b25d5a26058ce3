"""What ``dpt test`` compares for each model type: data label, prediction, unit and detail file.

Every quantity turns a label array and the matching prediction into rows of the same shape
(``to_rows``); metrics are taken over all values of those rows and the detail file prints them
side by side (data columns, then prediction columns). Declaring the quantities once keeps the
comparison, the report and the detail files free of per-model-type if-chains.
"""

from dataclasses import dataclass

import numpy as np

from dptensor.data import keys

XYZ = ("x", "y", "z")
XYZ9 = tuple(a + b for a in XYZ for b in XYZ)  # row-major 3x3 components: xx xy xz yx ...

UNIT_ENERGY = "eV"
UNIT_FORCE = "eV/A"
UNIT_HESSIAN = "eV/A^2"
UNIT_NONE = ""  # tensors carry the data's own unit, which dptensor does not know


@dataclass(frozen=True)
class Quantity:
    """One compared quantity.

    name: key in the result dicts; title: text of the report; label: data key (keys.py);
    pred: prediction key (keys.P_*); columns: column stems of one row (``data_<c> pred_<c>``);
    detail: suffix of the detail file ``PREFIX.<detail>.out``; per_atom: values divided by the
    system's atom count; selected: one row per atom whose type is in the model's sel_type;
    atomic_detail: the detail file is written only with ``-a``.
    """

    name: str
    title: str
    label: str
    pred: str
    unit: str
    columns: tuple
    detail: str
    per_atom: bool = False
    selected: bool = False
    atomic_detail: bool = False

    @property
    def needs_atomic(self):
        """evaluate(atomic=True) is needed to predict this quantity (atomic tensors are the
        ``selected`` quantities)."""
        return self.selected or self.pred == keys.P_ATOM_ENERGY

    @property
    def needs_hessian(self):
        return self.pred == keys.P_HESSIAN

    def header(self):
        """Column names of the detail file: data columns, then prediction columns."""
        return " ".join([f"data_{c}" for c in self.columns] + [f"pred_{c}" for c in self.columns])

    def to_rows(self, array, natoms, sel_mask):
        """Label or prediction of nf frames -> rows x len(columns) (float64).

        array: nf x ... in the keys.py layout (energy nf, force nf x nat x 3, hessian
        nf x 3nat x 3nat ...); sel_mask: nat bool, atoms of the model's sel_type. Per-frame
        quantities give nf rows, per-atom ones nf*nat (or nf*nsel) rows, the Hessian
        nf*(3nat)^2 rows in row-major order.
        """
        array = np.asarray(array, dtype=np.float64)
        if self.per_atom:
            array = array / natoms
        if self.selected:
            array = array[:, sel_mask]
        return array.reshape(-1, len(self.columns))


ENER_QUANTITIES = (
    Quantity("energy", "energy", keys.ENERGY, keys.P_ENERGY, UNIT_ENERGY, ("e",), "e"),
    Quantity("energy_per_atom", "energy/atom", keys.ENERGY, keys.P_ENERGY, UNIT_ENERGY, ("e",),
             "e_peratom", per_atom=True),
    Quantity("force", "force", keys.FORCE, keys.P_FORCE, UNIT_FORCE, ("fx", "fy", "fz"), "f"),
    Quantity("virial", "virial", keys.VIRIAL, keys.P_VIRIAL, UNIT_ENERGY,
             tuple("v" + c for c in XYZ9), "v"),
    Quantity("virial_per_atom", "virial/atom", keys.VIRIAL, keys.P_VIRIAL, UNIT_ENERGY,
             tuple("v" + c for c in XYZ9), "v_peratom", per_atom=True),
    Quantity("hessian", "hessian", keys.HESSIAN, keys.P_HESSIAN, UNIT_HESSIAN, ("h",), "h"),
    Quantity("atom_energy", "atom energy", keys.ATOM_ENER, keys.P_ATOM_ENERGY, UNIT_ENERGY,
             ("ae",), "ae", atomic_detail=True),
)

DIPOLE_QUANTITIES = (
    Quantity("dipole", "dipole", keys.DIPOLE, keys.P_DIPOLE, UNIT_NONE, XYZ, "dipole"),
    Quantity("atomic_dipole", "atomic dipole", keys.ATOMIC_DIPOLE, keys.P_ATOMIC_DIPOLE,
             UNIT_NONE, XYZ, "atomic_dipole", selected=True, atomic_detail=True),
)

POLAR_QUANTITIES = (
    Quantity("polar", "polarizability", keys.POLARIZABILITY, keys.P_POLAR, UNIT_NONE, XYZ9,
             "polar"),
    Quantity("atomic_polar", "atomic polarizability", keys.ATOMIC_POLARIZABILITY,
             keys.P_ATOMIC_POLAR, UNIT_NONE, XYZ9, "atomic_polar", selected=True,
             atomic_detail=True),
)

QUANTITIES = {"ener": ENER_QUANTITIES, "dipole": DIPOLE_QUANTITIES, "polar": POLAR_QUANTITIES}


def tensor_quantities(output_def):
    """The quantities of a ``tensor`` model: its global and atomic tensor, named, read and written
    (``PREFIX.<label>.out``, ``PREFIX.atomic_<label>.out``) after the output's labels."""
    od = output_def
    columns = XYZ if len(od.shape) == 1 else XYZ9
    return (
        Quantity(od.label, od.label, od.label, od.name, UNIT_NONE, columns, od.label),
        Quantity(od.atomic_label, od.atomic_label, od.atomic_label,
                 od.atomic_name, UNIT_NONE, columns, od.atomic_label, selected=True,
                 atomic_detail=True),
    )


def quantities_for(model_type, output_def=None):
    """The quantities a model of ``model_type`` predicts, in report order; a ``tensor`` model's
    follow from its ``output_def`` (see ``tensor_quantities``)."""
    from dptensor.errors import ModelFileError

    if model_type == "tensor":
        if output_def is None:
            raise ModelFileError("a tensor model's quantities need its output definition")
        return tensor_quantities(output_def)
    if model_type not in QUANTITIES:
        raise ModelFileError(f"dpt test does not know the model type {model_type!r} "
                             f"(known: {', '.join([*QUANTITIES, 'tensor'])})")
    return QUANTITIES[model_type]


def label_names(quantities):
    """The distinct data labels of ``quantities``, in order (for messages)."""
    return list(dict.fromkeys(q.label for q in quantities))
