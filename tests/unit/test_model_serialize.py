"""serialize()/deserialize() of the reference model, in memory and through a .dpt file: same
outputs bit for bit, same dict, dtypes kept; seeds decide the initial weights."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for model_fixtures

from model_fixtures import (TRICLINIC_BOX, VARIANTS, make_model, make_variant, neighbor_inputs,
                            random_frame)

from dptensor.io import load_dpt, save_dpt
from dptensor.model import Model
from dptensor.model.pytree import flatten, is_trainable_path, unflatten

MODELS = {**{name: (lambda name=name: make_variant(name)) for name in VARIANTS},
          "ener-atom-ener": lambda: make_model("ener", descriptor={"set_davg_zero": True},
                                               fitting={"atom_ener": [-3.25, None]}),
          "polar-float32": lambda: make_model("polar", precision="float32")}


def assert_same_tree(a, b, path="model"):
    """Equal nested dicts/lists; arrays with the same dtype, shape and bits; tuples equal lists
    (JSON has only lists)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a.keys(), b)
        for k in a:
            assert_same_tree(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{path}[{i}]")
    else:
        assert type(a) is type(b) and a == b, (path, a, b)


def frame_inputs(model):
    coord, atype = random_frame(21, [0, 1, 1, 0, 1, 1, 0], TRICLINIC_BOX)
    return neighbor_inputs(model, coord, TRICLINIC_BOX, atype)


def assert_same_outputs(model, other):
    inputs = frame_inputs(model)
    out, got = model(**inputs), other(**inputs)
    assert out.keys() == got.keys()
    for k in out:
        assert got[k].dtype == np.float64
        np.testing.assert_array_equal(got[k], out[k], err_msg=k)


@pytest.mark.parametrize("name", list(MODELS))
def test_roundtrip_in_memory(name):
    model = MODELS[name]()
    copy = Model.deserialize(model.serialize())
    assert_same_outputs(model, copy)
    assert_same_tree(copy.serialize(), model.serialize())


@pytest.mark.parametrize("name", list(MODELS))
def test_roundtrip_through_dpt_file(name, tmp_path):
    model = MODELS[name]()
    save_dpt(tmp_path / "model.dpt", model.serialize())
    loaded = Model.deserialize(load_dpt(tmp_path / "model.dpt"))
    assert_same_outputs(model, loaded)
    assert_same_tree(loaded.serialize(), model.serialize())


@pytest.mark.parametrize("through_file", [False, True])
def test_float32_model_keeps_float32(through_file, tmp_path):
    """A float32 model stores its network arrays in float32 (also after a round trip), predicts
    in float64, and starts from the float64 model's weights rounded (same seed)."""
    model = make_model("ener", precision="float32")
    data = model.serialize()
    if through_file:
        save_dpt(tmp_path / "model.dpt", data)
        data = load_dpt(tmp_path / "model.dpt")
    copy = Model.deserialize(data)
    weights = {p: v for p, v in flatten(copy.variables).items() if is_trainable_path(p)}
    assert weights and all(v.dtype == np.float32 for v in weights.values())
    ref64 = make_model("ener")
    for p, v in flatten(ref64.variables).items():
        if is_trainable_path(p):
            np.testing.assert_array_equal(weights[p], v.astype(np.float32), err_msg=p)
    inputs = frame_inputs(copy)
    e32, e64 = copy(**inputs)["atom_energy"], ref64(**inputs)["atom_energy"]
    assert e32.dtype == np.float64
    np.testing.assert_allclose(e32, e64, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(e32, e64)  # it did compute in float32


def weights(model):
    return {p: v for p, v in flatten(model.variables).items() if is_trainable_path(p)}


def test_seeds_decide_the_initial_weights():
    a, b = make_model("dipole"), make_model("dipole")
    assert_same_tree(a.serialize(), b.serialize())

    other_descriptor = make_model("dipole", descriptor={"seed": 5})
    other_fitting = make_model("dipole", fitting={"seed": 5})
    wa, wd, wf = weights(a), weights(other_descriptor), weights(other_fitting)
    for p in wa:
        # a float64 draw never repeats by chance: every array of the reseeded part differs
        assert np.array_equal(wa[p], wd[p]) == p.startswith("fitting"), p
        assert np.array_equal(wa[p], wf[p]) == p.startswith("descriptor"), p


def test_networks_of_one_model_differ():
    """Each embedding and fitting net draws from its own stream of the seed."""
    model = make_model("ener")
    first_layers = [v for p, v in weights(model).items() if p.endswith("layers/0/w")]
    assert len(first_layers) == 4 + 2  # ntypes^2 embeddings, ntypes fittings
    for i, x in enumerate(first_layers):
        for y in first_layers[i + 1:]:
            assert x.shape != y.shape or not np.array_equal(x, y)


def test_no_seed_gives_fresh_weights():
    a = make_model("ener", descriptor={"seed": None}, fitting={"seed": None})
    b = make_model("ener", descriptor={"seed": None}, fitting={"seed": None})
    wa, wb = weights(a), weights(b)
    assert all(not np.array_equal(wa[p], wb[p]) for p in wa)


def test_deserialized_model_is_independent():
    """Changing the weights of a deserialized copy leaves the original model as it was."""
    model = make_model("ener")
    inputs = frame_inputs(model)
    before = model(**inputs)["energy"]
    copy = Model.deserialize(model.serialize())
    copy.set_variables(_shifted(copy.variables))
    assert not np.array_equal(copy(**inputs)["energy"], before)
    np.testing.assert_array_equal(model(**inputs)["energy"], before)


def _shifted(tree):
    """The same pytree with 0.1 added to every network weight (new arrays)."""
    flat = flatten(tree)
    return unflatten({p: v + 0.1 if is_trainable_path(p) else v for p, v in flat.items()}, tree)


def test_deserialized_networks_carry_the_stored_weights():
    """Every sub-network object of a deserialized model holds the stored arrays (not a fresh
    initialization), so using a net on its own agrees with the model."""
    model = make_model("ener", descriptor={"seed": None}, fitting={"seed": None})
    copy = Model.deserialize(model.serialize())
    for part in ("descriptor", "fitting"):
        for net, stored in zip(getattr(copy, part).nets, getattr(model, part).nets):
            assert_same_tree(net.serialize(), stored.serialize(), f"{part} net")
