"""The reference model's variables as torch parameters, and autograd derivatives.

Forces and virial follow from the output definition (``r_differentiable``,
``c_differentiable``):

    F_i = -dE/dx_i,   W = -(dE/d eps)^T  (eps: a homogeneous strain x -> x (1 + eps), applied to
    coordinates and periodic shifts).

The Hessian H = d^2E / dx dx is the reference's own written-out one (``Model.hessian``).

Forces and virial take one autograd pass to G = dE/dR (R the environment matrix) and contract it
with dR/dr_ij written out in ``env_mat.env_mat_deriv``; training on forces then differentiates
through the networks only, not through the element-wise environment-matrix code.
"""

import numpy as np
import torch

from dptensor.data import keys
from dptensor.model import Model
from dptensor.model.env_mat import forces_from_env_grad, neighbor_vectors
from dptensor.model.pytree import flatten, unflatten
from dptensor_pt.ops import torch_ops


def _key(path):
    return path.replace("/", "__")


class TorchModel(torch.nn.Module):
    """Holds ``model.variables`` as parameters (network weights) and buffers (statistics)."""

    def __init__(self, model: Model):
        super().__init__()
        self.ref = model
        self._template = model.variables
        self._paths = list(flatten(self._template))
        for path, value in flatten(self._template).items():
            t = torch.as_tensor(np.asarray(value))
            if model.is_trained(path):
                self.register_parameter(_key(path), torch.nn.Parameter(t))
            else:
                self.register_buffer(_key(path), t)

    def variables(self):
        """The pytree of current tensors (same nesting as the reference's variables)."""
        return unflatten({p: getattr(self, _key(p)) for p in self._paths}, self._template)

    def to_reference(self):
        """A reference Model (numpy) carrying the current weights."""
        flat = {p: getattr(self, _key(p)).detach().cpu().numpy().copy() for p in self._paths}
        model = Model.deserialize(self.ref.serialize())
        model.set_variables(unflatten(flat, self._template))
        return model

    def load_reference_variables(self, model: Model):
        with torch.no_grad():
            for p, value in flatten(model.variables).items():
                getattr(self, _key(p)).copy_(torch.as_tensor(np.asarray(value)))

    # forward -----------------------------------------------------------------------------
    def atomic(self, coord, atype, nlist, shift, centers=None, groups=None, mirror=None, widths=None):
        return self.ref.call_atomic(torch_ops, self.variables(), coord, atype, nlist, shift, centers, groups,
                                    mirror, widths)

    def forward(self, coord, atype, nlist, shift, derivatives=True, hessian=False, create_graph=False,
                centers=None, groups=None, mirror=None, widths=None):
        """Predictions (keys.P_*) for a batch; coord nf x nat x 3 float64 etc.

        With ``derivatives`` and an r-differentiable output, adds force and virial; with
        ``hessian`` also the Hessian (nf x 3nat x 3nat). ``create_graph`` keeps the graph of
        the derivatives for training on them. ``centers``: see ``Model.call_atomic`` (tensor
        outputs only); ``groups``: see ``Model.type_groups``; ``mirror`` and ``widths``: see
        ``Model.call_atomic``."""
        od = self.ref.output_def
        if not (derivatives and od.r_differentiable):
            atomic = self.atomic(coord, atype, nlist, shift, centers, groups, mirror, widths)
            return self.ref.reduce(torch_ops, atomic)
        coord = coord.detach()
        descriptor = self.ref.descriptor
        rij, mask = neighbor_vectors(torch_ops, coord, nlist, shift)
        em, deriv = descriptor.env_mat_deriv(torch_ops, rij, mask)
        em = em.requires_grad_(True)
        out = self.ref.reduce(torch_ops, self.ref.call_atomic_env(torch_ops, self.variables(), em, atype,
                                                                  groups, mask, mirror, widths))
        (grad_em,) = torch.autograd.grad(out[od.name].sum(), [em], create_graph=create_graph)
        out[keys.P_FORCE], out[keys.P_VIRIAL] = forces_from_env_grad(
            torch_ops, grad_em, deriv, rij, nlist, coord.shape[1])
        if hessian:
            out[keys.P_HESSIAN] = self.hessian(coord.detach(), atype, nlist, shift, groups, widths)
        return out

    def hessian(self, coord, atype, nlist, shift, groups=None, widths=None):
        """d2E/dx2 per frame, nf x 3nat x 3nat: the reference's written-out Hessian
        (``dptensor.model.hessian``) on torch tensors; training differentiates it once more for
        the weights' gradient."""
        return self.ref.hessian(torch_ops, self.variables(), coord.detach(), atype, nlist, shift, groups, widths)
