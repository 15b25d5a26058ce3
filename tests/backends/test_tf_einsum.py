"""The TensorFlow backend's einsum: batched products written as BatchMatMul (with adjoint flags),
matrix-vector contractions as broadcast sums, everything else through tf.einsum; all equal
numpy's einsum, and so do their first and second derivatives (the trainer differentiates forces)."""

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor_tf.einsum import _plan, einsum  # noqa: E402

SIZES = dict(zip("flndmkxabcehijt", [2, 3, 4, 5, 6, 4, 3, 2, 3, 3, 3, 4, 5, 2, 3]))
PLANNED = ["flnd,flnm->fldm", "flid,fljd->flij", "flnk,flnkx->flnx", "flna,flnb->fab",
           "fldm,flnm->flnd", "fnma,mah->fnh", "fnma,fnbda->fnbdm", "tkd,tkm->tdm", "flm,flmd->fld",
           "flkm,flmi->flki", "flndce,flnd->flnce"]
FALLBACK = ["flndc,flnm->flncdm", "mah,fnad->fndmh", "fnadm,fnbdm->fab", "flm,flmi,flmj->flij"]


def _operands(expr, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=[SIZES[c] for c in part]) for part in expr.split("->")[0].split(",")]


@pytest.mark.parametrize("expr", PLANNED + FALLBACK)
def test_values(expr):
    if expr.count(",") == 1:
        assert (_plan(expr) is not None) == (expr in PLANNED)
    xs = _operands(expr)
    got = einsum(expr, *[tf.constant(x) for x in xs]).numpy()
    np.testing.assert_allclose(got, np.einsum(expr, *xs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("expr", PLANNED)
def test_first_and_second_derivatives(expr):
    xs = [tf.constant(x) for x in _operands(expr, seed=1)]
    out_shape = np.einsum(expr, *_operands(expr)).shape
    w = tf.constant(np.random.default_rng(3).normal(size=out_shape))

    def grads(fn):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(xs)
            with tf.GradientTape() as inner:
                inner.watch(xs)
                y = tf.reduce_sum(fn(expr, *xs) * w)
            g = inner.gradient(y, xs)
            s = sum(tf.reduce_sum(gi * gi) for gi in g)
        return [gi.numpy() for gi in g] + [h.numpy() for h in outer.gradient(s, xs)]

    for got, want in zip(grads(einsum), grads(tf.einsum)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
