"""``DPTCalculator``: any model file that ``DeepModel`` loads, as an ASE calculator.

    from dptensor.calculator import DPTCalculator
    atoms.calc = DPTCalculator("frozen_model.pth")
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

What a model gives depends on its type (``implemented_properties``):

    ener    energy, free_energy (eV), forces (nat x 3, eV/A), stress (Voigt 6, eV/A^3, periodic
            cells only), energies (nat, atom energies), hessian (3nat x 3nat, eV/A^2, rows and
            columns atom-major: x0 y0 z0 x1 ...)
    dipole  dipole (3; ``atoms.get_dipole_moment()``), atomic_dipole (nat x 3)
    polar   polarizability (3 x 3), atomic_polarizability (nat x 3 x 3)

The atomic outputs and the Hessian cost extra and are computed on request: ask for them by name
(``calc.get_property("hessian", atoms)``) or pass ``atomic=True`` / ``hessian=True`` to have them
in ``calc.results`` after every calculation. Tensors carry the unit of the training data (ASE
reads a dipole as e*A). Rows of atomic tensors for atoms outside the model's ``sel_type`` are 0.
"""

import numpy as np
from ase.calculators.calculator import (
    Calculator,
    PropertyNotImplementedError,
    all_changes,
)
from ase.stress import full_3x3_to_voigt_6_stress

from dptensor.data import keys
from dptensor.errors import DataError

# model type -> {ASE result name: (prediction key, atomic output?)}
_OUTPUTS = {
    "ener": {"energy": (keys.P_ENERGY, False), "free_energy": (keys.P_ENERGY, False),
             "forces": (keys.P_FORCE, False), "stress": (keys.P_VIRIAL, False),
             "energies": (keys.P_ATOM_ENERGY, True), "hessian": (keys.P_HESSIAN, False)},
    "dipole": {"dipole": (keys.P_DIPOLE, False), "atomic_dipole": (keys.P_ATOMIC_DIPOLE, True)},
    "polar": {"polarizability": (keys.P_POLAR, False),
              "atomic_polarizability": (keys.P_ATOMIC_POLAR, True)},
}


def outputs_for(model):
    """ASE result name -> (prediction key, per atom?) for a model; None for an unknown type.
    A general tensor model's results are named after its label: "<label>", "atomic_<label>"."""
    od = getattr(model, "output_def", None)
    if model.model_type == "tensor" and od is not None:
        return {od.name: (od.name, False), od.atomic_name: (od.atomic_name, True)}
    return _OUTPUTS.get(model.model_type)


def atom_types(symbols, type_map):
    """Chemical symbols (nat) -> indices into ``type_map`` (nat, int64); DataError names every
    element the model does not know."""
    index = {name: i for i, name in enumerate(type_map)}
    unknown = sorted({s for s in symbols if s not in index})
    if unknown:
        raise DataError(f"element(s) {unknown} of the atoms are not in the model's type_map "
                        f"{list(type_map)}; the model cannot evaluate them")
    return np.array([index[s] for s in symbols], dtype=np.int64)


def cell_of(atoms):
    """The box (3 x 3, rows are cell vectors) of fully periodic atoms, None of non-periodic ones.

    The models know periodic images in all three directions or none, so mixed ``pbc`` is a
    DataError rather than a silent choice."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any():
        return None
    if not pbc.all():
        raise DataError(f"atoms with pbc={pbc.tolist()}: dptensor models are periodic in all "
                        "three directions or in none; set atoms.pbc = True or False")
    box = np.array(atoms.cell.array, dtype=np.float64)
    if abs(np.linalg.det(box)) < 1e-10:
        raise DataError(f"periodic atoms with a cell of zero volume {box.tolist()}; give the "
                        "cell (atoms.cell) or set atoms.pbc = False")
    return box


class DPTCalculator(Calculator):
    """ASE calculator of a dptensor model (any file ``dptensor.infer.DeepModel`` loads).

    model: a model file path or a loaded ``DeepModel``; atomic: always compute the atomic
    outputs (``energies`` / ``atomic_dipole`` / ``atomic_polarizability``); hessian: always
    compute the Hessian (energy models). Other keywords go to ``ase.calculators.Calculator``.
    """

    def __init__(self, model, atomic=False, hessian=False, **kwargs):
        super().__init__(**kwargs)
        if not hasattr(model, "evaluate"):  # a path (str or os.PathLike)
            from dptensor.infer import DeepModel

            model = DeepModel(model)
        self.model = model
        self.type_map = list(model.type_map)
        self.atomic, self.hessian = bool(atomic), bool(hessian)
        self.outputs = outputs_for(model)
        if self.outputs is None:
            raise DataError(f"{getattr(model, 'path', model)}: DPTCalculator does not know "
                            f"the model type {model.model_type!r}")
        if self.hessian and model.model_type != "ener":
            raise DataError(f"a {model.model_type} model has no Hessian")
        # an instance attribute: the properties depend on the model that was loaded
        self.implemented_properties = list(self.outputs)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Evaluate the model on ``atoms``; fill ``self.results`` with every cheap output of the
        model type, plus the atomic outputs and Hessian when asked for (see the module doc)."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        box = cell_of(atoms)
        atype = atom_types(atoms.get_chemical_symbols(), self.type_map)
        want_atomic = self.atomic or any(self.outputs[p][1] for p in properties if p in self.outputs)
        want_hessian = self.hessian or "hessian" in properties
        out = self.model.evaluate(atoms.positions[None], None if box is None else box[None],
                                  atype, atomic=want_atomic, hessian=want_hessian)
        results = {}
        for name, (key, _atomic) in self.outputs.items():
            if key in out:
                results[name] = np.array(out[key][0], dtype=np.float64)
        if "energy" in results:
            results["energy"] = results["free_energy"] = float(results["energy"])
        if "stress" in results:
            if box is None:
                # a non-periodic system has no cell volume, hence no stress
                del results["stress"]
            else:
                # stress = -virial / volume (eV/A^3), ASE's Voigt order xx yy zz yz xz xy
                volume = abs(np.linalg.det(box))
                results["stress"] = full_3x3_to_voigt_6_stress(-results["stress"] / volume)
        self.results.update(results)

    def get_hessian(self, atoms=None):
        """d2E/dx2 (3nat x 3nat, eV/A^2) of an energy model."""
        if "hessian" not in self.implemented_properties:
            raise PropertyNotImplementedError(f"a {self.model.model_type} model has no Hessian")
        return self.get_property("hessian", atoms)

    def get_polarizability(self, atoms=None):
        """The polarizability (3 x 3, the data's unit) of a polar model."""
        return self.get_property("polarizability", atoms)


__all__ = ["DPTCalculator", "atom_types", "cell_of"]
