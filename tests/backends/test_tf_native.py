"""The TensorFlow backend's native batch product (source/tf_ops, built at first use): the same
numbers as tf.linalg.matmul, first and second derivatives included, used by training sessions
only where it fits, and a clear fallback when it cannot be built."""

import logging

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor_tf import native  # noqa: E402
from dptensor_tf.model import TFModel  # noqa: E402
from dptensor_tf.ops import NativeTFOps, tf_ops, training_ops  # noqa: E402
from model_fixtures import make_model  # noqa: E402
from tf_helpers import batch_inputs, library  # noqa: E402,F401 (library: a fixture)

# (transpose_a, transpose_b, a shape, y shape): the descriptor's R~^T G and its derivatives
PRODUCTS = [(False, False, (3, 5, 7, 4), (3, 5, 4, 40)),
            (True, False, (3, 5, 7, 4), (3, 5, 7, 40)),
            (False, True, (3, 5, 7, 40), (3, 5, 4, 40)),
            (True, False, (0, 7, 4), (0, 7, 40))]


def _operands(a_shape, y_shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.normal(size=a_shape).astype(dtype)),
            tf.constant(rng.normal(size=y_shape).astype(dtype)))


def _op_types(fn, *args):
    graph = tf.function(fn).get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("ta, tb, a_shape, y_shape", PRODUCTS)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_values_equal_matmul(library, ta, tb, a_shape, y_shape, dtype, tol):
    a, y = _operands(a_shape, y_shape, dtype)
    got = native.batch_product(a, y, ta, tb)
    want = tf.linalg.matmul(a, y, transpose_a=ta, transpose_b=tb)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=tol)
    assert "DptBatchProduct" in _op_types(lambda a, y: native.batch_product(a, y, ta, tb), a, y)


