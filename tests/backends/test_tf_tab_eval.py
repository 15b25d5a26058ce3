"""The TensorFlow kernel of compressed models' tables (DptTabEval, source/tf_ops/tab_eval.cc): the
numbers of ``dptensor.model.tabulate.tab_eval`` for every order, its first and second derivatives
in s, unknown sizes in a graph, and SavedModels that hold it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from tf_helpers import library  # noqa: E402,F401 (a fixture)

from dptensor.model.network import Network  # noqa: E402
from dptensor.model.ops import numpy_ops  # noqa: E402
from dptensor.model.tabulate import build_table, knots, make_grid, tab_eval  # noqa: E402
from dptensor_tf import native  # noqa: E402
from dptensor_tf.ops import tf_ops  # noqa: E402

GRID = make_grid(-1.0, 9.0, 0.01, 5, 10)  # lo -1, hi 9, end 49; 1000 + 400 intervals


@pytest.fixture(scope="module")
def coef():
    net = Network(1, [25, 50, 100], None, "tanh", False, "float64", seed=1)
    return build_table(net, net.variables, GRID)  # 1400 x 6 x 100


LO, END = -1.0, 49.0


def _points():
    """s inside, at knots (hi and end among them), at lo exactly, below lo and beyond end."""
    inside = np.random.default_rng(0).uniform(LO, END, 64)
    edges = [LO, LO - 1e-12, -3.0, 9.0, END, END + 1e-9, 60.0]
    return np.concatenate([inside, knots(GRID)[::97], knots(GRID)[-3:], edges])


def _reference(coef, s, order):
    return tab_eval(numpy_ops, coef, s, GRID, order)


def _native(coef, s, order):
    return native.tab_eval(tf.constant(coef), tf.constant(s), GRID, order).numpy()


def _close(got, want, rtol):
    scale = np.abs(want).max(initial=1e-300)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_values_equal_reference(library, coef, order, dtype, rtol):
    s = _points().astype(dtype)
    got, want = _native(coef.astype(dtype), s, order), _reference(coef.astype(dtype), s, order)
    assert got.dtype == dtype and got.shape == want.shape == (len(s), 100)
    _close(got, want, rtol)
    below, beyond = s < dtype(LO), s > dtype(END)
    if order > 0:  # derivatives of the held ends
        assert not got[below | beyond].any()
    else:  # the ends' values
        for outside, end in ((below, LO), (beyond, END)):
            assert (got[outside] == got[s == dtype(end)][0]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_and_nan_inputs(library, coef, dtype):
    """No interval index out of range for s far beyond end (the reference's integer cast overflows
    there), and NaN reaches the output."""
    got = _native(coef.astype(dtype), np.array([END, 1e30, np.inf, np.nan], dtype), 0)
    np.testing.assert_array_equal(got[1:3], got[[0, 0]])
    assert np.isnan(got[3]).all()
    assert not _native(coef.astype(dtype), np.array([1e30, -np.inf], dtype), 1).any()


def test_tf_ops_runs_the_kernel(library, coef):
    s = tf.constant(_points())
    graph = tf.function(lambda c, s: tf_ops.tab_eval(c, s, GRID, 1)).get_concrete_function(coef, s).graph
    assert "DptTabEval" in {op.type for op in graph.get_operations()}
    _close(tf_ops.tab_eval(coef, s, GRID, 1).numpy(), _reference(coef, _points(), 1), 1e-12)


@pytest.mark.parametrize("order", [0, 1])
def test_first_and_second_derivatives(library, coef, order):
    s = tf.constant(_points())
    w = tf.constant(np.random.default_rng(1).normal(size=(len(_points()), 100)))
    with tf.GradientTape() as outer:
        outer.watch(s)
        with tf.GradientTape() as inner:
            inner.watch(s)
            value = tf.reduce_sum(native.tab_eval(coef, s, GRID, order) * w)
        first = inner.gradient(value, s)  # sum_j w_ij d^(r+1)
    second = outer.gradient(first, s)  # sum_j w_ij d^(r+2) (each row depends on its own s)
    for got, extra in ((first, 1), (second, 2)):
        want = np.sum(w.numpy() * _reference(coef, _points(), order + extra), axis=-1)
        _close(got.numpy(), want, 1e-12)


def test_graph_with_unknown_rows(library, coef):
    fn = tf.function(lambda s: native.tab_eval(coef, s, GRID, 2),
                     input_signature=[tf.TensorSpec([None], tf.float64)])
    assert fn.get_concrete_function().structured_outputs.shape.as_list() == [None, 100]
    for n in (0, 1, 37):
        s = _points()[:n]
        _close(fn(tf.constant(s)).numpy(), _reference(coef, s, 2), 1e-12)


def test_bad_operands_are_named(library, coef):
    s = tf.constant(_points())
    with pytest.raises(tf.errors.InvalidArgumentError, match="coef must be nint x 6 x M"):
        native._library.dpt_tab_eval(coef[0], s, native._grid_tensor(GRID))
    with pytest.raises(tf.errors.InvalidArgumentError, match="n1 \\+ n2 must equal"):
        native.tab_eval(coef[:-1], s, GRID)
    with pytest.raises(tf.errors.InvalidArgumentError, match="coef must be nint x 6 x M"):
        native.tab_eval(coef[:, :5], s, GRID)


class _Table(tf.Module):
    """A tiny module whose function evaluates a table through tf_ops (as a frozen model does)."""

    def __init__(self, coef):
        super().__init__()
        self.coef = tf.Variable(coef, trainable=False)
        self.value = tf.function(lambda s: tf_ops.tab_eval(self.coef, s, GRID, 1),
                                 input_signature=[tf.TensorSpec([None], tf.float64)])


@pytest.fixture(scope="module")
def saved_table(library, coef, tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "table.savedmodel"
    tf.saved_model.save(_Table(coef[:, :, :8]), str(path))
    return path


def test_saved_model_round_trip(saved_table, coef):
    loaded = tf.saved_model.load(str(saved_table))
    _close(loaded.value(tf.constant(_points())).numpy(), _reference(coef[:, :, :8], _points(), 1), 1e-12)


# a new process: loads the SavedModel the way ``dpt test`` does, the library not loaded before
_FRESH_PROCESS = """
import sys
import numpy as np
from dptensor.errors import ModelFileError
from dptensor_tf.freeze import _load_saved_model
try:
    table = _load_saved_model(sys.argv[1])
