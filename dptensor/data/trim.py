"""Neighbor lists cut to the widths a batch uses.

A type block of ``sel[t]`` slots holds the type-t neighbors of each center by increasing distance,
then -1 padding, so the slots past the largest count in the batch are empty in every row. Empty
slots still cost a model the same per-slot work as occupied ones (their normalized environment
row is a nonzero constant), but their contribution is a constant of the center's type, which the
descriptor can add in closed form (``DescrptSeA.call_env`` with ``widths``). Cutting them away
shrinks every per-slot tensor of a training step: in the water energy frames 34-37 of 46 O slots
and 65-72 of 92 H slots are used.

``trim_blocks`` cuts NLIST, SHIFT and MIRROR (whose partner positions are renumbered to the new
block width) of a numpy batch and records the widths under ``keys.WIDTHS``. ``WidthRatchet`` keeps,
per system, widths that only grow and move in steps of several slots: a TensorFlow step is traced
once per list layout, so its batches must not change layout with every frame.
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


def trim_blocks(batch, sel, multiple=1, widths=None):
    """A copy of ``batch`` (numpy dict) whose NLIST, SHIFT and MIRROR keep the first ``widths[t]``
    slots of each type block (default: ``block_widths``; given widths must hold every occupied
    slot), with ``keys.WIDTHS`` = widths. A batch whose blocks are full is returned unchanged (no
    WIDTHS: the model then runs on every slot)."""
    sel = [int(n) for n in sel]
    if widths is None:
        widths = block_widths(batch[keys.NLIST], sel, multiple)
    widths = [int(w) for w in widths]
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


class WidthRatchet:
    """Per system, the widths of every batch seen so far, each rounded up to ``multiple`` slots:
    the lists of a system take one layout until a frame needs more slots, and each type block can
    grow at most sel[t] / multiple times (in the water energy frames 34-37 of 46 O slots and 65-72 of 92
    H slots are used: widths 40 and 72, from the first batch on)."""

    def __init__(self, sel, multiple=8):
        self.sel, self.multiple = [int(n) for n in sel], int(multiple)
        self.widths = {}  # system -> widths

    def trim(self, batch, system):
        """``batch`` cut to the system's widths so far, grown to hold this batch's neighbors."""
        widths = block_widths(batch[keys.NLIST], self.sel, self.multiple)
        seen = self.widths.get(system)
        if seen is not None:
            widths = [max(a, b) for a, b in zip(widths, seen)]
        self.widths[system] = widths
        return trim_blocks(batch, self.sel, widths=widths)
