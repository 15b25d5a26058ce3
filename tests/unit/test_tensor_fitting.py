"""The ``tensor`` fitting: each set of irreducible parts holds its symmetry exactly, the tensor
rotates as R T R^T (reflections included), outputs are named after the label, and the isotropic
shift is set from the data."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for model_fixtures

from model_fixtures import TRICLINIC_BOX, forward, make_model, random_frame, random_rotation

from dptensor.data import keys
from dptensor.model import Model
from dptensor.model.fitting.tensor import TensorFitting

TOL = 1e-11
ATYPE = [0, 1, 1, 0, 1, 1, 0]

# components -> the symmetry each atomic tensor must have exactly
RANK2_SETS = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]]


def tensor_model(components, rank=2, fit_diag=False, sel_type=(0, 1), label="efg"):
    return make_model("tensor", fitting={"label": label, "rank": rank, "fit_diag": fit_diag,
                                         "tensor_components": components,
                                         "sel_type": list(sel_type)})


def atomic(model, coord=None, box=TRICLINIC_BOX):
    if coord is None:
        coord, _ = random_frame(3, ATYPE, box)
    return forward(model, coord, box, ATYPE)[model.output_def.atomic_name]


def parts(t):
    """(isotropic, antisymmetric, symmetric traceless) parts of nat x 3 x 3 tensors."""
    iso = np.trace(t, axis1=1, axis2=2)[:, None, None] / 3.0 * np.eye(3)
    anti = 0.5 * (t - t.transpose(0, 2, 1))
    return iso, anti, t - iso - anti


@pytest.mark.parametrize("fit_diag", [False, True])
@pytest.mark.parametrize("components", RANK2_SETS, ids=str)
def test_each_component_set_holds_its_symmetry(components, fit_diag):
    """Only the requested parts are non-zero (to rounding); each requested part is present."""
    t = atomic(tensor_model(components, fit_diag=fit_diag))
    scale = np.abs(t).max()
    assert scale > 1e-3
    for part, value in enumerate(parts(t)):
        size = np.abs(value).max()
        if part in components:
            assert size > 1e-4 * scale, f"part {part} missing"
        else:
            assert size < TOL * max(scale, 1.0), f"part {part} present: {size}"


@pytest.mark.parametrize("improper", [False, True], ids=["rotation", "reflection"])
@pytest.mark.parametrize("components", RANK2_SETS, ids=str)
def test_rank2_rotates_as_r_t_rt(components, improper):
    """T(Q x) = Q T(x) Q^T for proper rotations and for rotations times an inversion."""
    model = tensor_model(components)
    coord, _ = random_frame(4, ATYPE, TRICLINIC_BOX)
    for seed in (1, 2, 3):
        q = random_rotation(seed) * (-1.0 if improper else 1.0)
        want = q @ atomic(model, coord) @ q.T
        got = atomic(model, coord @ q.T, TRICLINIC_BOX @ q.T)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("improper", [False, True], ids=["rotation", "reflection"])
def test_rank1_rotates_as_a_vector(improper):
    model = tensor_model([1], rank=1, label="field")
    coord, _ = random_frame(5, ATYPE, TRICLINIC_BOX)
    q = random_rotation(9) * (-1.0 if improper else 1.0)
    v = atomic(model, coord)
    assert v.shape == (len(ATYPE), 3) and np.abs(v).max() > 1e-3
    np.testing.assert_allclose(atomic(model, coord @ q.T, TRICLINIC_BOX @ q.T), v @ q.T,
                               rtol=0, atol=TOL)


def test_outputs_are_named_after_the_label():
    model = tensor_model([0, 1, 2], label="bec", sel_type=[0])
    od = model.output_def
    assert (od.name, od.atomic_name, od.label, od.atomic_label) == ("bec", "atomic_bec", "bec",
                                                                    "atomic_bec")
    assert od.shape == (3, 3) and od.reducible and not od.r_differentiable
    coord, _ = random_frame(6, ATYPE, None)
    out = forward(model, coord, None, ATYPE)
    assert set(out) == {"bec", "atomic_bec"}
    np.testing.assert_allclose(out["bec"], out["atomic_bec"].sum(axis=0), atol=1e-12)
    assert np.all(out["atomic_bec"][np.array(ATYPE) == 1] == 0.0)  # outside sel_type
    assert tensor_model([1], rank=1, label="e").output_def.shape == (3,)


def test_default_components_and_serialization():
    rank1 = TensorFitting(2, 16, 4, label="v", rank=1)
    rank2 = TensorFitting(2, 16, 4, label="t", rank=2)
    assert rank1.tensor_components == [1] and rank2.tensor_components == [0, 1, 2]
    assert rank2.out_dim == 1 + 2 * 4 + 4 * 4
    back = TensorFitting.deserialize(rank2.serialize())
    assert back.config() == rank2.config()
    assert back.output_def == rank2.output_def


@pytest.mark.parametrize("rank, components", [(1, [0]), (1, [2]), (2, [3]), (2, []), (3, [1])])
def test_invalid_components_are_refused(rank, components):
    with pytest.raises(ValueError, match="tensor fitting"):
        TensorFitting(2, 16, 4, label="x", rank=rank, tensor_components=components)


def test_isotropic_shift_from_atomic_and_global_labels():
    """constant_matrix: mean trace/3 per type from atomic labels, least squares from frame sums;
    the shift lands on the trace only."""
    model = tensor_model([0, 2], label="t")
    atype = np.array([[0, 1, 1, 0]] * 3)
    values = np.array([2.0, -1.0, -1.0, 2.0])[None, :, None, None] * np.eye(3)
    model.fitting.compute_stats([{keys.ATYPE: atype,
                                  "atomic_t": np.broadcast_to(values, (3, 4, 3, 3))}])
    np.testing.assert_allclose(model.fitting.variables["constant_matrix"], [2.0, -1.0])
    model.fitting.compute_stats([{keys.ATYPE: np.array([[0, 1, 1], [0, 0, 1]]),
                                  "t": np.array([1.0, 4.0])[:, None, None] * np.eye(3)}])
    # c0 + 2 c1 = 1, 2 c0 + c1 = 4
    np.testing.assert_allclose(model.fitting.variables["constant_matrix"], [7 / 3, -2 / 3],
                               atol=1e-12)


def test_shift_moves_only_the_trace():
    model = tensor_model([0, 1, 2], label="t")
    coord, _ = random_frame(7, ATYPE, None)
    before = forward(model, coord, None, ATYPE)["atomic_t"]
    model.fitting.variables["constant_matrix"] = model.fitting.variables["constant_matrix"] + 1.5
    after = forward(model, coord, None, ATYPE)["atomic_t"]
    np.testing.assert_allclose(after - before, np.broadcast_to(1.5 * np.eye(3), before.shape),
                               atol=1e-12)


def test_model_from_config_and_dpt_roundtrip():
    model = tensor_model([1, 2], label="ast")
    back = Model.deserialize(model.serialize())
    coord, _ = random_frame(8, ATYPE, TRICLINIC_BOX)
    np.testing.assert_array_equal(atomic(back, coord), atomic(model, coord))
    assert back.model_type == "tensor" and back.output_def.name == "ast"
