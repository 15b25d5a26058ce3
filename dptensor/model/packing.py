"""Rows of several networks packed one after another, and the gather that reads them back.

Where each of several nets runs on a subset of the elements (the occupied neighbor slots of a
descriptor, the atoms of one type in a fitting), net g takes the elements where ``members[g]`` is
true, followed by ``extra[g]`` rows of its own; the nets' outputs are joined in that order and
every element reads its row with one gather, whose gradient sums back rows read more than once.
Written with ``ops`` only, so that it runs (and traces, with data-dependent sizes) on every backend.
"""


def pack_rows(ops, members, extra):
    """members: 1-D bool arrays over the same elements, disjoint; extra: one int per member.

    -> positions: per net, the positions of its elements (for ``ops.take``);
       index: per element, its row in the joined output (0 outside every member; None when
       ``members`` is empty);
       starts: per net, the row where its extra rows begin (an index scalar);
       total: the number of rows in all."""
    idx = ops.index_dtype
    positions, starts, index, offset = [], [], None, 0
    for member, n_extra in zip(members, extra):
        count = ops.astype(member, idx)
        part = ops.where(member, ops.cumsum(count) - 1 + offset, 0 * count)
        index = part if index is None else index + part
        offset = offset + ops.sum(count)
        starts.append(offset)
        offset = offset + n_extra
        positions.append(ops.nonzero(member))
    return positions, index, starts, offset
