"""The reference model's variables as ``tf.Variable``, and tape derivatives.

Forces, virial and Hessian follow from the output definition (``r_differentiable``), with the
same conventions as every backend:

    F_i = -dE/dx_i,   W = -(dE/d eps)^T  (eps: a homogeneous strain x -> x + x eps, applied to the
    coordinates and to the periodic shifts),   H = d^2E / dx dx  (nf x 3nat x 3nat, atom-major;
    the reference's written-out Hessian, ``Model.hessian``).

Forces and virial take one tape gradient to G = dE/dR (R the environment matrix) and contract it
with dR/dr_ij written out in ``env_mat.env_mat_deriv``, as the PyTorch backend does.

Derivatives for training. TensorFlow records whatever runs under an active tape, including the
gradient computations of inner tapes, so forces computed here inside the trainer's tape are
differentiable with respect to the weights without any ``create_graph`` flag.
"""

import numpy as np

from dptensor.data import keys
from dptensor.model import Model
from dptensor.model.env_mat import forces_from_env_grad, neighbor_vectors
from dptensor.model.pytree import flatten, unflatten
from dptensor_tf.env import tf
from dptensor_tf.ops import tf_ops

INDEX_DTYPE = tf.int64


def _key(path):
    return path.replace("/", "__")


def as_inputs(coord, atype, nlist, shift):
    """Tensors of the forward's inputs: coord, shift float64; atype, nlist int64 (a batch may
    hold narrower ints, which ``tf.gather`` does not take)."""
    coord = tf.convert_to_tensor(coord, dtype=tf.float64)
    shift = tf.convert_to_tensor(shift, dtype=tf.float64)
    atype = tf.cast(tf.convert_to_tensor(atype), INDEX_DTYPE)
    nlist = tf.cast(tf.convert_to_tensor(nlist), INDEX_DTYPE)
    return coord, atype, nlist, shift


def _index(x):
    """An optional integer input (``mirror``) as an int64 tensor; None stays None."""
    return None if x is None else tf.cast(tf.convert_to_tensor(x), INDEX_DTYPE)


class TFModel(tf.Module):
    """Holds ``model.variables``: network weights as trainable ``tf.Variable`` (unless the
    descriptor is frozen with ``trainable: false``), statistics as non-trainable ones."""

    def __init__(self, model: Model, trainable=True, name=None, ops=tf_ops):
        super().__init__(name=name)
        self.ref = model
        self.ops = ops  # tf_ops, or the training session's ``training_ops()``
        self._template = model.variables
        self._paths = list(flatten(self._template))
        self.vars = {}
        self.trainable_paths = []
        for path, value in flatten(self._template).items():
            train = trainable and model.is_trained(path)
            self.vars[_key(path)] = tf.Variable(np.asarray(value), trainable=train, name=_key(path))
            if train:
                self.trainable_paths.append(path)

    @property
    def trainable_list(self):
        """The trainable variables, in path order."""
        return [self.vars[_key(p)] for p in self.trainable_paths]

    def variable(self, path):
        return self.vars[_key(path)]

    def variables_tree(self):
        """The pytree of current values (same nesting as the reference's variables)."""
        return unflatten({p: tf.convert_to_tensor(self.vars[_key(p)]) for p in self._paths},
                         self._template)

    def to_reference(self):
        """A reference Model (numpy) carrying the current weights."""
        flat = {p: self.vars[_key(p)].numpy().copy() for p in self._paths}
        model = Model.deserialize(self.ref.serialize())
        model.set_variables(unflatten(flat, self._template))
        return model

    def load_reference_variables(self, model: Model):
        for p, value in flatten(model.variables).items():
            self.vars[_key(p)].assign(np.asarray(value))

    # forward -----------------------------------------------------------------------------
    def atomic(self, coord, atype, nlist, shift, centers=None, groups=None, mirror=None, widths=None):
        if centers is not None:
            centers = tf.cast(tf.convert_to_tensor(centers), INDEX_DTYPE)
        return self.ref.call_atomic(self.ops, self.variables_tree(), coord, atype, nlist, shift, centers,
                                    groups, _index(mirror), widths)

    def __call__(self, coord, atype, nlist, shift, derivatives=True, hessian=False, centers=None,
                 create_graph=None, groups=None, mirror=None, widths=None):
        """Predictions (keys.P_*) for a batch; coord nf x nat x 3 float64, atype nf x nat,
        nlist nf x nat x nnei (-1 empty), shift nf x nat x nnei x 3 (numpy or tensors).

        With ``derivatives`` and an r-differentiable output, adds force and virial; with
        ``hessian`` also the Hessian (nf x 3nat x 3nat). ``centers``: see
        ``Model.call_atomic`` (tensor outputs only); ``groups``: see ``Model.type_groups``
        (numpy, fixed in a trace); ``mirror`` and ``widths``: see ``Model.call_atomic``. ``create_graph`` is
        accepted for the PyTorch signature and not needed (see the module docstring)."""
        coord, atype, nlist, shift = as_inputs(coord, atype, nlist, shift)
        od = self.ref.output_def
        if not (derivatives and od.r_differentiable):
            atomic = self.atomic(coord, atype, nlist, shift, centers, groups, mirror, widths)
            return self.ref.reduce(self.ops, atomic)
        rij, mask = neighbor_vectors(self.ops, coord, nlist, shift)
        em, deriv = self.ref.descriptor.env_mat_deriv(self.ops, rij, mask)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(em)
            out = self.ref.reduce(self.ops, self.ref.call_atomic_env(self.ops, self.variables_tree(), em, atype,
                                                                   groups, mask, _index(mirror), widths))
            total = tf.reduce_sum(out[od.name])
        grad_em = tape.gradient(total, em)
        out[keys.P_FORCE], out[keys.P_VIRIAL] = forces_from_env_grad(
            self.ops, grad_em, deriv, rij, nlist, self.ops.shape(coord)[1])
        if hessian:
            out[keys.P_HESSIAN] = self.hessian(coord, atype, nlist, shift, groups, widths)
        return out

    forward = __call__

    # Hessian -----------------------------------------------------------------------------
    def hessian(self, coord, atype, nlist, shift, groups=None, widths=None):
        """d2E/dx2 per frame, nf x 3nat x 3nat: the reference's written-out Hessian
        (``dptensor.model.hessian``) on tensors; under the trainer's tape it is differentiable
        with respect to the weights. Works with unknown sizes (a SavedModel) too."""
        return self.ref.hessian(self.ops, self.variables_tree(), coord, atype, nlist, shift, groups, widths)
