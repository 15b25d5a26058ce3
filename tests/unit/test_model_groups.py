"""Running each type's fitting net on its own atoms (``groups``) or on centers only gives the
same numbers as the masked evaluation of every atom."""

import numpy as np
import pytest

from dptensor.model import Model
from dptensor.model.ops import numpy_ops
from model_fixtures import make_model, neighbor_inputs, random_frame


@pytest.mark.parametrize("types", ["mixed", "sorted", "one_type", "sorted_sel0"])
@pytest.mark.parametrize("kind", ["ener", "dipole", "polar"])
def test_grouped_fitting_matches_masked(kind, types):
    """Also with types in blocks (sliced, not gathered) and groups covering every atom in order
    (joined, no gather at all)."""
    fitting = {"sel_type": [0]} if types == "sorted_sel0" and kind != "ener" else None
    model = make_model(kind, fitting=fitting)
    atype = {"mixed": [0, 1, 1, 0, 1, 1, 0, 1], "one_type": [1] * 8}.get(types, [0, 0, 0, 1, 1, 1, 1, 1])
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


@pytest.mark.parametrize("kind,fitting", [("ener", {}), ("ener", {"atom_exclude_types": [1]}),
                                          ("dipole", {"sel_type": [0]}), ("polar", {})])
def test_gathered_fitting_matches_every_atom(kind, fitting):
    """Without ``groups`` each net runs on the atoms of its type found at run time; per frame
    types, a frame without one type and unselected types must all read the right rows."""
    model = make_model(kind, fitting=fitting)
    fit = model.fitting
    rng = np.random.default_rng(7)
    atype = np.array([[0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 1, 0]])
    desc = rng.normal(size=(3, 6, fit.dim_descrpt))
    got = fit.typed_output(numpy_ops, fit.variables, desc, atype)
    want = np.zeros_like(got)
    for t in fit.sel_type:
        want += fit.nets[t](desc) * (atype == t)[..., None]
    assert got.shape == (3, 6, fit.out_dim)
    assert ((np.abs(want).sum(-1) > 0) == np.isin(atype, fit.sel_type)).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
