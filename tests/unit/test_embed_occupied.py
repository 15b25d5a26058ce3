"""The embedding nets run on occupied neighbor slots only (``occupied`` in ``call_env``): the
descriptor must equal the one computed on every slot, whatever the statistics and type options."""

import numpy as np
import pytest

from dptensor.model.ops import numpy_ops
from model_fixtures import ORTHO_BOX, make_model, neighbor_inputs, random_frame

OPTIONS = {
    "pair-nets": {},
    "one-side": {"type_one_side": True},
    "one-side-resnet": {"type_one_side": True, "resnet_dt": True},
    "exclude": {"exclude_types": [[0, 1]]},
}


def _descriptor_both_ways(model, inp):
    d = model.descriptor
    em = d.env_mat(numpy_ops, inp["coord"], inp["nlist"], inp["shift"])
    every = d.call_env(numpy_ops, d.variables, em, inp["atype"])
    occupied = d.call_env(numpy_ops, d.variables, em, inp["atype"], inp["nlist"] >= 0)
    return every, occupied


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("box", [None, ORTHO_BOX], ids=["open", "periodic"])
def test_occupied_rows_give_the_same_descriptor(option, box):
    model = make_model("ener", descriptor=OPTIONS[option])
    d = model.descriptor
    # statistics that differ per slot too, so each empty slot needs its own row
    rng = np.random.default_rng(7)
    d.variables["davg"] = d.variables["davg"] + 0.1 * rng.normal(size=d.variables["davg"].shape)
    d.variables["dstd"] = d.variables["dstd"] * rng.uniform(0.5, 1.5, size=d.variables["dstd"].shape)
    coord, atype = random_frame(11, np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 0]), box=box)
    inp = neighbor_inputs(model, coord, box, atype)
    assert (inp["nlist"] < 0).any() and (inp["nlist"] >= 0).any()
    every, occupied = _descriptor_both_ways(model, inp)
    for a, b in zip(every, occupied):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)


def test_isolated_atoms():
    """Atoms without any neighbor: every slot is empty and the nets see only the constant rows."""
    model = make_model("ener", descriptor={"sel": [1, 2]})
    coord = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    inp = neighbor_inputs(model, coord, None, np.array([0, 1, 1]))
    assert (inp["nlist"] < 0).all()
    every, occupied = _descriptor_both_ways(model, inp)
    for a, b in zip(every, occupied):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)
