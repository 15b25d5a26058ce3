"""``DeepModel``: one Python API over every backend's model files.

    dm = DeepModel("frozen_model.pth")
    out = dm.evaluate(coord, box, atype, atomic=True)   # dict of numpy arrays (keys.P_*)

coord: nf x nat x 3 (or nat x 3, nf x 3nat), box: nf x 3 x 3 / nf x 9 / None (non-periodic), atype:
nat or nf x nat indices into ``dm.type_map``; ``dptensor.infer.inputs`` checks them.
"""

import os

import numpy as np

from dptensor.backend.registry import available_backends, backend_for_file, get_backend
from dptensor.data.neighbor import build_nlist, shift_from_image
from dptensor.errors import DptError, ModelFileError
from dptensor.infer.inputs import frame_inputs


def neighbor_inputs(coord, box, atype, rcut, sel, centers=None):
    """nlist and shift for frames (numpy), as every backend's evaluator consumes them; with
    ``centers`` (sorted atom indices), for those atoms only."""
    nlist, image = build_nlist(coord, box, atype, rcut, sel, centers)[:2]
    return nlist, shift_from_image(image, box)


# Frames are evaluated in chunks of about this many atoms (at least one frame). Small chunks keep the
# per-neighbor tensors in cache: one 192-atom water frame at a time runs 1.4x faster than 100 frames
# at once on this CPU (and bounds memory).
CHUNK_ATOMS = 256


def evaluate_frames(model, run, coord, box, atype, atomic=False, chunk_atoms=CHUNK_ATOMS):
    """The evaluation loop every backend shares: frames in chunks, neighbor lists, and
    ``run(coord, atype, nlist, shift) -> {key: numpy}`` on each chunk.

    A dipole or polar model only evaluates its atoms of ``sel_type`` (the others' atomic
    outputs are exact zeros): they are moved to the front, the neighbor lists are built for
    them alone, and the atomic output is put back on every atom."""
    nf, nat = coord.shape[:2]
    step = max(1, chunk_atoms // max(nat, 1))
    parts = []
    for start in range(0, nf, step):
        sl = slice(start, min(nf, start + step))
        c, b, t = coord[sl], None if box is None else box[sl], atype[sl]
        centers = None if model.output_def.r_differentiable else model.center_index(t)
        if centers is None:
            nlist, shift = neighbor_inputs(c, b, t, model.rcut, model.sel)
            parts.append(run(c, t, nlist, shift))
            continue
        order = np.concatenate([centers[0], np.setdiff1d(np.arange(nat), centers[0])])
        c, t, nc = c[:, order], t[:, order], centers.shape[1]
        nlist, shift = neighbor_inputs(c, b, t, model.rcut, model.sel, centers=np.arange(nc))
        out = run(c, t[:, :nc], nlist, shift)
        name = model.output_def.atomic_name
        full = np.zeros((out[name].shape[0], nat, *out[name].shape[2:]), out[name].dtype)
        full[:, centers[0]] = out[name]
        parts.append({**out, name: full})
    if not parts:
        parts.append(run(coord, atype, *neighbor_inputs(coord, box, atype, model.rcut, model.sel)))
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if not atomic:
        out.pop(model.output_def.atomic_name, None)
    return out


class DeepModel:
    def __init__(self, path):
        path = str(path)
        if not os.path.exists(path):
            raise ModelFileError(f"{path}: no such model file")
        self.path = path
        if path.endswith(".dpt"):
            self._impl = _dpt_evaluator(path)
        else:
            self._impl = backend_for_file(path).evaluator(path)

    @property
    def type_map(self):
        return list(self._impl.type_map)

    @property
    def model_type(self):
        return self._impl.model_type

    @property
    def sel_type(self):
        return list(self._impl.sel_type)

    @property
    def rcut(self):
        return self._impl.rcut

    @property
    def output_def(self):
        """The model's declared output (``dptensor.model.output_def.OutputDef``): ``name`` and
        ``atomic_name`` are the keys of ``evaluate``'s global and atomic predictions."""
        return self._impl.ref.output_def

    @property
    def has_hessian(self):
        return bool(getattr(self._impl, "has_hessian", False))

    def evaluate(self, coord, box, atype, atomic=False, hessian=False):
        coord, box, atype = frame_inputs(coord, box, atype, self.rcut)
        if atype.size and (atype.min() < 0 or atype.max() >= len(self.type_map)):
            raise DptError(f"atom types must be in [0, {len(self.type_map)}) for type_map {self.type_map}")
        if hessian and self.model_type != "ener":
            raise DptError(f"{self.path}: a {self.model_type} model has no Hessian")
        if hessian and not getattr(self._impl, "hessian_available", True):
            raise DptError(f"{self.path}: this model was frozen without its Hessian (dpt freeze --no-hessian)")
        return self._impl.evaluate(coord, box, atype, atomic=atomic, hessian=hessian)


def _dpt_evaluator(path):
    """A .dpt file runs on the first installed backend (pt preferred)."""
    from dptensor.io import load_dpt
    from dptensor.model import Model

    model = Model.deserialize(load_dpt(path))
    names = available_backends()
    if not names:
        raise DptError("evaluating a .dpt file needs a backend: pip install 'dptensor[torch]'")
    backend = get_backend("pt" if "pt" in names else names[0])
    return backend.model_evaluator(model)
