"""Neighbor lists cut to the widths a batch uses.

A type block of ``sel[t]`` slots holds the type-t neighbors of each center by increasing distance,
then -1 padding, so the slots past the largest count in the batch are empty in every row. Empty
slots still cost a model the same per-slot work as occupied ones (their normalized environment
row is a nonzero constant), but their contribution is a constant of the center's type, which the
descriptor can add in closed form (``DescrptSeA.call_env`` with ``widths``). Cutting them away
shrinks every per-slot tensor of a training step: in the water energy frames 34-37 of 46 O slots
and 65-72 of 92 H slots are used.

``trim_blocks`` cuts NLIST, SHIFT and MIRROR (whose partner positions are renumbered to the new
block width) of a numpy batch and records the widths under ``keys.WIDTHS``.
"""

import numpy as np

from dptensor.data import keys


def block_widths(nlist, sel, multiple=1):
    """Per type block, the largest number of occupied slots in any row of ``nlist`` (nf x nc x
    nnei), rounded up to ``multiple`` and kept within [1, sel[t]] (0 for sel[t] = 0)."""
    nlist = np.asarray(nlist)
    widths, start = [], 0
    for n in sel:
        used = np.nonzero((nlist[..., start:start + n] >= 0).any(axis=tuple(range(nlist.ndim - 1))))[0]
        count = int(used[-1]) + 1 if used.size else 0
        width = -(-count // multiple) * multiple
        widths.append(min(n, max(width, 1 if n else 0)))
        start += n
    return widths


def trim_blocks(batch, sel, multiple=1):
    """A copy of ``batch`` (numpy dict) whose NLIST, SHIFT and MIRROR keep the first ``widths[t]``
    slots of each type block (see ``block_widths``), with ``keys.WIDTHS`` = widths. A batch whose
    blocks are full is returned unchanged (no WIDTHS: the model then runs on every slot)."""
    sel = [int(n) for n in sel]
    widths = block_widths(batch[keys.NLIST], sel, multiple)
    if widths == sel:
        return batch
    starts = np.cumsum([0, *sel[:-1]])
    kept = np.concatenate([np.arange(s, s + w) for s, w in zip(starts, widths)]).astype(np.int64)
    out = dict(batch)
    out[keys.NLIST] = batch[keys.NLIST][..., kept]
    out[keys.SHIFT] = batch[keys.SHIFT][..., kept, :]
    if batch.get(keys.MIRROR) is not None:
        out[keys.MIRROR] = _renumber_mirror(batch[keys.MIRROR][..., kept], sel, widths)
    out[keys.WIDTHS] = tuple(widths)
    return out


def _renumber_mirror(mirror, sel, widths):
    """Partner positions r * sel[t] + k inside a type block -> r * widths[t] + k (a partner slot is
    occupied, so k < widths[t])."""
    n_old = np.repeat(np.asarray(sel, np.int64), widths)  # per kept slot, its block's old width
    n_new = np.repeat(np.asarray(widths, np.int64), widths)
    row, k = np.divmod(np.maximum(mirror, 0), n_old)
    return np.where(mirror >= 0, row * n_new + k, mirror)
