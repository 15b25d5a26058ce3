"""The fitting side of the energy Hessian (``hessian``): for phi(X) = sum_i E_i, the energy as a
function of X_i (nf x nat x 4 x M1), and the tangents A = dX/dx (nf x nat x 3nat x 4 x M1),
the curvature sum_i A_i^T (d2phi_i/dX_i^2) A_i (nf x 3nat x 3nat) and g = dphi/dX.

It works in the space of the first fitting layer's pre-activation z_i = D_i W + b (width H),
where D_i = T_i T_i<^T (T_i = X_i^T / nnei, T< its first M2 rows) is bilinear in X, so

    d2phi/dX2 [a, b] = (dz/dX a)^T (d2f/dz2) (dz/dX b)  +  <df/dD, d2D/dX2 [a, b]>

with f the rest of the net. dz/dX (K, 4 x M1 x H per atom) is formed once per atom from W and
T, so a tangent costs one (4 M1) x H product instead of forming its M1 x M2 change of D and
the 1600-wide layer; d2f/dz2 is a sum over the activation layers (``rest_curvature``); the
last term is sum_{m,a} (df/dD)_{ma} (dT_a[m] . dT_b[a] + dT_b[m] . dT_a[a]).
"""

import numpy as np

from dptensor.model.network import activation_derivs


def fitting_curvature(model, ops, v, xyz, jac, atype, groups=None):
    """(curvature nf x 3nat x 3nat, g nf x nat x 4 x M1) for an energy fitting with variables v.
    With ``groups`` (atom positions per type, the same in every frame) each type's net runs on
    its atoms; without, on every atom, weighted by the atom's type."""
    fitting = model.fitting
    nets, vnets = fitting.nets, v["nets"]
    curvature, gs = None, []
    if groups is None:
        g = None
        for t in fitting.sel_type:
            weight = ops.astype(atype == t, ops.dtype_of(xyz))
            part, g_t = _type_block(model.descriptor, nets[t], ops, vnets[t], xyz, jac, weight)
            curvature = part if curvature is None else curvature + part
            g = g_t if g is None else g + g_t
        return _or_zero(ops, curvature, jac), (0.0 * xyz if g is None else g)
    chosen = [t for t in fitting.sel_type if groups[t].size]
    for t in chosen:
        idx = groups[t]
        part, g_t = _type_block(model.descriptor, nets[t], ops, vnets[t], ops.take(xyz, idx, axis=1),
                                ops.take(jac, idx, axis=1), None)
        curvature = part if curvature is None else curvature + part
        gs.append(g_t)
    return _or_zero(ops, curvature, jac), _in_atom_order(ops, gs, [groups[t] for t in chosen], xyz)


def _or_zero(ops, curvature, jac):
    """The curvature, or zeros when no atom has an energy."""
    if curvature is not None:
        return curvature
    nf, _, nb = ops.shape(jac)[:3]
    return ops.zeros((nf, nb, nb), ops.dtype_of(jac))


def _in_atom_order(ops, parts, positions, like):
    """Per-type blocks of atoms (parts[k] at positions[k], numpy) back in atom order; atoms in
    no block get zeros."""
    nat = ops.shape(like)[1]
    order = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    inverse = np.full(nat, order.size, dtype=np.int64)
    inverse[order] = np.arange(order.size)
    zero = 0.0 * like[:, :1]
    return ops.take(ops.concat([*parts, zero], axis=1), inverse, axis=1)


