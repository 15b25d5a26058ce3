"""Tiny models and frames shared by the physics, serialization and consistency tests.

Everything here is deterministic (fixed seeds) and small enough that one numpy forward takes
milliseconds: 2 types, rcut 3.2 A, sel [16, 24], embedding [4, 8], axis_neuron 2, fitting [8, 8].

Conventions: positions are rows (nat x 3), a rotation R acts as x -> x @ R.T, box rows are cell
vectors. Frames are single (nat x 3) and batched (1 x nat x 3) by ``neighbor_inputs``.
"""

import numpy as np

from dptensor.data.neighbor import build_neighbor_list, shift_from_image
from dptensor.model import Model

TYPE_MAP = ["O", "H"]
RCUT = 3.2  # Angstrom
RCUT_SMTH = 2.4  # switching starts 0.8 A below rcut
SEL = [16, 24]  # generous: the test frames never drop a neighbor (checked in neighbor_inputs)
MIN_DIST = 0.9  # smallest distance between atoms of a random frame (periodic images included)

# periodic cells, all small enough that atoms see periodic images (of others and of themselves)
ORTHO_BOX = np.diag([5.0, 5.5, 6.0])
TRICLINIC_BOX = np.array([[5.2, 0.0, 0.0], [1.3, 4.9, 0.0], [-0.9, 0.7, 5.4]])
SMALL_BOX = np.array([[3.0, 0.0, 0.0], [0.4, 2.9, 0.0], [0.3, -0.2, 3.1]])  # < 2 rcut: many images

# model variants exercised by the physics and consistency tests: name -> make_model keywords
VARIANTS = {
    "ener": dict(kind="ener"),
    "ener-one-side-resnet": dict(kind="ener", descriptor={"type_one_side": True, "resnet_dt": True}),
    "ener-exclude": dict(kind="ener", descriptor={"exclude_types": [[0, 1]]},
                         fitting={"atom_exclude_types": [1], "resnet_dt": False}),
    "dipole": dict(kind="dipole", fitting={"sel_type": [0]}),
    "dipole-one-side-exclude": dict(kind="dipole", descriptor={"type_one_side": True,
                                                               "exclude_types": [[1, 1]]},
                                    fitting={"sel_type": [0, 1]}),
    "polar-diag": dict(kind="polar", fitting={"fit_diag": True, "scale": [1.5, 0.7],
                                              "sel_type": [0, 1]}),
    "polar-full-one-side": dict(kind="polar", descriptor={"type_one_side": True, "resnet_dt": True},
                                fitting={"fit_diag": False, "sel_type": [0]}),
    # tensor fittings: each set of irreducible parts, both ranks, full and diagonal B
    "tensor-traceless": dict(kind="tensor", fitting={"label": "efg", "rank": 2,
                                                     "tensor_components": [2]}),
    "tensor-general-one-side": dict(kind="tensor", descriptor={"type_one_side": True},
                                    fitting={"label": "bec", "rank": 2,
                                             "tensor_components": [0, 1, 2], "sel_type": [0]}),
    "tensor-symmetric-diag": dict(kind="tensor", fitting={"label": "sym", "rank": 2,
                                                          "tensor_components": [0, 2],
                                                          "fit_diag": True}),
    "tensor-antisymmetric-traceless": dict(kind="tensor", fitting={"label": "ast", "rank": 2,
                                                                   "tensor_components": [1, 2]}),
    "tensor-vector": dict(kind="tensor", fitting={"label": "field", "rank": 1}),
}
ENER_VARIANTS = [k for k, v in VARIANTS.items() if v["kind"] == "ener"]


def descriptor_config(**overrides):
    """A normalized ``model.descriptor`` section (all keys present, like dptensor.config makes)."""
    cfg = {"type": "se_e2_a", "sel": list(SEL), "rcut": RCUT, "rcut_smth": RCUT_SMTH,
           "neuron": [4, 8], "axis_neuron": 2, "resnet_dt": False, "activation_function": "tanh",
           "precision": "float64", "trainable": True, "type_one_side": False, "exclude_types": [],
           "set_davg_zero": False, "env_protection": 0.0, "seed": 1}
    cfg.update(overrides)
    return cfg


def fitting_config(kind, **overrides):
    """A normalized ``model.fitting_net`` section of type ``kind`` (ener, dipole, polar)."""
    cfg = {"type": kind, "neuron": [8, 8], "resnet_dt": True, "activation_function": "tanh",
           "precision": "float64", "trainable": True, "seed": 2}
    if kind == "ener":
        cfg.update({"rcond": None, "atom_ener": [], "atom_exclude_types": []})
    else:
        cfg["sel_type"] = [0, 1]
    if kind == "polar":
        cfg.update({"fit_diag": True, "scale": 1.0, "shift_diag": True})
    cfg.update(overrides)
    return cfg


def make_model(kind="ener", descriptor=None, fitting=None, precision="float64", stats=True):
    """A reference Model from a normalized config; ``stats`` sets non-trivial statistics (see
    ``set_stats``) so that the normalization and the biases are exercised too."""
    section = {"type_map": list(TYPE_MAP),
               "descriptor": descriptor_config(precision=precision, **(descriptor or {})),
               "fitting_net": fitting_config(kind, precision=precision, **(fitting or {}))}
    model = Model.from_config(section)
    if stats:
        set_stats(model)
    return model


