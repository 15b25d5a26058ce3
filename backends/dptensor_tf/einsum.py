"""Two-operand einsums as TensorFlow matrix products.

TensorFlow's ``Einsum`` kernel, and the ``Einsum`` ops of its gradient, run the model's batched
contractions (``"flnd,flnm->fldm"``: per atom, R~^T G over the neighbor slots) several times slower
than ``BatchMatMulV2`` with adjoint flags, whose gradients are again adjoint products: in an energy
training step these einsums took a third of the op time. ``einsum`` below writes such a
contraction as one product, when its operands can be read as (batch, rows, inner) blocks without
moving data (only reshapes and the adjoint flags), and as a broadcast product and sum when one
side has no free index. Anything else goes to ``tf.einsum``.
"""

from dptensor_tf.env import tf


def einsum(expr, *xs, product=tf.linalg.matmul):
    """``tf.einsum``, with plain batched products run by ``product`` (``tf.linalg.matmul`` or
    a function with its signature, such as ``native.batch_product``)."""
    if len(xs) == 2:
        plan = _plan(expr, product)
        if plan is not None:
            return plan(*xs)
    return tf.einsum(expr, *xs)


def _plan(expr, product=tf.linalg.matmul):
    """A function of the two operands, or None when ``expr`` is not a plain batched product."""
    inputs, out = expr.replace(" ", "").split("->")
    a, b = inputs.split(",")
    if "." in expr or any(len(set(s)) != len(s) for s in (a, b, out)):
        return None
    batch = _common_prefix(a, b, out)
    ra, rb, ro = a[len(batch):], b[len(batch):], out[len(batch):]
    contr = [c for c in ra if c in rb and c not in ro]
    fa, fb = [c for c in ra if c not in contr], [c for c in rb if c not in contr]
    if set(fa) & set(fb) or set(fa + fb) != set(ro) or any(c in batch for c in fa + fb + contr):
        return None
    if not contr:
        return None
    if not fa or not fb:  # a matrix-vector product: broadcast and sum
        return _broadcast_sum(a, b, out, contr)
    layout_a = _layout(ra, fa, contr)  # None, or adjoint flag
    layout_b = _layout(rb, contr, fb)
    if layout_a is None or layout_b is None:
        return None
    if ro == "".join(fa + fb):
        swap = False
    elif ro == "".join(fb + fa):
        swap = True
    else:
        return None
    nb = len(batch)

    def run(x, y):
        sx, sy = _dims(x), _dims(y)
        lead = sx[:nb]
        xa = tf.reshape(x, [*lead, *_merge(sx[nb:], ra, fa, contr)])
        yb = tf.reshape(y, [*lead, *_merge(sy[nb:], rb, contr, fb)])
        if swap:
            prod = product(yb, xa, transpose_a=not layout_b, transpose_b=not layout_a)
            shape = [*lead, *_sizes(sy[nb:], rb, fb), *_sizes(sx[nb:], ra, fa)]
        else:
            prod = product(xa, yb, transpose_a=layout_a, transpose_b=layout_b)
            shape = [*lead, *_sizes(sx[nb:], ra, fa), *_sizes(sy[nb:], rb, fb)]
        return tf.reshape(prod, shape)

    return run


def _common_prefix(a, b, out):
    n = 0
    while n < min(len(a), len(b), len(out)) and a[n] == b[n] == out[n]:
        n += 1
    return a[:n]


def _layout(rest, first, second):
    """False when ``rest`` is ``first`` then ``second`` (in order), True when ``second`` then
    ``first`` (read with the adjoint flag), else None."""
    if rest == "".join(first + second):
        return False
    if rest == "".join(second + first):
        return True
    return None


def _dims(x):
    static = x.shape.as_list()
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def _sizes(dims, letters, wanted):
    return [dims[letters.index(c)] for c in wanted]


def _product(sizes):
    out = 1
    for s in sizes:
        out = out * s
    return out


def _merge(dims, letters, first, second):
    """The operand's non-batch dimensions as two: the product of ``first``'s sizes and of
    ``second``'s, in the order they sit in ``letters``."""
    groups = (first, second) if letters.startswith("".join(first)) else (second, first)
    return [_product(_sizes(dims, letters, g)) for g in groups]


def _broadcast_sum(a, b, out, contr):
    """x * y broadcast over the union of the letters, summed over ``contr``: for a side
    without a free index (e.g. ``"flnk,flnkx->flnx"``). None unless both operands and the
    output keep the union's order."""
    union = list(a) + [c for c in b if c not in a]
    if "".join(c for c in union if c in b) != b or "".join(c for c in union if c not in contr) != out:
        return None

    def expand(x, letters):
        dims, k, target = _dims(x), 0, []
        for c in union:
            if c in letters:
                target.append(dims[k])
                k += 1
            else:
                target.append(1)
        return tf.reshape(x, target)

    def run(x, y):
        return tf.reduce_sum(expand(x, a) * expand(y, b), axis=[union.index(c) for c in contr])

    return run
