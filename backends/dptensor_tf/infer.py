"""Evaluation of TensorFlow model files (SavedModel or checkpoint) for ``DeepModel``.

Every path runs the same graph functions (``FrozenModel.predict`` / ``hessian``): loaded from a
``.savedmodel``, or built in memory from a checkpoint or a reference Model. They take any frame
and atom count, so evaluating many systems traces once.
"""

import os

import numpy as np

from dptensor.data import keys
from dptensor.infer.deep_model import evaluate_frames
from dptensor_tf.env import tf
from dptensor_tf.freeze import FrozenModel, is_frozen_path, load_frozen, read_metadata


class _Base:
    def _setup(self, model, graph, has_hessian, hessian_available):
        self.ref, self.graph = model, graph
        self.type_map, self.model_type = model.type_map, model.model_type
        self.sel_type, self.rcut, self.sel = model.sel_type, model.rcut, model.sel
        self.has_hessian, self.hessian_available = bool(has_hessian), bool(hessian_available)

    def evaluate(self, coord, box, atype, atomic=False, hessian=False):
        def run(c, t, nlist, shift):
            args = [tf.convert_to_tensor(np.ascontiguousarray(x, dtype=dt))
                    for x, dt in ((c, np.float64), (t, np.int64), (nlist, np.int64), (shift, np.float64))]
            out = {k: v.numpy() for k, v in self.graph.predict(*args).items()}
            if hessian:
                out[keys.P_HESSIAN] = self.graph.hessian(*args).numpy()
            return out

        return evaluate_frames(self.ref, run, coord, box, atype, atomic)


class TFEvaluator(_Base):
    """A ``.savedmodel`` frozen model or a ``.tfckpt`` checkpoint."""

    def __init__(self, path):
        path = os.fspath(path)
        if is_frozen_path(path):
            loaded, model = load_frozen(path)
            info = read_metadata(loaded)
            self._setup(model, loaded, info["has_hessian"], info["hessian_available"])
        else:
            from dptensor_tf.serialization import read_checkpoint

            model = read_checkpoint(path)["model"]
            graph = FrozenModel(model)
            self._setup(model, graph, graph.has_hessian, graph.hessian_available)


class ModelEvaluator(_Base):
    """A reference Model held in memory (e.g. read from a ``.dpt`` file)."""

    def __init__(self, model):
        graph = FrozenModel(model)
        self._setup(model, graph, graph.has_hessian, graph.hessian_available)


__all__ = ["TFEvaluator", "ModelEvaluator"]