def make_variant(name, **kwargs):
    spec = dict(VARIANTS[name])
    return make_model(spec.pop("kind"), **spec, **kwargs)


def set_stats(model):
    """Statistics of the form ``compute_stats`` produces (one radial mean and std per center type,
    one angular std shared by x, y, z, angular mean 0: anything else would break rotation or
    permutation symmetry), with fixed non-trivial values; biases and diagonal shifts per type."""
    d = model.descriptor
    nnei = d.nnei
    davg = np.zeros((d.ntypes, nnei, 4))
    dstd = np.ones((d.ntypes, nnei, 4))
    for t, (avg, std_r, std_a) in enumerate([(0.12, 0.21, 0.17), (0.07, 0.15, 0.26)][:d.ntypes]):
        davg[t, :, 0] = 0.0 if d.set_davg_zero else avg
        dstd[t, :, 0] = std_r
        dstd[t, :, 1:] = std_a
    d.variables["davg"], d.variables["dstd"] = davg, dstd
    fit = model.fitting.variables
    if "bias_atom_e" in fit:
        fit["bias_atom_e"] = np.array([-1.3, 0.4])
    if "constant_matrix" in fit:
        fit["constant_matrix"] = np.array([0.7, -0.2])


# frames ----------------------------------------------------------------------------------
def _min_image_dist(x, others, box):
    """Smallest distance from x to any of ``others`` (m x 3) over images in [-1, 1]^3."""
    if len(others) == 0:
        return np.inf
    d = others - x
    if box is not None:
        grid = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
        d = d[:, None, :] + (grid @ box)[None]
    return float(np.sqrt(np.min(np.sum(d * d, axis=-1))))


def random_frame(seed, atype, box=None, span=3.6, min_dist=MIN_DIST):
    """Random positions with every pair (and periodic image) farther apart than ``min_dist``.

    atype: list of types (nat); box 3 x 3 (atoms uniform in the cell, some given coordinates
    outside it) or None (atoms in a cube of side ``span``). Returns coord nat x 3, atype nat."""
    rng = np.random.default_rng(seed)
    atype = np.asarray(atype, dtype=np.int64)
    cell = box if box is not None else np.eye(3) * span
    coord = np.zeros((0, 3))
    for _atom in atype:
        for _try in range(10000):
            x = rng.uniform(0.0, 1.0, 3) @ cell
            if _min_image_dist(x, coord, box) > min_dist:
                break
        else:
            raise RuntimeError("could not place the atoms; use a larger cell")
        coord = np.vstack([coord, x])
    if box is not None:
        # unwrap a few atoms by a lattice vector: the model must not care where the image sits
        coord[::3] += np.array([1, -1, 0]) @ box
    return coord, atype


def neighbor_inputs(model, coord, box, atype):
    """Batched inputs of one frame (nf = 1): dict with coord, atype, nlist, shift. Asserts that
    no neighbor is dropped by ``sel`` and no pair is closer than MIN_DIST, so the frame is valid
    for the symmetry tests."""
    coord = np.asarray(coord, dtype=np.float64)[None]
    atype = np.asarray(atype, dtype=np.int64)[None]
    boxes = None if box is None else np.asarray(box, dtype=np.float64)[None]
    res = build_neighbor_list(coord, boxes, atype, model.rcut, model.sel)
    assert not res.dropped.any(), f"sel {model.sel} too small for this frame: {res.dropped}"
    assert res.min_dist[0] > MIN_DIST * 0.999, f"atoms too close: {res.min_dist[0]}"
    return {"coord": coord, "atype": atype, "nlist": res.nlist,
            "shift": shift_from_image(res.image, boxes)}


def stack_inputs(inputs):
    """Several single-frame input dicts (same model, same nat) -> one batch of frames."""
    return {k: np.concatenate([x[k] for x in inputs]) for k in inputs[0]}


def forward(model, coord, box, atype):
    """The numpy reference on one frame: outputs with the frame axis removed."""
    out = model(**neighbor_inputs(model, coord, box, atype))
    return {k: v[0] for k, v in out.items()}


def random_rotation(seed):
    """A proper rotation matrix (det +1) from a QR decomposition of a Gaussian matrix."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def replicate(coord, box, atype, reps):
    """The (n1 x n2 x n3) supercell: atoms of image (a, b, c) follow all atoms of the previous
    image. Returns coord, box, atype."""
    blocks = [coord + np.array(n) @ box for n in np.ndindex(*reps)]
    return np.concatenate(blocks), box * np.array(reps)[:, None], np.tile(atype, int(np.prod(reps)))


# transformation rules of the outputs -------------------------------------------------------
def rotate_output(x, rot, rank):
    """x rotated by ``rot`` according to its tensor rank (the length of the output definition's
    shape): 0 stays, 1 (..., 3) -> R v, 2 (..., 3, 3) -> R a R^T."""
    if rank == 2:
        return rot @ x @ rot.T
    if rank == 1:
        return x @ rot.T
    return x
