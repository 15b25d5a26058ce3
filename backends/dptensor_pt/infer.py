"""Evaluation of PyTorch model files (frozen TorchScript or checkpoint) for ``DeepModel``."""

import numpy as np
import torch

from dptensor.data import keys
from dptensor.infer.deep_model import evaluate_frames
from dptensor_pt.model import TorchModel


class _Base:
    def _setup(self, model):
        self.ref = model
        self.type_map, self.model_type = model.type_map, model.model_type
        self.sel_type, self.rcut, self.sel = model.sel_type, model.rcut, model.sel
        self.has_hessian = bool(model.meta.get("hessian"))
        self.hessian_available = True  # DeepModel refuses a Hessian when False

    def evaluate(self, coord, box, atype, atomic=False, hessian=False):
        def run(*arrays):
            args = [torch.from_numpy(np.array(x, copy=True)) for x in arrays]
            return {k: v.detach().cpu().numpy() for k, v in self._run(*args, hessian=hessian).items()}

        return evaluate_frames(self.ref, run, coord, box, atype, atomic)


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
        if self.script is not None:  # the flags as frozen (files before hessian_available had the graph)
            self.has_hessian = bool(self.script.has_hessian)
            self.hessian_available = bool(getattr(self.script, "hessian_available", True))

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
