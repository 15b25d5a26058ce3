"""Fully connected networks used as embedding and fitting nets.

A hidden layer maps x (.. x n_in) to y = act(x W + b); a shortcut is added when the width stays
(y += x) or doubles (y += [x, x]). With ``resnet_dt`` the layers that have a shortcut scale y by a
per-unit timestep ``idt`` before adding it (as DeePMD-kit does: a layer without a shortcut has no
timestep, so its output keeps the full range of the activation). A layer's ``idt`` is applied
whenever it is stored, which keeps files written before this rule evaluating as they did.
A fitting net ends with a linear layer of width ``out_dim``. Weights are stored (n_in, n_out).

Initialization (the same for every backend, since backends load these arrays): W ~ N(0, 1/(n_in+n_out)),
b ~ N(0, 1), idt ~ N(0.1, 0.001^2).
"""

import numpy as np

from dptensor.model.serial import Serializable

ACTIVATIONS = ("tanh", "gelu", "relu", "softplus", "sigmoid", "linear")


def make_rng(seed, *stream):
    """A numpy Generator for one network: distinct streams for distinct (seed, stream) pairs;
    seed None gives fresh entropy."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), *[int(s) for s in stream]])


def dense(ops, x, w, b):
    """x W + b with the leading dimensions folded into one, so that every framework (and
    vectorizing transforms such as torch.func.vmap) runs a single matrix product."""
    shape = ops.shape(x)
    y = ops.affine(ops.reshape(x, (-1, shape[-1])), w, b)
    return ops.reshape(y, (*shape[:-1], ops.shape(w)[-1]))


def activate(ops, name, x):
    if name in ("linear", "none"):
        return x
    return getattr(ops, name)(x)


def activation_derivs(ops, name, x):
    """act(x), act'(x), act''(x) of a named activation, written out (the Hessians use them)."""
    if name in ("linear", "none"):
        one = 0.0 * x + 1.0
        return x, one, 0.0 * x
    if name == "tanh":
        a = ops.tanh(x)
        d = 1.0 - a * a
        return a, d, -2.0 * a * d
    if name == "relu":
        step = ops.astype(x > 0, ops.dtype_of(x))
        return ops.relu(x), step, 0.0 * x
    if name in ("sigmoid", "softplus"):
        s = ops.sigmoid(x)
        d = s * (1.0 - s)
        if name == "softplus":
            return ops.softplus(x), s, d
        return s, d, d * (1.0 - 2.0 * s)
    if name == "gelu":  # 0.5 x (1 + tanh(u)), u = c (x + k x^3)
        c, k = float(np.sqrt(2.0 / np.pi)), 0.044715
        t = ops.tanh(c * (x + k * x * x * x))
        sech2 = 1.0 - t * t
        du, ddu = c * (1.0 + 3.0 * k * x * x), 6.0 * c * k * x
        return (0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * sech2 * du,
                sech2 * (du + 0.5 * x * (ddu - 2.0 * t * du * du)))
    raise ValueError(f"unknown activation function {name!r}; known: {', '.join(ACTIVATIONS)}")


class Network(Serializable):
    """An embedding net (``out_dim`` None: the last hidden layer is the output) or a fitting net.

    Shapes: input ... x in_dim, output ... x (out_dim or neuron[-1]).
    """

    def __init__(self, in_dim, neuron, out_dim=None, activation_function="tanh", resnet_dt=False,
                 precision="float64", seed=None, stream=(), variables=None):
        self.in_dim = int(in_dim)
        self.neuron = [int(n) for n in neuron]
        self.out_dim = None if out_dim is None else int(out_dim)
        self.activation_function = activation_function
        self.resnet_dt = bool(resnet_dt)
        self.precision = precision
        self.variables = variables if variables is not None else self._init(make_rng(seed, *stream))

    @property
    def dims(self):
        return [self.in_dim, *self.neuron]

    def _init(self, rng):
        dtype = np.dtype(self.precision)
        layers = []
        dims = self.dims
        for n_in, n_out in zip(dims[:-1], dims[1:]):
            layer = {
                "w": (rng.normal(size=(n_in, n_out)) / np.sqrt(n_in + n_out)).astype(dtype),
                "b": rng.normal(size=(n_out,)).astype(dtype),
            }
            if self.resnet_dt and n_out in (n_in, 2 * n_in):
                layer["idt"] = rng.normal(loc=0.1, scale=0.001, size=(n_out,)).astype(dtype)
            layers.append(layer)
        if self.out_dim is not None:
            n_in = dims[-1]
            layers.append({
                "w": (rng.normal(size=(n_in, self.out_dim)) / np.sqrt(n_in + self.out_dim)).astype(dtype),
                "b": rng.normal(size=(self.out_dim,)).astype(dtype),
            })
        return {"layers": layers}

    @property
    def first_shortcut(self):
        """Whether the first hidden layer adds its input (width kept or doubled)."""
        return bool(self.neuron) and self.neuron[0] in (self.in_dim, 2 * self.in_dim)

    def call(self, ops, v, x):
        """Apply the net with variables ``v`` (same structure as ``self.variables``)."""
        layers = v["layers"]
        n_hidden = len(self.neuron)
        for k in range(n_hidden):
            layer = layers[k]
            y = activate(ops, self.activation_function, dense(ops, x, layer["w"], layer["b"]))
            if "idt" in layer:
                y = y * layer["idt"]
            n_in, n_out = self.dims[k], self.dims[k + 1]
            if n_out == n_in:
                y = y + x
            elif n_out == 2 * n_in:
                # y + [x, x] without materializing the concatenation
                shape = ops.shape(y)
                y = ops.reshape(ops.reshape(y, (*shape[:-1], 2, n_in)) + x[..., None, :], shape)
            x = y
        if self.out_dim is not None:
            last = layers[n_hidden]
            x = dense(ops, x, last["w"], last["b"])
        return x

    def call_derivs(self, ops, v, x):
        """An embedding net (no output layer) on a column x (rows x 1) with its first and second
        derivatives in x: (y, dy/dx, d2y/dx2), each rows x neuron[-1]. The value and the two
        derivatives go through each layer's weights as one matrix product."""
        d1, d2 = 0.0 * x + 1.0, 0.0 * x
        for k, layer in enumerate(v["layers"][:len(self.neuron)]):
            z = ops.matmul(ops.concat([x[None], d1[None], d2[None]], axis=0), layer["w"])
            z0, z1, z2 = z[0], z[1], z[2]
            a, da, dda = activation_derivs(ops, self.activation_function, z0 + layer["b"])
            y = [a, da * z1, dda * z1 * z1 + da * z2]
            if "idt" in layer:
                y = [t * layer["idt"] for t in y]
            n_in, n_out = self.dims[k], self.dims[k + 1]
            if n_out in (n_in, 2 * n_in):
                y = [t + (s if n_out == n_in else ops.concat([s, s], axis=-1)) for t, s in zip(y, (x, d1, d2))]
            x, d1, d2 = y
        return x, d1, d2

    def __call__(self, x):
        from dptensor.model.ops import numpy_ops

        return self.call(numpy_ops, self.variables, x)

    serial_class = "Network"

    def serial_type(self):
        return "fitting" if self.out_dim is not None else "embedding"

    def config(self):
        return {"in_dim": self.in_dim, "neuron": list(self.neuron), "out_dim": self.out_dim,
                "activation_function": self.activation_function, "resnet_dt": self.resnet_dt,
                "precision": self.precision}

