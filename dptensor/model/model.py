"""A Deep Potential model: descriptor + fitting, with declared outputs.

``call_atomic`` is the whole forward math, written once against ``ops``; backends run it on their
own arrays and add derivatives. Predictions are float64 whatever the model's precision.
"""

import numpy as np

from dptensor.data import keys
from dptensor.errors import DptError
from dptensor.model.descriptor import DescrptSeA
from dptensor.model.fitting import FITTINGS
from dptensor.model.hessian import energy_hessian
from dptensor.model.ops import numpy_ops
from dptensor.model.pytree import SEP, is_trainable_path

MODEL_VERSION = 1
# keys of the components' config() that follow from others (type_map, the descriptor's shape)
DERIVED_KEYS = ("ntypes", "dim_descrpt", "dim_emb")


class Model:
    def __init__(self, type_map, descriptor, fitting, meta=None):
        self.type_map = list(type_map)
        self.descriptor = descriptor
        self.fitting = fitting
        self.meta = dict(meta or {})

    # structure ---------------------------------------------------------------------------
    @property
    def model_type(self):
        return self.fitting.fitting_type

    @property
    def output_def(self):
        return self.fitting.output_def

    @property
    def ntypes(self):
        return len(self.type_map)

    @property
    def rcut(self):
        return self.descriptor.rcut

    @property
    def sel(self):
        return self.descriptor.sel

    @property
    def sel_type(self):
        return list(self.fitting.sel_type)

    @property
    def precision(self):
        return self.descriptor.precision

    @property
    def variables(self):
        """The trainable and statistical arrays as one pytree (dicts and lists of arrays)."""
        return {"descriptor": self.descriptor.variables, "fitting": self.fitting.variables}

    def set_variables(self, v):
        self.descriptor.variables.update(v["descriptor"])
        self.fitting.variables.update(v["fitting"])
        for net, nv in zip(self.descriptor.nets, self.descriptor.variables["embeddings"]):
            net.variables = nv
        for net, nv in zip(self.fitting.nets, self.fitting.variables["nets"]):
            net.variables = nv

    @classmethod
    def from_config(cls, model_config):
        """Build from the normalized ``model`` section of an input (see dptensor.config)."""
        type_map = model_config["type_map"]
        ntypes = len(type_map)
        dcfg = {k: v for k, v in model_config["descriptor"].items() if k != "type"}
        descriptor = DescrptSeA(ntypes=ntypes, **dcfg)
        fcfg = {k: v for k, v in model_config["fitting_net"].items() if k != "type"}
        fitting = FITTINGS[model_config["fitting_net"]["type"]](
            ntypes=ntypes, dim_descrpt=descriptor.dim_out, dim_emb=descriptor.dim_emb, **fcfg)
        return cls(type_map, descriptor, fitting)

    def is_trained(self, path):
        """Whether the variable at ``path`` (see ``pytree``) is updated by training: network
        weights, except a descriptor with ``trainable: false`` and the fitting nets of types
        outside sel_type (never evaluated, so the optimizer keeps no state for them)."""
        if not is_trainable_path(path):
            return False
        if path.startswith("descriptor" + SEP):
            return self.descriptor.trainable
        parts = path.split(SEP)
        return not (parts[:2] == ["fitting", "nets"] and int(parts[2]) not in self.sel_type)

    # math --------------------------------------------------------------------------------
    def call_atomic(self, ops, v, coord, atype, nlist, shift, centers=None, groups=None, mirror=None,
                    widths=None):
        """Atomic outputs {atomic_name: nf x nloc x shape} in float64.

        coord nf x nall x 3 (float64), atype nf x nloc (int), nlist nf x nloc x nnei (int, -1 for
        empty), shift nf x nloc x nnei x 3 (r_ij = coord[j] + shift - coord[i]). By default the
        centers are the first nloc atoms (all of them when nloc = nall); ``centers`` (nf x nloc
        int) names them instead (atype, nlist and shift describe the centers): see
        ``center_index``. ``groups``
        (from ``type_groups(atype)``) lets each type's fitting net run on its own atoms only;
        ``mirror`` (``keys.MIRROR``, when ``mirror_valid``) shares the embedding of same-type pairs;
        ``widths`` (``keys.WIDTHS``): nlist, shift and mirror hold the first widths[t] slots of
        each type block only (``dptensor.data.trim``)."""
        center = None if centers is None else ops.gather_rows(coord, centers)
        em = self.descriptor.env_mat(ops, coord, nlist, shift, center)
        return self.call_atomic_env(ops, v, em, atype, groups, nlist >= 0, mirror, widths)

    def call_atomic_env(self, ops, v, em, atype, groups=None, occupied=None, mirror=None, widths=None):
        """``call_atomic`` from the environment matrix of the centers (``env_mat``), for backends
        that take derivatives with respect to it (see ``env_mat.forces_from_env_grad``).
        ``occupied`` (nlist >= 0) saves the embedding of empty slots, ``mirror`` that of the
        second slot of same-type pairs, ``widths`` the per-slot work of slots that no row of
        the batch uses (``DescrptSeA.call_env``)."""
        desc, rot_mat = self.descriptor.call_env(ops, v["descriptor"], em, atype, occupied, mirror,
                                                 widths)
        out = self.fitting.call(ops, v["fitting"], desc, rot_mat, atype, groups)
        f64 = ops.float_dtype("float64")
        return {k: ops.astype(x, f64) for k, x in out.items()}

    def hessian(self, ops, v, coord, atype, nlist, shift, groups=None, widths=None):
        """d2E/dx2 per frame, nf x 3nat x 3nat (float64), of an energy model: see
        ``dptensor.model.hessian``. Every atom is a center (nlist nf x nat x nnei)."""
        if not self.output_def.r_differentiable:
            raise ValueError(f"a {self.model_type} model has no Hessian (energy models only)")
        return energy_hessian(self, ops, v, coord, atype, nlist, shift, groups, widths)

    def hessian_choice(self, hessian=None):
        """(the frozen file carries the Hessian graph, its ``has_hessian`` flag) for ``dpt
        freeze``'s ``hessian``: None (default) keeps the graph of every energy model and sets the
        flag if the model was trained on Hessians; True sets the flag (an error for a tensor
        model); False leaves the graph out (a smaller file, frozen faster) and clears the flag."""
        energy = self.output_def.r_differentiable
        if hessian and not energy:
            raise DptError(f"--hessian: a {self.model_type} model has no Hessian (energy models only)")
        trained = bool(self.meta.get("hessian"))
        return energy and hessian is not False, energy and (bool(hessian) or (hessian is None and trained))

    def center_index(self, atype):
        """Indices of the atoms whose output is not identically zero (types in ``sel_type``),
        nf x nc, or None when every atom counts. Frames must share their atom types (a system's
        frames do); evaluating only these atoms gives the same global output for less work."""
        atype = np.asarray(atype)
        if len(self.sel_type) == self.ntypes or atype.shape[0] == 0:
            return None
        if not (atype == atype[:1]).all():
            return None
        idx = np.nonzero(np.isin(atype[0], self.sel_type))[0]
        return np.broadcast_to(idx, (atype.shape[0], idx.size)).copy()

    def mirror_valid(self):
        """Whether ``mirror`` may be passed with this model's descriptor statistics (which
        training never changes)."""
        v = self.descriptor.variables
        return self.descriptor.mirror_embedding_valid(v["davg"], v["dstd"])

    @staticmethod
    def type_groups(atype, ntypes):
        """Per type, the positions of its atoms (numpy int arrays), when every frame of
        ``atype`` (nf x nloc, numpy) has the same types; else None."""
        atype = np.asarray(atype)
        if atype.shape[0] == 0 or not (atype == atype[:1]).all():
            return None
        return [np.nonzero(atype[0] == t)[0] for t in range(ntypes)]

    def reduce(self, ops, atomic):
        """Add the global outputs (sum over atoms of each reducible atomic output)."""
        od = self.output_def
        out = dict(atomic)
        if od.reducible:
            out[od.name] = ops.sum(atomic[od.atomic_name], axis=1)
        return out

    def __call__(self, coord, atype, nlist, shift):
        """numpy forward: atomic and global outputs (no derivatives)."""
        return self.reduce(numpy_ops, self.call_atomic(numpy_ops, self.variables, coord, atype,
                                                       nlist, shift))

    def evaluate(self, coord, box, atype):
        """numpy forward on raw frames: coord nf x nat x 3, box nf x 3 x 3 or None, atype nf x nat."""
        from dptensor.data.neighbor import build_nlist, shift_from_image

        coord = np.asarray(coord, dtype=np.float64)
        atype = np.asarray(atype)
        nlist, image = build_nlist(coord, box, atype, self.rcut, self.sel)[:2]
        return self(coord, atype, nlist, shift_from_image(image, box))

    # statistics --------------------------------------------------------------------------
    def compute_stats(self, batches):
        """Descriptor normalization and output statistics from training batches (numpy)."""
        self.descriptor.compute_stats(batches)
        self.fitting.compute_stats(batches)

    # serialization -----------------------------------------------------------------------
    def serialize(self):
        return {"@class": "Model", "type": self.model_type, "@version": MODEL_VERSION,
                "type_map": list(self.type_map), "descriptor": self.descriptor.serialize(),
                "fitting": self.fitting.serialize(), "@meta": dict(self.meta)}

    @classmethod
    def deserialize(cls, data):
        fitting_cls = FITTINGS[data["fitting"]["type"]]
        return cls(data["type_map"], DescrptSeA.deserialize(data["descriptor"]),
                   fitting_cls.deserialize(data["fitting"]), meta=data.get("@meta"))


def label_keys(model):
    """The data labels a model of this type learns from: (global, atomic)."""
    od = model.output_def
    return od.label, od.atomic_label


__all__ = ["Model", "keys", "label_keys"]