def _type_block(desc, net, ops, v, xyz, jac, weight):
    """One type's net on atoms xyz (nf x n x 4 x M1) with tangents jac (nf x n x 3nat x 4 x
    M1); ``weight`` (nf x n or None) scales each atom's energy. Products are laid out as
    (batched) matrix products whose outputs need no reordering."""
    nf, n, nb = ops.shape(jac)[:3]
    m1, m2, scale = desc.dim_emb, desc.axis_neuron, 1.0 / desc.nnei
    first = v["layers"][0]
    h = ops.shape(first["w"])[-1]
    w = ops.reshape(first["w"], (m1, m2, h))
    gr = ops.transpose(xyz, (0, 1, 3, 2)) * scale  # T, nf x n x M1 x 4
    d = ops.einsum("fnmd,fnad->fnma", gr, gr[:, :, :m2])  # D
    z = ops.reshape(ops.matmul(ops.reshape(d, (-1, m1 * m2)), first["w"]) + first["b"], (-1, h))
    # dz/dX = K1 + K2 (K2 on the first M2 columns of X):
    # K1[d, m, h] = scale^2 sum_a W[m, a, h] X[d, a],  K2[d, a, h] = scale^2 sum_m W[m, a, h] X[d, m]
    xt = xyz * (scale * scale)
    w_first = ops.reshape(ops.transpose(w, (1, 0, 2)), (m2, m1 * h))
    k1 = ops.reshape(ops.matmul(ops.reshape(xt[..., :m2], (-1, m2)), w_first), (-1, 4 * m1, h))
    k2 = ops.reshape(ops.matmul(ops.reshape(xt, (-1, m1)), ops.reshape(w, (m1, m2 * h))), (-1, 4 * m2, h))
    jac_lo = jac[..., :m2]
    y = (ops.matmul(ops.reshape(jac, (-1, nb, 4 * m1)), k1)
         + ops.matmul(ops.reshape(jac_lo, (-1, nb, 4 * m2)), k2))  # dz along each tangent
    short = None
    if net.first_shortcut:  # the first layer also adds D: its tangents enter the rest of the net
        dd = (ops.einsum("fnbdm,fnad->fnbma", jac, gr[:, :, :m2])
              + ops.einsum("fnmd,fnbda->fnbma", gr, jac_lo)) * scale
        short = (ops.reshape(d, (-1, m1 * m2)), ops.reshape(dd, (-1, nb, m1 * m2)))
    seed = None if weight is None else ops.reshape(weight, (-1, 1))
    delta, gauss, g_short = rest_curvature(ops, net, v, z, y, seed, short)
    df_dd = ops.reshape(ops.matmul(delta, ops.transpose(first["w"], (1, 0))), (nf, n, m1, m2))  # df/dD
    if g_short is not None:
        df_dd = df_dd + ops.reshape(g_short, (nf, n, m1, m2))
    q = ops.einsum("fnma,fnbda->fnbdm", df_dd, jac_lo)
    bilinear = ops.einsum("fnadm,fnbdm->fab", jac, q) * (scale * scale)
    gauss = ops.sum(ops.reshape(gauss, (nf, n, nb, nb)), axis=1)
    # g = dphi/dX: dphi/dT = (df/dD) T< + E^T (df/dD)^T T, E the first M2 of M1 rows
    embed = ops.asarray(np.eye(m1)[:m2], dtype=ops.dtype_of(xyz))
    g_t = ops.einsum("fnma,fnad->fnmd", df_dd, gr[:, :, :m2])
    g_t = g_t + ops.einsum("ak,fnad->fnkd", embed, ops.einsum("fnma,fnmd->fnad", df_dd, gr))
    return gauss + bilinear + ops.transpose(bilinear, (0, 2, 1)), ops.transpose(g_t, (0, 1, 3, 2)) * scale


def rest_curvature(ops, net, v, z, y, seed=None, short=None):
    """The net after its first layer's pre-activation, f(z) = sum over rows and outputs (times
    ``seed``, rows x 1, when given), for z rows x H and tangents y rows x nb x H:
    -> (df/dz rows x H, y^T (d2f/dz2) y rows x nb x nb, df/dD of a first-layer shortcut or None).

    Linear layers have no curvature, so d2f/dz2 = sum over the activation layers k of
    J_k^T diag(c_k) J_k, with J_k = du_k/dz (u_k the layer's pre-activation, u_0 = z) and
    c_k = (df/dx_{k+1}) idt_k act''(u_k): one forward pass of the tangents and one backward
    pass of one row per atom. ``short`` = (D rows x in, tangents rows x nb x in) when the first
    layer adds its input D."""
    layers, dims, n_hidden = v["layers"], net.dims, len(net.neuron)
    saved = []
    x, dx = short if short is not None else (None, None)
    u, du = z, y
    for k in range(n_hidden):
        layer = layers[k]
        if k:
            u, du = ops.matmul(x, layer["w"]) + layer["b"], ops.matmul(dx, layer["w"])
        a, da, dda = activation_derivs(ops, net.activation_function, u)
        if "idt" in layer:
            a, da, dda = a * layer["idt"], da * layer["idt"], dda * layer["idt"]
        out, dout = a, da[:, None, :] * du
        n_in, n_out = dims[k], dims[k + 1]
        if n_out == n_in:
            out, dout = out + x, dout + dx
        elif n_out == 2 * n_in:
            out, dout = out + ops.concat([x, x], axis=-1), dout + ops.concat([dx, dx], axis=-1)
        saved.append((da, dda, du, n_in, n_out))
        x, dx = out, dout
    g = ops.reshape(ops.sum(layers[n_hidden]["w"], axis=1), (1, -1))  # df/dx of the last hidden layer
    g = g * (0.0 * z[:, :1] + 1.0 if seed is None else seed)  # one row per atom
    gauss = None
    for k in range(n_hidden - 1, -1, -1):
        da, dda, du, n_in, n_out = saved[k]
        part = ops.matmul(du * (g * dda)[:, None, :], ops.transpose(du, (0, 2, 1)))
        gauss = part if gauss is None else gauss + part
        gu = g * da
        skip = g if n_out == n_in else (g[:, :n_in] + g[:, n_in:]) if n_out == 2 * n_in else None
        if k == 0:
            return gu, gauss, skip
        g = ops.matmul(gu, ops.transpose(layers[k]["w"], (1, 0)))
        if skip is not None:
            g = g + skip
