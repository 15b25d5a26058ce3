"""Tabulated embedding nets (dpt compress): the table against the net, the compressed model against
the model, the grid, the file round trip and the errors."""

import numpy as np
import pytest

from dptensor.errors import DptError, ModelFileError
from dptensor.io import load_dpt, save_dpt
from dptensor.model import Model
from dptensor.model.compress import compress_model, net_range, net_slots
from dptensor.model.network import Network
from dptensor.model.ops import numpy_ops
from dptensor.model.tabulate import build_table, grid_bounds, knots, make_grid, tab_eval
from dptensor.train.run import _refuse_compressed
from model_fixtures import ORTHO_BOX, VARIANTS, make_variant, neighbor_inputs, random_frame

GRID = make_grid(-1.0, 9.0, 0.01, 5.0, 10)


@pytest.fixture(scope="module")
def net_table():
    net = Network(1, [8, 16, 32], None, "tanh", True, "float64", seed=3)
    return net, build_table(net, net.variables, GRID)


def test_grid_covers_the_range_and_extrapolates():
    lo, h1, n1, h2, n2, hi, end = grid_bounds(GRID)
    assert (lo, h1, h2) == (-1.0, 0.01, 0.1)
    assert hi == pytest.approx(9.0) and end == pytest.approx(-1.0 + 5.0 * 10.0)
    x = knots(GRID)
    assert x.size == n1 + n2 + 1 and np.all(np.diff(x) > 0)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_table_matches_the_net_and_its_derivatives(net_table, order):
    net, coef = net_table
    s = np.random.default_rng(0).uniform(-1.0, 49.0, 3000)
    ref = net.call_derivs(numpy_ops, net.variables, s[:, None])[order]
    got = tab_eval(numpy_ops, coef, s, GRID, order)
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() < {0: 1e-12, 1: 1e-10, 2: 1e-8}[order] * scale


def test_table_is_exact_at_the_knots(net_table):
    net, coef = net_table
    x = knots(GRID)[:-1]
    ref = net.call(numpy_ops, net.variables, x[:, None])
    np.testing.assert_allclose(tab_eval(numpy_ops, coef, x, GRID), ref, rtol=0, atol=1e-13)


def test_outside_the_table_is_held_constant(net_table):
    _, coef = net_table
    lo, *_, end = grid_bounds(GRID)
    s = np.array([lo - 0.5, lo, end, end + 7.0])
    value = tab_eval(numpy_ops, coef, s, GRID)
    np.testing.assert_allclose(value[0], value[1], atol=1e-14)
    np.testing.assert_allclose(value[2], value[3], atol=1e-12)
    slope = tab_eval(numpy_ops, coef, s, GRID, 1)
    assert not slope[[0, 3]].any() and slope[1].any()


def test_nan_reaches_the_output_and_infinities_hold_the_ends(net_table):
    _, coef = net_table
    lo, *_, end = grid_bounds(GRID)
    s = np.array([np.nan, np.inf, -np.inf, lo, end])
    for order in (0, 1, 2):
        out = tab_eval(numpy_ops, coef, s, GRID, order)
        assert np.isnan(out[0]).all() and np.isfinite(out[1:]).all()
        if order:
            assert not out[1:3].any()
        else:
            np.testing.assert_array_equal(out[1:3], out[[4, 3]])


def test_orders_above_the_degree_are_zero(net_table):
    _, coef = net_table
    assert not tab_eval(numpy_ops, coef, np.array([0.3, 2.0]), GRID, 6).any()


def test_make_grid_rejects_bad_settings():
    inf = float("inf")
    for args in [(0.0, 1.0, 0.0, 5, 10), (0.0, 1.0, 0.01, 0.5, 10), (1.0, 1.0, 0.01, 5, 10),
                 (0.0, 1.0, inf, 5, 10), (0.0, 1.0, 0.01, inf, 10), (0.0, inf, 0.01, 5, 10),
                 (0.0, 1.0, 1e-6, 5, 10)]:  # the last: 1,000,000 intervals
        with pytest.raises(ValueError):
            make_grid(*args)


def _inputs(model, seed=3):
    coord, atype = random_frame(seed, [0, 1, 1, 0, 1, 1, 0, 1, 1], ORTHO_BOX)
    return neighbor_inputs(model, coord, ORTHO_BOX, atype)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_compressed_model_predicts_as_the_model(name):
    model = make_variant(name)
    compressed = Model.deserialize(model.serialize())
    assert compress_model(compressed, 0.9) < 1e-11
    inputs = _inputs(model)
    ref, got = model(**inputs), compressed(**inputs)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", ["ener", "ener-one-side-resnet"])
def test_every_slot_input_lies_in_its_net_range(name):
    """The normalized radial input of every slot (empty ones at lo) of a frame whose closest
    pair is r_min lies in [lo, hi] of the net that reads it, and the range is not loose."""
    model = make_variant(name)
    desc, v = model.descriptor, model.descriptor.variables
    inputs = _inputs(model)
    r_min = float(np.min(np.linalg.norm(inputs["shift"] + inputs["coord"][0][inputs["nlist"]]
                                        - inputs["coord"][0][:, None, :], axis=-1)[inputs["nlist"] >= 0]))
    em = desc.env_mat(numpy_ops, inputs["coord"], inputs["nlist"], inputs["shift"])[0, ..., 0]
    atype = inputs["atype"][0]
    s = (em - v["davg"][atype, :, 0]) / v["dstd"][atype, :, 0]  # nloc x nnei
    reached = []
    for k in range(desc.n_nets):
        centers, start, n = net_slots(desc, k)
        rows = np.isin(atype, centers)
        block = s[rows, start:start + n]
        lo, hi = net_range(desc, k, r_min)
        assert lo - 1e-12 <= block.min() and block.max() <= hi + 1e-12, (k, lo, hi)
        reached.append(block.max() / hi)
    assert max(reached) > 1 - 1e-9  # the closest pair reaches hi of its net


def test_compressed_model_survives_a_dpt_round_trip(tmp_path):
    model = make_variant("ener-one-side-resnet")
    compress_model(model, 0.9, step=0.02, extrapolate=3.0, frequency=5)
    save_dpt(tmp_path / "c.dpt", model.serialize())
    back = Model.deserialize(load_dpt(tmp_path / "c.dpt"))
    assert back.descriptor.compress == model.descriptor.compress
    assert back.descriptor.compress["step"] == 0.02
    inputs = _inputs(model)
    np.testing.assert_array_equal(back(**inputs)["energy"], model(**inputs)["energy"])


def test_only_a_compressed_descriptor_is_written_as_version_2(tmp_path):
    """Releases before compression read uncompressed files; a compressed one names its version."""
    model = make_variant("ener")
    assert model.serialize()["descriptor"]["@version"] == 1
    compress_model(model, 0.9)
    assert model.serialize()["descriptor"]["@version"] == 2


def test_compressing_twice_or_without_a_distance_fails():
    model = make_variant("ener")
    with pytest.raises(DptError, match="positive distance"):
        compress_model(model, 0.0)
    compress_model(model, 0.9)
    with pytest.raises(DptError, match="already compressed"):
        compress_model(model, 0.9)


def test_training_refuses_a_compressed_model():
    model = make_variant("ener")
    _refuse_compressed(model, "m.pth")  # not compressed: no error
    compress_model(model, 0.9)
    with pytest.raises(ModelFileError, match="m.pth: the model is compressed"):
        _refuse_compressed(model, "m.pth")
