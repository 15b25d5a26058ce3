"""Mirror slots: the two entries of one same-type pair in a neighbor list.

When atom j is in the list of atom i at periodic image n, atom i is in the list of j at image -n
(unless ``sel`` cut it off), at the same distance. If i and j have the same type, the two slots
feed the same embedding net the same input (se_e2_a: the net of the pair's types, on the
normalized radial column, whose statistics are per type), so one evaluation serves both. In a
water frame more than a quarter of the occupied slots are such duplicates.

``mirror_slots`` marks, of each such pair, the slot of the larger atom index (of the later slot
for a self-image pair) as the duplicate and gives the position of its partner inside their type
block: ``r * sel[t] + (k - sum(sel[:t]))`` for the partner at row r, slot k of block t. Every
other slot gets -1. The descriptor reads a duplicate's embedding from its partner's row (see
``DescrptSeA.call_env``).
"""

import numpy as np


def mirror_slots(nlist, image, atype, sel, centers=None):
    """nlist nf x nc x nnei (atom index or -1), image nf x nc x nnei x 3 (int), atype nf x nat
    (or nat), sel per type; ``centers`` nf x nc or nc sorted atom indices of the rows (default:
    row r is atom r) -> nf x nc x nnei int32 (see the module docstring)."""
    nlist = np.asarray(nlist)
    nf, nc, nnei = nlist.shape
    atype = np.broadcast_to(np.asarray(atype), (nf, np.shape(atype)[-1]))
    rows = np.arange(nc) if centers is None else np.asarray(centers)
    rows = np.broadcast_to(rows, (nf, nc))
    starts = np.repeat(np.cumsum([0, *sel[:-1]]), sel)  # per slot, the first slot of its block
    widths = np.repeat(np.asarray(sel), sel)
    out = np.full((nf, nc, nnei), -1, np.int32)
    for f in range(nf):
        partner = _frame_partners(nlist[f], np.asarray(image[f]), atype[f], rows[f])
        dup = partner >= 0
        r, k = np.divmod(partner[dup], nnei)
        slot = np.nonzero(dup)[1]
        out[f][dup] = r * widths[slot] + (k - starts[slot])
    return out


def _frame_partners(nlist, image, atype, rows):
    """One frame: per slot, the flat slot index (r * nnei + k) of the partner of a duplicate,
    else -1."""
    nc, nnei = nlist.shape
    nat = atype.shape[0]
    occupied = nlist >= 0
    if not occupied.any():
        return np.full((nc, nnei), -1)
    center = np.broadcast_to(rows[:, None], nlist.shape)
    neighbor = np.where(occupied, nlist, 0)
    image = image.astype(np.int64)
    span = 2 * int(np.abs(image).max(initial=0)) + 1

    def key(a, b, img):
        code = ((img[..., 0] * span + img[..., 1]) * span + img[..., 2]) + (span**3 - 1) // 2
        return (a * nat + b) * span**3 + code

    # only same-type slots can be, or have, a partner that shares the embedding: search those
    slots = np.flatnonzero(occupied & (atype[center] == atype[neighbor]))
    if not slots.size:
        return np.full((nc, nnei), -1)
    c, b, img = center.ravel()[slots], neighbor.ravel()[slots], image.reshape(-1, 3)[slots]
    own = key(c, b, img)  # unique: a neighbor at one image holds one slot of a list
    order = np.argsort(own)
    ranked = own[order]
    wanted = key(b, c, -img)
    at = np.minimum(np.searchsorted(ranked, wanted), own.size - 1)
    partner = slots[order[at]]
    later = (b < c) | ((b == c) & (partner < slots))
    mark = (ranked[at] == wanted) & later
    out = np.full(nc * nnei, -1)
    out[slots[mark]] = partner[mark]
    return out.reshape(nc, nnei)