@pytest.mark.parametrize("ta, tb, a_shape, y_shape", PRODUCTS[:3])
def test_first_and_second_derivatives_equal_matmul(library, ta, tb, a_shape, y_shape):
    a, y = _operands(a_shape, y_shape, seed=1)
    w = tf.constant(np.random.default_rng(2).normal(size=tf.linalg.matmul(
        a, y, transpose_a=ta, transpose_b=tb).shape))

    def grads(product):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch([a, y])
            with tf.GradientTape() as inner:
                inner.watch([a, y])
                value = tf.reduce_sum(product(a, y, transpose_a=ta, transpose_b=tb) * w)
            first = inner.gradient(value, [a, y])
            square = sum(tf.reduce_sum(g * g * g) for g in first)
        return [g.numpy() for g in first] + [h.numpy() for h in outer.gradient(square, [a, y])]

    for got, want in zip(grads(native.batch_product), grads(tf.linalg.matmul)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("a_shape, y_shape, ta, tb", [
    ((3, 7, 4), (3, 16, 4), False, True),   # rows of y 4 long: M1 x 4 by 4 x M2
    ((3, 40, 40), (3, 40, 40), False, False),  # nothing thin
    ((1, 7, 4), (3, 4, 40), False, False),  # batch broadcast, which only matmul does
])
def test_products_that_do_not_fit_run_batch_matmul(library, a_shape, y_shape, ta, tb):
    a, y = _operands(a_shape, y_shape)
    types = _op_types(lambda a, y: native.batch_product(a, y, ta, tb), a, y)
    assert "DptBatchProduct" not in types and "BatchMatMulV2" in types


def test_training_model_equals_plain_ops(library, monkeypatch):
    """A model with a 32-wide embedding (so that R~^T G runs natively): energy, forces, virial
    and the weights' gradient of a force loss agree with TensorFlow's own ops."""
    model = make_model("ener", descriptor={"sel": [4, 8], "neuron": [8, 32]})
    inputs = batch_inputs(model, 2, 6)
    assert isinstance(training_ops(), NativeTFOps)
    calls = []
    product = native._product
    monkeypatch.setattr(native, "_product", lambda a, y, mode: calls.append(mode) or product(a, y, mode))

    def run(ops):
        module = TFModel(model, ops=ops)
        with tf.GradientTape() as tape:
            out = module(**inputs)
            loss = tf.reduce_sum(out["force"] ** 2) + tf.reduce_sum(out["energy"])
        grads = tape.gradient(loss, module.trainable_list)
        return [out[k].numpy() for k in ("energy", "force", "virial")] + [g.numpy() for g in grads]

    native_run = run(training_ops())
    assert set(calls) == {"nn", "tn", "nt"}  # R~^T G, and its gradients in the forces and the loss
    for got, want in zip(native_run, run(tf_ops)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _fresh_load(monkeypatch, tmp_path, **env):
    monkeypatch.setattr(native, "_library", None)  # as in a new process
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "cache"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    native.load.cache_clear()
    try:
        return native.load()
    finally:
        native.load.cache_clear()


def test_switched_off(monkeypatch, tmp_path):
    assert _fresh_load(monkeypatch, tmp_path, DPT_TF_NATIVE="0") is None
    assert not (tmp_path / "cache").exists()
    try:
        assert training_ops() is tf_ops
        a, y = _operands(*PRODUCTS[0][2:])
        assert "DptBatchProduct" not in _op_types(lambda a, y: native.batch_product(a, y), a, y)
    finally:
        native.load.cache_clear()


def test_failed_build_falls_back_and_leaves_nothing(monkeypatch, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dptensor.tf"):
        assert _fresh_load(monkeypatch, tmp_path, CXX="false") is None
    assert "native kernel not built" in caplog.text and "false exited with 1" in caplog.text
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_missing_source_falls_back(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(native, "SOURCE", tmp_path / "absent.cc")
    with caplog.at_level(logging.INFO, logger="dptensor.tf"):
        assert _fresh_load(monkeypatch, tmp_path) is None
    assert "absent.cc" in caplog.text


def test_xla_sessions_and_frozen_models_keep_tensorflow_ops(library, monkeypatch):
    """The op has no XLA kernel (an XLA step with it fails to compile), and a frozen SavedModel
    must load in plain TensorFlow."""
    from dptensor.data import keys
    from dptensor.train.loss import EnerLoss
    from dptensor_tf.freeze import FrozenModel
    from dptensor_tf.session import TFSession

    model = make_model("ener", descriptor={"sel": [4, 8], "neuron": [8, 32]})
    batch = batch_inputs(model, 1, 6)
    batch.update({keys.ENERGY: np.ones(1), keys.FORCE: np.zeros((1, 6, 3)), "natoms": 6, "system": "s"})
    prefs = {"start_pref_e": 1.0, "limit_pref_e": 1.0, "start_pref_f": 1.0, "limit_pref_f": 1.0}
    loss = EnerLoss({**{f"{k}_{t}": 0.0 for k in ("start_pref", "limit_pref") for t in ("v", "ae", "h")},
                     **prefs}, start_lr=1e-3)
    monkeypatch.setenv("DPT_TF_XLA", "1")
    session = TFSession(model, loss, {"training": {}})
    assert session.xla and session.module.ops is tf_ops
    assert np.isfinite(session.train_step(loss.prepare(dict(batch)), 1e-3)["f"])
    frozen = FrozenModel(model, hessian=False)
    graph = frozen.predict.get_concrete_function().graph
    assert "DptBatchProduct" not in {op.type for op in graph.get_operations()}


def test_damaged_cached_library_is_built_again(library, monkeypatch, tmp_path, caplog):
    damaged = tmp_path / "batch_product-damaged.so"
    damaged.write_bytes(b"not a library")
    paths = [damaged, native.build()]
    monkeypatch.setattr(native, "build", lambda: paths.pop(0))
    monkeypatch.setattr(native, "_library", None)
    native.load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="dptensor.tf"):
            assert native.load() is not None
    finally:
        native.load.cache_clear()
    assert "did not load; building it again" in caplog.text and not damaged.exists() and not paths
