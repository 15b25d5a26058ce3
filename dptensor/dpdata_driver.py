"""A dpdata driver: label dpdata systems with a dptensor energy model.

    import dpdata
    labeled = dpdata.System("POSCAR", fmt="vasp/poscar").predict("model.pth", driver="dpt")
    labeled.to("deepmd/npy", "labeled_system")

dpdata loads this module through the ``dpdata.plugins`` entry point that dptensor installs, so
``driver="dpt"`` works without importing dptensor first. Keep this module light: dpdata imports it
while dpdata itself is still being imported (hence no ``import dpdata`` at the top level).
"""

import numpy as np
from dpdata.driver import Driver

from dptensor.errors import DataError

DRIVER_NAME = "dpt"


def model_types_of(atom_names, atom_types, type_map):
    """dpdata's type indices (nat, into ``atom_names``) -> indices into the model's type_map.

    Names that no atom uses may be missing from type_map (dpdata keeps every name it ever saw);
    a used name the model does not know is a DataError naming it."""
    atom_types = np.asarray(atom_types, dtype=np.int64)
    used = sorted({str(atom_names[t]) for t in np.unique(atom_types)})
    unknown = [n for n in used if n not in type_map]
    if unknown:
        raise DataError(f"element(s) {unknown} of the system are not in the model's type_map "
                        f"{list(type_map)}; the model cannot label them")
    lookup = np.array([list(type_map).index(n) if n in type_map else -1 for n in atom_names])
    return lookup[atom_types]


@Driver.register(DRIVER_NAME)
class DPTDriver(Driver):
    """Labels frames with energies (eV), forces (eV/A) and, for periodic frames, virials (eV).

    model: a model file any dptensor backend reads (``.pth``, ``.pt``, ``.savedmodel``,
    ``.tfckpt``, ``.dpt``) or a loaded ``dptensor.infer.DeepModel``; it must be an energy model.
    """

    def __init__(self, model):
        if not hasattr(model, "evaluate"):
            from dptensor.infer import DeepModel

            model = DeepModel(model)
        if model.model_type != "ener":
            raise DataError(f"{getattr(model, 'path', model)}: the dpt driver labels energies "
                            f"and forces, which a {model.model_type} model does not predict")
        self.model = model

    def label(self, data):
        """dpdata's system dict -> a copy with ``energies`` (nf), ``forces`` (nf x nat x 3) and,
        unless ``nopbc``, ``virials`` (nf x 3 x 3) from the model."""
        atype = model_types_of(list(data["atom_names"]), data["atom_types"], self.model.type_map)
        coord = np.asarray(data["coords"], dtype=np.float64)
        nopbc = bool(data.get("nopbc", False))
        box = None if nopbc else np.asarray(data["cells"], dtype=np.float64)
        out = self.model.evaluate(coord, box, atype)
        labeled = dict(data)
        labeled["energies"] = np.asarray(out["energy"], dtype=np.float64).reshape(len(coord))
        labeled["forces"] = np.asarray(out["force"], dtype=np.float64).reshape(coord.shape)
        if not nopbc:
            labeled["virials"] = np.asarray(out["virial"], dtype=np.float64).reshape(-1, 3, 3)
        return labeled


__all__ = ["DRIVER_NAME", "DPTDriver", "model_types_of"]
