"""One training run on PyTorch: the optimizer step and evaluation behind ``TrainingLoop``."""

import numpy as np
import torch

from dptensor.data import keys
from dptensor.data.trim import trim_blocks
from dptensor.model import Model
from dptensor_pt.model import TorchModel
from dptensor_pt.ops import torch_ops
from dptensor_pt.serialization import model_to_torch_dict

# batch entries that are not arrays
_META = ("system", "natoms", "nsel")


def to_tensors(batch):
    """numpy batch -> torch tensors (float64 and int64 as stored); metadata stays as is."""
    out = {"atype_np": batch["atype"]}
    for k, v in batch.items():
        out[k] = v if k in _META or not isinstance(v, np.ndarray) else torch.from_numpy(np.ascontiguousarray(v))
    return out


class TorchSession:
    def __init__(self, model: Model, loss, config, optimizer_state=None):
        self.full_config = config
        training_config = config["training"]
        seed = training_config.get("seed")
        if seed is not None:
            torch.manual_seed(int(seed))
        self.module = TorchModel(model)
        self.loss = loss
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        # fused: one kernel over all parameters; the default per-tensor loop took 10 of the 44 ms
        # of a polar example step (2 ms fused)
        self.optimizer = torch.optim.Adam(self.params, lr=1e-3, fused=True)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.grad_max_norm = training_config.get("gradient_max_norm")
        # same-type pairs share one embedding evaluation (a sixth less time on a water energy step)
        self.mirror = model.mirror_valid()

    def predict(self, tb, create_graph):
        groups = Model.type_groups(tb["atype_np"], self.module.ref.ntypes)
        wants_derivs = self.loss.kind == "ener"
        hessian = self.loss.needs_hessian and "hessian" in tb
        return self.module(tb["coord"], tb["atype"], tb["nlist"], tb["shift"], derivatives=wants_derivs,
                           hessian=hessian, create_graph=create_graph, centers=tb.get(keys.CENTERS),
                           groups=groups, mirror=tb.get(keys.MIRROR) if self.mirror else None,
                           widths=tb.get(keys.WIDTHS))

    def tensors(self, batch):
        """The batch as tensors, its neighbor lists cut to the widths it uses (a quarter of the
        per-slot work of a water energy step; see ``dptensor.data.trim``)."""
        return to_tensors(trim_blocks(batch, self.module.ref.sel))

    def train_step(self, batch, lr):
        tb = self.tensors(batch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        pred = self.predict(tb, create_graph=True)
        loss, parts = self.loss.compute(torch_ops, pred, tb, lr)
        if loss is not None:
            # the gradient of the parameters only: loss.backward() would also carry it on to the
            # environment matrix, the leaf that the forces were taken against
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            for p, g in zip(self.params, grads):
                p.grad = g
            if self.grad_max_norm:
                torch.nn.utils.clip_grad_norm_(self.params, float(self.grad_max_norm))
            self.optimizer.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    def evaluate(self, batch, lr):
        tb = self.tensors(batch)
        pred = self.predict(tb, create_graph=False)
        _, parts = self.loss.compute(torch_ops, {k: v.detach() for k, v in pred.items()}, tb, lr)
        return {k: float(v) for k, v in parts.items()}

    def reference_model(self):
        return self.module.to_reference()

    def save_checkpoint(self, path, step, model=None):
        model = self.reference_model() if model is None else model
        torch.save({"format": "dptensor-pt-checkpoint", "version": 1, "step": int(step),
                    "model": model_to_torch_dict(model),
                    "optimizer": self.optimizer.state_dict(), "config": self.full_config}, path)
