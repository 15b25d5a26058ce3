"""What every fitting shares: one fitting net per atom type, applied to the descriptor of each atom.

For atom i of type t_i, out_i = N_{t_i}(D_i). Types whose output is switched off (outside
``sel_type``) get no net evaluation at all and contribute exact zeros.
"""

import abc

import numpy as np

from dptensor.model.serial import Serializable
from dptensor.model.network import Network
from dptensor.model.packing import pack_rows
from dptensor.model.ops import numpy_ops


class TypedFitting(Serializable, abc.ABC):
    """Base class. Subclasses set ``fitting_type``, ``output_def``, ``out_dim`` and ``call``."""

    fitting_type = ""
    output_def = None
    serial_class = "Fitting"

    def serial_type(self):
        return self.fitting_type

    def __init__(self, ntypes, dim_descrpt, dim_emb, neuron=(120, 120, 120), resnet_dt=True,
                 activation_function="tanh", precision="float64", seed=None, trainable=True,
                 sel_type=None, variables=None):
        self.ntypes, self.dim_descrpt, self.dim_emb = int(ntypes), int(dim_descrpt), int(dim_emb)
        self.neuron = [int(n) for n in neuron]
        self.resnet_dt, self.activation_function = bool(resnet_dt), activation_function
        self.precision, self.seed, self.trainable = precision, seed, bool(trainable)
        self.sel_type = sorted(range(self.ntypes) if sel_type is None else {int(t) for t in sel_type})
        self.nets = [Network(self.dim_descrpt, self.neuron, self.out_dim, activation_function, resnet_dt,
                             precision, seed=seed, stream=(2, t)) for t in range(self.ntypes)]
        if variables is None:
            variables = {"nets": [net.variables for net in self.nets], **self.extra_variables()}
        self.variables = variables
        for net, nv in zip(self.nets, variables["nets"]):
            net.variables = nv

    @property
    @abc.abstractmethod
    def out_dim(self):
        """Width of each type's net output."""

    @abc.abstractmethod
    def call(self, ops, v, descriptor, rot_mat, atype, groups=None):
        """Atomic outputs {output_def.atomic_name: nf x nloc x shape} from the descriptor."""

    def extra_variables(self):
        """Per-type statistics beyond the nets (bias, shift); arrays."""
        return {}

    def typed_output(self, ops, v, descriptor, atype, groups=None):
        """N_{t_i}(D_i) for selected types, zero for the others: nf x nloc x out_dim.

        Each net runs on its own type's atoms only. ``groups`` (optional, from ``type_groups``):
        per type, the positions of its atoms, the same in every frame, known before the call
        (training batches); without it the atoms are found from ``atype`` at run time (frozen
        models, inference), see ``_gathered_output``."""
        if groups is not None:
            return self._grouped_output(ops, v, descriptor, groups)
        return self._gathered_output(ops, v, descriptor, atype)

    def _gathered_output(self, ops, v, descriptor, atype):
        """``typed_output`` with the atoms of each type picked out of all frames at run time:
        each net takes its atoms' rows plus two zero rows (which keep every input at two rows or
        more, as symbolic tracing for ``dpt freeze`` needs; their outputs are never read), and
        every atom then reads its row, or a zero row for types outside ``sel_type``."""
        nf, nloc, dim = ops.shape(descriptor)
        dtype = ops.dtype_of(descriptor)
        flat = ops.reshape(descriptor, (-1, dim))
        types = ops.reshape(ops.astype(atype, ops.index_dtype), (-1,))
        members = [types == t for t in self.sel_type]
        positions, index, _, total = pack_rows(ops, members, [2] * len(members))
        pad = ops.zeros((2, dim), dtype)
        outputs = [self.nets[t].call(ops, v["nets"][t], ops.concat([ops.take(flat, pos), pad], axis=0))
                   for t, pos in zip(self.sel_type, positions)]
        outputs.append(ops.zeros((1, self.out_dim), dtype))  # read by the atoms outside sel_type
        chosen = types < 0
        for member in members:
            chosen = chosen | member
        index = ops.where(chosen, index, 0 * types + total) if members else 0 * types
        out = ops.take(ops.concat(outputs, axis=0), index, axis=0)
        return ops.reshape(out, (nf, nloc, self.out_dim))

    def _grouped_output(self, ops, v, descriptor, groups):
        """The descriptor's atoms are put in type order (no copy when they already are: sorted
        types, or a batch of centers all of one type) and split into one block per type; the
        nets' outputs are joined and put back in atom order. One gather and one split, whose
        gradients are one scatter and one concatenation, instead of a slice or gather per type
        (each of which fills a zero gradient of the whole descriptor, under every Hessian
        tangent too)."""
        nf, nloc, _ = ops.shape(descriptor)
        chosen = [t for t in self.sel_type if groups[t].size]
        order = np.concatenate([groups[t] for t in chosen]) if chosen else np.zeros(0, np.int64)
        in_order = order.size == nloc and (order == np.arange(nloc)).all()
        x = descriptor if in_order else ops.take(descriptor, order, axis=1)
        inputs = ops.split(x, [groups[t].size for t in chosen], axis=1) if chosen else []
        parts = [self.nets[t].call(ops, v["nets"][t], x) for t, x in zip(chosen, inputs)]
        if in_order:
            return parts[0] if len(parts) == 1 else ops.concat(parts, axis=1)
        parts.append(ops.zeros((nf, 1, self.out_dim), ops.dtype_of(descriptor)))  # for unselected atoms
        inverse = np.full(nloc, order.size, dtype=np.int64)
        inverse[order] = np.arange(order.size)
        return ops.take(ops.concat(parts, axis=1), inverse, axis=1)

    def __call__(self, descriptor, rot_mat, atype):
        return self.call(numpy_ops, self.variables, descriptor, rot_mat, atype)

    def compute_stats(self, batches):
        """Set output statistics from training batches (numpy). Default: none."""

    # serialization -----------------------------------------------------------------------
    def config(self):
        return {"ntypes": self.ntypes, "dim_descrpt": self.dim_descrpt, "dim_emb": self.dim_emb,
                "neuron": list(self.neuron), "resnet_dt": self.resnet_dt,
                "activation_function": self.activation_function, "precision": self.precision,
                "seed": self.seed, "trainable": self.trainable, "sel_type": list(self.sel_type)}


def rotated_symmetric(ops, out, rot_mat, diag):
    """G^T S G per atom (nf x nloc x 3 x 3) for rot_mat G (nf x nloc x M1 x 3): S = diag(out)
    when ``diag`` (out nf x nloc x M1), else S = B + B^T with B the M1 x M1 matrix of out (nf x
    nloc x M1^2). Computed as G^T B G plus its transpose, two batched products: no M1 x M1
    transpose, and no three-operand einsum (TensorFlow runs those through its slower Einsum
    kernel)."""
    if diag:
        return ops.einsum("flmi,flmj->flij", rot_mat * out[..., None], rot_mat)
    nf, nloc = ops.shape(out)[:2]
    m1 = ops.shape(rot_mat)[2]
    b = ops.reshape(out, (nf, nloc, m1, m1))
    gb = ops.einsum("flmi,flmn->flin", rot_mat, b)  # G^T B, nf x nloc x 3 x M1
    s = ops.einsum("flin,flnj->flij", gb, rot_mat)
    return s + ops.transpose(s, (0, 1, 3, 2))
