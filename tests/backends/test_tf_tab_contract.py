"""The fused TensorFlow kernel of a compressed descriptor's R~^T G (DptTabContract and
DptTabContractGrad, source/tf_ops/tab_contract.cc): the numbers of
``dptensor.model.tabulate.tab_contract``, its first and second derivatives against the generic
composition (DptTabEval and a product), unknown sizes in a graph, and frozen compressed models."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor.model.network import Network  # noqa: E402
from dptensor.model.ops import numpy_ops  # noqa: E402
from dptensor.model.tabulate import build_table, knots, make_grid, tab_contract  # noqa: E402
from dptensor_tf import native  # noqa: E402
from dptensor_tf.ops import tf_ops  # noqa: E402

GRID = make_grid(-1.0, 9.0, 0.01, 5, 10)  # lo -1, hi 9, end 49; 1000 + 400 intervals
LO, END = -1.0, 49.0
M = 100


@pytest.fixture(scope="module")
def library():
    if native.load() is None:
        pytest.skip(f"the native kernels are not available: {native.why_unavailable()}")
    return native._library


@pytest.fixture(scope="module")
def coef():
    net = Network(1, [25, 50, M], None, "tanh", False, "float64", seed=1)
    return build_table(net, net.variables, GRID)  # 1400 x 6 x 100


def _operands(nf=2, nloc=5, w=24, seed=0):
    """s (nf x nloc x w) inside, at knots, at lo, below lo and beyond end, with runs of one value
    (as the empty slots of a block); r (nf x nloc x w x 4) with zero rows and an all-zero atom."""
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.uniform(LO, END, 32), knots(GRID)[::211], knots(GRID)[-2:],
                           [LO, LO - 1e-12, -3.0, 9.0, END, END + 1e-9, 60.0]])
    s = rng.choice(pool, size=(nf, nloc, w))
    s[..., w - 5:] = LO  # empty slots
    s[0, 0, 3:7] = s[0, 0, 2]  # a run inside the table
    r = rng.normal(size=(nf, nloc, w, 4))
    r[0, 1, ::3] = 0.0
    r[1, 2] = 0.0  # an atom of another center type
    return s, r


def _close(got, want, rtol):
    scale = np.abs(want).max(initial=1e-300)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


def _generic(coef, s, r):
    """The definition on TensorFlow tensors: DptTabEval, then a batched product."""
    return tab_contract(tf_ops, tf.constant(coef), s, r, GRID)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_values_equal_reference(library, coef, dtype, rtol):
    s, r = (x.astype(dtype) for x in _operands())
    c = coef.astype(dtype)
    got = native.tab_contract(tf.constant(c), tf.constant(s), tf.constant(r), GRID).numpy()
    want = tab_contract(numpy_ops, c, s, r, GRID)
    assert got.dtype == dtype and got.shape == want.shape == (2, 5, 4, M)
    _close(got, want, rtol)
    assert not got[1, 2].any()


def test_held_ends(library, coef):
    """Below lo and beyond end the table holds its end values."""
    r = np.ones((1, 2, 1, 4))
    s = np.array([[[LO - 2.0], [END + 5.0]]])
    at_ends = np.array([[[LO], [END]]])
    got, want = (native.tab_contract(coef, tf.constant(x), tf.constant(r), GRID).numpy() for x in (s, at_ends))
    np.testing.assert_array_equal(got, want)


def test_nan_reaches_the_output(library, coef):
    s, r = np.array([[np.nan, np.nan, 1.0]]), np.zeros((1, 3, 4))
    out = native.tab_contract(coef, tf.constant(s), tf.constant(r), GRID)
    assert np.isnan(out.numpy()).all()  # 0 * NaN, as in the definition


def _derivatives(fn, coef, s, r, w_out, v_s, v_r):
    """First derivatives of sum(fn * w_out) in s and r, and second derivatives of
    sum(ds * v_s) + sum(dr * v_r) in s, r and w_out (the incoming gradient of the first)."""
    s, r, w_out = (tf.constant(x) for x in (s, r, w_out))
    with tf.GradientTape() as outer:
        outer.watch([s, r, w_out])
        with tf.GradientTape() as inner:
            inner.watch([s, r])
            value = tf.reduce_sum(fn(coef, s, r) * w_out)
        ds, dr = inner.gradient(value, [s, r])
        mixed = tf.reduce_sum(ds * v_s) + tf.reduce_sum(dr * v_r)
    return [ds, dr, *outer.gradient(mixed, [s, r, w_out])]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-4)])
def test_first_and_second_derivatives(library, coef, dtype, rtol):
    s, r = _operands()
    rng = np.random.default_rng(1)
    extra = rng.normal(size=(2, 5, 4, M)), rng.normal(size=s.shape), rng.normal(size=r.shape)
    args = [x.astype(dtype) for x in (coef, s, r, *extra)]
    got = _derivatives(lambda c, s, r: native.tab_contract(c, s, r, GRID), *args)
    want = _derivatives(_generic, *args)
    for name, g, w in zip(("ds", "dr", "d2s", "d2r", "d2u"), got, want):
        assert g is not None and g.dtype == dtype, name
        _close(g.numpy(), w.numpy(), rtol)


def test_second_derivative_in_s_alone(library, coef):
    """A tape that differentiates only grad_s (grad_r's incoming gradient is None)."""
    s, r = (tf.constant(x) for x in _operands())
    grads = []
    for fn in (lambda: native.tab_contract(coef, s, r, GRID), lambda: _generic(coef, s, r)):
        with tf.GradientTape() as outer:
            outer.watch(s)
            with tf.GradientTape() as inner:
                inner.watch(s)
                value = tf.reduce_sum(fn() ** 2)
            first = tf.reduce_sum(inner.gradient(value, s) ** 2)
        grads.append(outer.gradient(first, s).numpy())
    _close(*grads, 1e-11)


def test_graph_with_unknown_sizes(library, coef):
    spec = [tf.TensorSpec([None, None, None], tf.float64), tf.TensorSpec([None, None, None, 4], tf.float64)]

    def value_and_forces(s, r):
        with tf.GradientTape() as tape:
            tape.watch([s, r])
            out = tf_ops.tab_contract(coef, s, r, GRID)
            value = tf.reduce_sum(out ** 2)
        return out, tape.gradient(value, [s, r])

    fn = tf.function(value_and_forces, input_signature=spec)
    concrete = fn.get_concrete_function()
    assert concrete.structured_outputs[0].shape.as_list() == [None, None, 4, M]
    types = {op.type for op in concrete.graph.get_operations()}
    assert {"DptTabContract", "DptTabContractGrad"} <= types and "BatchMatMulV2" not in types
    for nf, nloc, w in ((2, 5, 24), (1, 1, 7), (1, 0, 24), (0, 3, 24)):
        s, r = (x[:nf, :nloc, :w] for x in _operands(2, 5, 24))
        out, (ds, dr) = fn(tf.constant(s), tf.constant(r))
        assert out.shape == (nf, nloc, 4, M) and ds.shape == s.shape and dr.shape == r.shape
        _close(out.numpy(), tab_contract(numpy_ops, coef, s, r, GRID), 1e-12)


def test_tf_ops_falls_back_to_the_composition(library, coef, monkeypatch):
    s, r = (tf.constant(x) for x in _operands())
    graph = tf.function(lambda s, r: tf_ops.tab_contract(coef, s, r, GRID)).get_concrete_function(s, r).graph
    assert "DptTabContract" in {op.type for op in graph.get_operations()}
    monkeypatch.setattr(native, "tab_contract_fits", lambda coef, s, r: False)
    graph = tf.function(lambda s, r: tf_ops.tab_contract(coef, s, r, GRID)).get_concrete_function(s, r).graph
    types = {op.type for op in graph.get_operations()}
    assert "DptTabContract" not in types and "DptTabEval" in types


def test_bad_operands_are_named(library, coef):
    s, r = (tf.constant(x.reshape(10, 24, *x.shape[3:])) for x in _operands())
    grid = native._grid_tensor(GRID)
    with pytest.raises(tf.errors.InvalidArgumentError, match="r must be B x w x 4"):
        library.dpt_tab_contract(coef, s, r[:, :-1], grid)
    with pytest.raises(tf.errors.InvalidArgumentError, match="coef must be nint x 6 x M"):
        library.dpt_tab_contract(coef[:, :5], s, r, grid)
    with pytest.raises(tf.errors.InvalidArgumentError, match="n1 \\+ n2 must equal"):
        library.dpt_tab_contract(coef[:-1], s, r, grid)
    with pytest.raises(tf.errors.InvalidArgumentError, match="grad must be B x 4 x M"):
        library.dpt_tab_contract_grad(coef, s, r, grid, tf.zeros([10, 4, M - 1], tf.float64))


@pytest.mark.parametrize("name", ["ener", "ener-one-side-exclude"])
def test_compressed_frozen_model_runs_the_kernel(library, monkeypatch, name):
    """A compressed model's frozen graph holds DptTabContract (and its gradient, for forces and
    virial) and gives the numbers of the generic composition."""
    from dptensor.model.compress import compress_model
    from dptensor_tf.freeze import FrozenModel
    from tf_helpers import batch_inputs, tiny_model

    model = tiny_model(name)
    compress_model(model, 0.8)
    inputs = [tf.constant(v) for v in batch_inputs(model, 2, 6).values()]

    def run():
        frozen = FrozenModel(model, hessian=False)
        types = {op.type for op in frozen.predict.get_concrete_function().graph.get_operations()}
        return types, {k: v.numpy() for k, v in frozen.predict(*inputs).items()}

    types, got = run()
    monkeypatch.setattr(native, "tab_contract_fits", lambda coef, s, r: False)
    generic_types, want = run()
    assert {"DptTabContract", "DptTabContractGrad"} <= types
    assert "DptTabContract" not in generic_types and "DptTabEval" in generic_types
    assert {"energy", "force", "virial"} <= set(want)
    for k in want:
        _close(got[k], want[k], 1e-12)


def test_header_is_part_of_the_cache_key(tmp_path, monkeypatch):
    """A change to tabulate.h (included, not compiled alone) builds the library again."""
    header = tmp_path / "tabulate.h"
    header.write_text("// one\n")
    monkeypatch.setattr(native, "HEADERS", (header,))
    first = native.library_path()
    header.write_text("// two\n")
    assert native.library_path() != first


class _Contract(tf.Module):
    """A tiny module whose function runs tf_ops.tab_contract (as a frozen model does)."""

    def __init__(self, coef):
        super().__init__()
        self.coef = tf.Variable(coef, trainable=False)
        self.value = tf.function(lambda s, r: tf_ops.tab_contract(self.coef, s, r, GRID),
                                 input_signature=[tf.TensorSpec([None, None], tf.float64),
                                                  tf.TensorSpec([None, None, 4], tf.float64)])


_FRESH_PROCESS = """
import sys
import numpy as np
from dptensor_tf.freeze import _load_saved_model
module = _load_saved_model(sys.argv[1])
print(module.value(np.array([[0.5, 60.0]]), np.ones((1, 2, 4))).numpy().sum(axis=(-1, -2)).tolist())
"""


def test_saved_model_loads_in_a_new_process(library, coef, tmp_path):
    """A SavedModel that holds DptTabContract alone (no DptTabEval) loads the library first."""
    path = tmp_path / "contract.savedmodel"
    tf.saved_model.save(_Contract(coef[:, :, :8]), str(path))
    assert b"DptTabEval" not in (path / "saved_model.pb").read_bytes()
    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(path)], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    assert run.returncode == 0, run.stderr
    want = tab_contract(numpy_ops, coef[:, :, :8], np.array([[[0.5, 60.0]]]), np.ones((1, 1, 2, 4)), GRID)
    np.testing.assert_allclose(json.loads(run.stdout.strip()), want.sum(axis=(-1, -2))[0], rtol=1e-12)
