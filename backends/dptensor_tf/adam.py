"""Adam with the update of ``torch.optim.Adam`` and its defaults, so that both backends follow the
same trajectory (to round-off in float64) from the same weights and batches.

For a parameter p with gradient g at step t (t = 1, 2, ...), learning rate lr:

    m <- m + (1 - b1) (g - m)            v <- b2 v + (1 - b2) g^2
    p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)

b1 = 0.9, b2 = 0.999, eps = 1e-8, no weight decay. Keras' Adam adds eps before the bias
correction of v, which changes the steps; TensorFlow's fused kernel (``ResourceApplyAdam``, the
one pass over p, m and v that ``apply`` runs) does too, so it is given eps sqrt(1 - b2^t), which
makes its update the one above. Written as separate ops, the update allocated and filled five
temporaries per variable: on the polar example, whose last fitting layer has 10^6 weights, they
took a third of the step's op time.

``clip_by_total_norm`` matches ``torch.nn.utils.clip_grad_norm_``: every gradient is scaled by
min(1, max_norm / (||g|| + 1e-6)), ||g|| the 2-norm of all gradients together.
"""

import numpy as np

from dptensor_tf.env import tf

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
CLIP_EPS = 1e-6  # added to the norm before dividing, as torch does


class Adam(tf.Module):
    def __init__(self, params, names, name="adam"):
        """params: the trainable variables; names: one stable name per variable (its path),
        used for the saved state."""
        super().__init__(name=name)
        self.names = list(names)
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m = [tf.Variable(tf.zeros_like(p), trainable=False, name="m") for p in params]
        self.v = [tf.Variable(tf.zeros_like(p), trainable=False, name="v") for p in params]
        self._slot = {id(p): i for i, p in enumerate(params)}

    def apply(self, params, grads, lr):
        """One update of ``params`` (some or all of the variables given at construction) with
        their ``grads``; lr a float64 scalar tensor. Works eagerly and inside ``tf.function``.
        The step count t is shared: a variable left out here (no gradient) is left out at
        every step, so it equals torch's per-parameter count for the variables that train."""
        t = tf.cast(self.iterations.assign_add(1), tf.float64)
        b1_power, b2_power = BETA1**t, BETA2**t
        eps = EPS * tf.sqrt(1.0 - b2_power)  # torch's eps, before the bias correction of v
        scalars = {}  # per dtype: beta1^t, beta2^t, lr, beta1, beta2, eps
        for p, g in zip(params, grads):
            if p.dtype not in scalars:  # a Python float straight to the dtype (tf.cast: via float32)
                scalars[p.dtype] = ([tf.cast(x, p.dtype) for x in (b1_power, b2_power, lr)]
                                    + [tf.constant(x, p.dtype) for x in (BETA1, BETA2)] + [tf.cast(eps, p.dtype)])
            b1p, b2p, rate, b1, b2, epsilon = scalars[p.dtype]
            slot = self._slot[id(p)]
            tf.raw_ops.ResourceApplyAdam(var=p.handle, m=self.m[slot].handle, v=self.v[slot].handle,
                                         beta1_power=b1p, beta2_power=b2p, lr=rate, beta1=b1, beta2=b2,
                                         epsilon=epsilon, grad=g)

    # state ---------------------------------------------------------------------------------
    def state(self):
        """{"step": int, "m": {name: array}, "v": {name: array}} (numpy), for checkpoints."""
        return {"step": int(self.iterations.numpy()),
                "m": {n: m.numpy() for n, m in zip(self.names, self.m)},
                "v": {n: v.numpy() for n, v in zip(self.names, self.v)}}

    def load_state(self, state):
        """Restore ``state()``; moments of variables the state does not name stay zero."""
        self.iterations.assign(int(state.get("step", 0)))
        for key, slots in (("m", self.m), ("v", self.v)):
            saved = state.get(key) or {}
            for name, slot in zip(self.names, slots):
                if name in saved:
                    slot.assign(np.asarray(saved[name], dtype=slot.dtype.as_numpy_dtype))


def clip_by_total_norm(grads, max_norm):
    """Gradients scaled as torch's clip_grad_norm_ does (see the module docstring)."""
    total = tf.sqrt(tf.add_n([tf.reduce_sum(tf.cast(g, tf.float64) ** 2) for g in grads]))
    scale = tf.minimum(tf.constant(1.0, tf.float64), float(max_norm) / (total + CLIP_EPS))
    return [g * tf.cast(scale, g.dtype) for g in grads]
