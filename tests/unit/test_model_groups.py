"""Running each type's fitting net on its own atoms (``groups``) or on centers only gives the
same numbers as the masked evaluation of every atom."""

import numpy as np
import pytest

from dptensor.model import Model
from dptensor.model.ops import numpy_ops
from model_fixtures import make_model, neighbor_inputs, random_frame


@pytest.mark.parametrize("kind", ["ener", "dipole", "polar"])
def test_grouped_fitting_matches_masked(kind):
    model = make_model(kind)
    atype = np.array([0, 1, 1, 0, 1, 1, 0, 1])
    coord, atype = random_frame(3, atype)
    inp = neighbor_inputs(model, coord, None, atype)
    plain = model.call_atomic(numpy_ops, model.variables, inp["coord"], inp["atype"], inp["nlist"], inp["shift"])
    groups = Model.type_groups(inp["atype"], model.ntypes)
    grouped = model.call_atomic(numpy_ops, model.variables, inp["coord"], inp["atype"], inp["nlist"],
                                inp["shift"], groups=groups)
    for key in plain:
        np.testing.assert_allclose(grouped[key], plain[key], rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["dipole", "polar"])
def test_center_subset_matches_full(kind):
    model = make_model(kind, fitting={"sel_type": [0]})
    atype = np.array([0, 1, 1, 0, 1, 1, 0, 1])
    coord, atype = random_frame(4, atype)
    inp = neighbor_inputs(model, coord, None, atype)
    full = model.reduce(numpy_ops, model.call_atomic(numpy_ops, model.variables, inp["coord"], inp["atype"],
                                                     inp["nlist"], inp["shift"]))
    centers = model.center_index(inp["atype"])
    idx = centers[0]
    sub = model.reduce(numpy_ops, model.call_atomic(
        numpy_ops, model.variables, inp["coord"], inp["atype"][:, idx], inp["nlist"][:, idx],
        inp["shift"][:, idx], centers=centers))
    od = model.output_def
    np.testing.assert_allclose(sub[od.name], full[od.name], atol=1e-13)
    np.testing.assert_allclose(sub[od.atomic_name], full[od.atomic_name][:, idx], atol=1e-13)
    assert Model.type_groups(np.array([[0, 1], [1, 0]]), 2) is None
