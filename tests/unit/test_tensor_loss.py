"""The huber option of the tensor loss: the standard Huber function averaged like the mse, the
reported terms still mean squared errors, and the same numbers in every backend's ops."""

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.model.ops import numpy_ops
from dptensor.model.output_def import DIPOLE, POLAR, tensor_output
from dptensor.train.loss import TensorLoss, _huber, make_loss

NF, NAT = 3, 5
ATYPE = np.array([0, 1, 0, 1, 1])  # atoms 0 and 2 are selected (sel_type [0])


def huber_reference(d, delta):
    a = np.abs(d)
    return np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def batch_and_pred(od, scale, seed=0):
    rng = np.random.default_rng(seed)
    batch = {keys.ATYPE: np.tile(ATYPE, (NF, 1)), keys.NLIST: np.zeros((NF, NAT, 2), int),
             keys.SHIFT: np.zeros((NF, NAT, 2, 3)),
             od.atomic_label: rng.normal(size=(NF, NAT) + od.shape),
             od.label: rng.normal(size=(NF,) + od.shape)}
    pred = {od.atomic_name: scale * rng.normal(size=(NF, 2) + od.shape),
            od.name: scale * rng.normal(size=(NF,) + od.shape)}
    return batch, pred


@pytest.mark.parametrize("delta", [0.05, 0.5, 10.0])
def test_huber_is_quadratic_then_linear(delta):
    d = np.linspace(-3.0, 3.0, 61)
    assert float(_huber(numpy_ops, d, delta)) == pytest.approx(huber_reference(d, delta).mean(),
                                                               rel=1e-13)


@pytest.mark.parametrize("od", [DIPOLE, POLAR, tensor_output("bec", 2)], ids=["dipole", "polar",
                                                                              "tensor"])
def test_huber_loss_weighs_huber_and_reports_mse(od):
    cfg = {"pref": 0.7, "pref_atomic": 3.0, "loss_func": "huber", "huber_delta": 0.3}
    loss = TensorLoss(cfg, od, sel_type=[0])
    batch, pred = batch_and_pred(od, scale=2.0)
    batch = loss.prepare(batch)
    total, parts = loss.compute(numpy_ops, pred, batch, lr=1e-3)
    d_lc = pred[od.atomic_name] - batch[od.atomic_label]
    d_gl = (pred[od.name] - batch[od.label]) / 2.0  # two selected atoms
    assert parts["lc"] == pytest.approx(np.mean(d_lc**2), rel=1e-12)  # still the mse
    assert parts["gl"] == pytest.approx(np.mean(d_gl**2), rel=1e-12)
    want = 3.0 * huber_reference(d_lc, 0.3).mean() + 0.7 * huber_reference(d_gl, 0.3).mean()
    assert float(total) == pytest.approx(want, rel=1e-12)
    assert float(total) < 3.0 * parts["lc"] + 0.7 * parts["gl"]  # residuals beyond delta


def test_huber_with_a_large_delta_is_half_the_mse():
    od = tensor_output("t", 2)
    batch, pred = batch_and_pred(od, scale=0.1, seed=3)
    mse = TensorLoss({"pref": 1.0, "pref_atomic": 1.0}, od, [0])
    hub = TensorLoss({"pref": 1.0, "pref_atomic": 1.0, "loss_func": "huber",
                      "huber_delta": 1e3}, od, [0])
    b1, b2 = mse.prepare(dict(batch)), hub.prepare(dict(batch))
    assert float(hub.compute(numpy_ops, pred, b2, 1.0)[0]) == pytest.approx(
        0.5 * float(mse.compute(numpy_ops, pred, b1, 1.0)[0]), rel=1e-12)


def test_make_loss_passes_the_options():
    class FakeModel:
        output_def = tensor_output("bec", 2)
        sel_type = [0]

    loss = make_loss({"type": "tensor", "pref": 1.0, "pref_atomic": 0.0, "loss_func": "huber",
                      "huber_delta": 0.2}, {"start_lr": 1e-3}, FakeModel())
    assert (loss.loss_func, loss.huber_delta) == ("huber", 0.2)
    assert loss.label_keys() == ["bec"]


def _backend_ops():
    out = []
    try:
        from dptensor_pt.ops import torch_ops
        out.append(("torch", torch_ops))
    except ImportError:
        pass
    try:
        from dptensor_tf.ops import tf_ops
        out.append(("tf", tf_ops))
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("name, ops", _backend_ops(), ids=lambda x: x if isinstance(x, str) else "")
def test_backends_compute_the_same_huber(name, ops):
    d = np.linspace(-2.0, 2.0, 41)
    got = _huber(ops, ops.asarray(d), 0.4)
    value = got.numpy() if hasattr(got, "numpy") else got
    assert float(value) == pytest.approx(huber_reference(d, 0.4).mean(), rel=1e-13)
    assert np.allclose(np.asarray(ops.minimum(ops.asarray(d), 0.5)), np.minimum(d, 0.5))
    assert np.allclose(np.asarray(ops.abs(ops.asarray(d))), np.abs(d))


def test_torch_gradient_is_the_clipped_residual():
    torch = pytest.importorskip("torch")
    from dptensor_pt.ops import torch_ops

    d = torch.linspace(-2.0, 2.0, 41, dtype=torch.float64, requires_grad=True)
    _huber(torch_ops, d, 0.4).backward()
    want = np.clip(np.linspace(-2.0, 2.0, 41), -0.4, 0.4) / 41
    np.testing.assert_allclose(d.grad.numpy(), want, atol=1e-15)