except ModelFileError as exc:
    print("ModelFileError:", exc)
else:
    print(table.value(np.array([0.5, 60.0])).numpy().sum(axis=-1).tolist())
"""


def _fresh_load(path, **env):
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(path)], capture_output=True, text=True,
                         env=full, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_saved_model_loads_in_a_new_process(saved_table, coef):
    want = _reference(coef[:, :, :8], np.array([0.5, 60.0]), 1).sum(axis=-1)
    np.testing.assert_allclose(json.loads(_fresh_load(saved_table)), want, rtol=1e-12, atol=0)


def test_saved_model_without_the_kernel_says_so(saved_table):
    out = _fresh_load(saved_table, DPT_TF_NATIVE="0")
    assert out.startswith("ModelFileError:") and "compressed model" in out and "DPT_TF_NATIVE=0" in out


def test_compressed_frozen_model_runs_the_kernel(library, monkeypatch):
    """A compressed model's frozen graphs (predict, hessian) hold DptTabEval and give the numbers
    of the generic table code: energy, forces, virial through the op's gradient, the Hessian
    through its orders 1 and 2."""
    from dptensor.model.compress import compress_model
    from dptensor_tf.freeze import FrozenModel
    from tf_helpers import batch_inputs, tiny_model

    model = tiny_model("ener")
    compress_model(model, 0.8)
    inputs = [tf.constant(v) for v in batch_inputs(model, 2, 6).values()]

    def run():
        frozen = FrozenModel(model)
        types = {op.type for fn in (frozen.predict, frozen.hessian)
                 for op in fn.get_concrete_function().graph.get_operations()}
        out = {k: v.numpy() for k, v in frozen.predict(*inputs).items()}
        return types, {**out, "hessian": frozen.hessian(*inputs).numpy()}

    types, got = run()
    monkeypatch.setattr(native, "tab_eval_fits", lambda coef, s: False)
    generic_types, want = run()
    assert "DptTabEval" in types and "DptTabEval" not in generic_types
    for k in want:
        _close(got[k], want[k], 1e-12)
