"""Evaluation of PyTorch model files (frozen TorchScript or checkpoint) for ``DeepModel``."""

import numpy as np
import torch

from dptensor.data import keys
from dptensor.infer.deep_model import neighbor_inputs
from dptensor_pt.model import TorchModel

CHUNK_ATOMS = 20000  # frames are evaluated in chunks of about this many atoms, to bound memory


def _chunks(nf, nat):
    step = max(1, CHUNK_ATOMS // max(nat, 1))
    return [slice(i, min(i + step, nf)) for i in range(0, nf, step)]


class _Base:
    def _setup(self, model):
        self.ref = model
        self.type_map, self.model_type = model.type_map, model.model_type
        self.sel_type, self.rcut, self.sel = model.sel_type, model.rcut, model.sel
        self.has_hessian = bool(model.meta.get("hessian"))

    def evaluate(self, coord, box, atype, atomic=False, hessian=False):
        parts = []
        for sl in _chunks(*coord.shape[:2]):
            b = None if box is None else box[sl]
            nlist, shift = neighbor_inputs(coord[sl], b, atype[sl], self.rcut, self.sel)
            args = [torch.from_numpy(np.array(x, copy=True)) for x in (coord[sl], atype[sl], nlist, shift)]
            out = self._run(*args, hessian=hessian)
            parts.append({k: v.detach().cpu().numpy() for k, v in out.items()})
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if not atomic:
            od = self.ref.output_def
            out.pop(od.atomic_name, None)
        return out


class TorchEvaluator(_Base):
    """A ``.pth`` frozen model (TorchScript) or a ``.pt`` checkpoint."""

    def __init__(self, path):
        if str(path).endswith(".pth"):
            from dptensor_pt.freeze import load_frozen

            self.script, model = load_frozen(path)
        else:
            from dptensor_pt.backend import PyTorchBackend

            model = PyTorchBackend().read_checkpoint(path)["model"]
            self.script = None
        self._setup(model)
        self.module = TorchModel(model) if self.script is None else None

    def _run(self, coord, atype, nlist, shift, hessian):
        if self.script is not None:
            # TorchScript's optimizing executor re-profiles every new shape (seconds per call for
            # the Hessian); the graph is already fused by tracing, so run it as it is.
            with torch.jit.optimized_execution(False):
                return self.script(coord, atype, nlist, shift, True, bool(hessian))
        return self.module(coord, atype, nlist, shift, derivatives=True, hessian=hessian)


class ModelEvaluator(_Base):
    """A reference Model held in memory (e.g. read from a ``.dpt`` file)."""

    def __init__(self, model):
        self._setup(model)
        self.module = TorchModel(model)

    def _run(self, coord, atype, nlist, shift, hessian):
        return self.module(coord, atype, nlist, shift, derivatives=True, hessian=hessian)


__all__ = ["TorchEvaluator", "ModelEvaluator", "keys"]
