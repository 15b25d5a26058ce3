"""Mirror slots (``dptensor.data.mirror``): the second slot of a same-type pair reads its partner's
embedding. The marks must name true partners, and the descriptor must not change."""

import numpy as np
import pytest

from dptensor.data.mirror import mirror_slots
from dptensor.data.neighbor import build_neighbor_list, shift_from_image
from dptensor.model.descriptor.se_e2_a import _block_mirror
from dptensor.model.ops import numpy_ops

from model_fixtures import ORTHO_BOX, SMALL_BOX, make_model, random_frame

ATYPE = np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1])
OPTIONS = {
    "pair-nets": {},
    "one-side": {"type_one_side": True},
    "exclude": {"exclude_types": [[0, 1]]},
}


def _frames(box, seeds=(11, 12), sel=None):
    """Two frames of ATYPE with their lists: (coord, boxes, atype, NeighborList)."""
    model = make_model("ener")
    coords = np.stack([random_frame(s, ATYPE, box=box)[0] for s in seeds])
    boxes = None if box is None else np.stack([box] * len(seeds))
    res = build_neighbor_list(coords, boxes, ATYPE, model.rcut, sel or model.sel)
    return coords, boxes, res


def _block_of(sel):
    starts = np.cumsum([0, *sel[:-1]])
    return np.repeat(np.arange(len(sel)), sel), starts


@pytest.mark.parametrize("box", [None, ORTHO_BOX, SMALL_BOX], ids=["open", "periodic", "small-cell"])
def test_marks_name_true_partners(box):
    sel = [32, 48]  # room for every neighbor, even in the small cell
    _, _, res = _frames(box, sel=sel)
    assert not res.dropped.any()
    mirror = mirror_slots(res.nlist, res.image, ATYPE, sel)
    block, starts = _block_of(sel)
    nf, nat, nnei = res.nlist.shape
    assert (mirror >= 0).any()
    for f, i, k in zip(*np.nonzero(mirror >= 0)):
        t = block[k]
        r, local = divmod(int(mirror[f, i, k]), sel[t])
        k2 = starts[t] + local
        j = res.nlist[f, i, k]
        assert ATYPE[i] == ATYPE[j] == t
        assert r == j and res.nlist[f, r, k2] == i  # the partner is j's slot of i
        assert (res.image[f, r, k2] == -res.image[f, i, k]).all()
        assert mirror[f, r, k2] == -1  # partners are never marked themselves
        assert (j, k2) < (i, k)  # the later one of the pair is marked
    # every same-type pair has one mark: half the same-type occupied slots
    occupied = res.nlist >= 0
    same = occupied & (ATYPE[np.where(occupied, res.nlist, 0)] == ATYPE[None, :, None])
    assert 2 * (mirror >= 0).sum() == same.sum()


def test_small_cell_has_self_image_pairs():
    """An atom that sees its own periodic images: the pair (i, i, n) / (i, i, -n) shares too."""
    _, _, res = _frames(SMALL_BOX)
    sel = make_model("ener").sel
    mirror = mirror_slots(res.nlist, res.image, ATYPE, sel)
    rows = np.arange(len(ATYPE))[None, :, None]
    assert ((res.nlist == rows) & (mirror >= 0)).any()


def test_a_list_cut_by_sel_marks_only_pairs_seen_from_both_sides():
    sel = [3, 4]
    _, _, res = _frames(ORTHO_BOX, sel=sel)
    assert res.dropped.any()
    mirror = mirror_slots(res.nlist, res.image, ATYPE, sel)
    block, starts = _block_of(sel)
    for f, i, k in zip(*np.nonzero(mirror >= 0)):
        r, local = divmod(int(mirror[f, i, k]), sel[block[k]])
        assert res.nlist[f, r, starts[block[k]] + local] == i


def test_lists_without_neighbors():
    """No center, or centers without any neighbor: nothing to share, and no error."""
    sel = [2, 3]
    empty = np.full((2, 0, 5), -1)
    assert mirror_slots(empty, np.zeros((2, 0, 5, 3), np.int8), ATYPE, sel).shape == (2, 0, 5)
    lonely = np.full((1, 3, 5), -1)
    out = mirror_slots(lonely, np.zeros((1, 3, 5, 3), np.int8), [0, 1, 1], sel)
    assert (out == -1).all()


def test_centers_are_the_rows():
    """Lists of some atoms only (dipole/polar centers): partners are looked up by atom index."""
    sel = make_model("ener").sel
    centers = np.nonzero(ATYPE == 0)[0]
    coords, boxes, _ = _frames(ORTHO_BOX)
    res = build_neighbor_list(coords, boxes, ATYPE, make_model("ener").rcut, sel, centers)
    mirror = mirror_slots(res.nlist, res.image, ATYPE, sel, centers)
    block, starts = _block_of(sel)
    assert (mirror >= 0).any()
    for f, row, k in zip(*np.nonzero(mirror >= 0)):
        r, local = divmod(int(mirror[f, row, k]), sel[block[k]])
        assert centers[r] == res.nlist[f, row, k]
        assert res.nlist[f, r, starts[block[k]] + local] == centers[row]


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("box", [None, SMALL_BOX], ids=["open", "small-cell"])
def test_descriptor_unchanged(option, box):
    model = make_model("ener", descriptor=OPTIONS[option])
    assert model.mirror_valid()
    d = model.descriptor
    coords, boxes, res = _frames(box)
    em = d.env_mat(numpy_ops, coords, res.nlist, shift_from_image(res.image, boxes))
    atype = np.broadcast_to(ATYPE, res.nlist.shape[:2])
    mirror = mirror_slots(res.nlist, res.image, ATYPE, d.sel).astype(np.int64)
    plain = d.call_env(numpy_ops, d.variables, em, atype, res.nlist >= 0)
    shared = d.call_env(numpy_ops, d.variables, em, atype, res.nlist >= 0, mirror)
    for a, b in zip(plain, shared):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_marked_slots_read_their_partners_embedding(option):
    """A marked slot's own radial value is not used: changing it leaves the embedding alone."""
    model = make_model("ener", descriptor=OPTIONS[option])
    d = model.descriptor
    _, _, res = _frames(SMALL_BOX)
    atype = np.broadcast_to(ATYPE, res.nlist.shape[:2])
    mirror = mirror_slots(res.nlist, res.image, ATYPE, d.sel).astype(np.int64)
    rng = np.random.default_rng(3)
    ss = rng.uniform(-1.0, 1.0, res.nlist.shape)
    partner_of = {}
    start = 0
    for tj, n in enumerate(d.sel):
        occupied, block = res.nlist[:, :, start:start + n] >= 0, mirror[:, :, start:start + n]
        flat = _block_mirror(numpy_ops, mirror, start, n).reshape(-1)
        marked = (flat >= 0).reshape(block.shape)
        assert marked.any()
        changed = ss[:, :, start:start + n].copy()
        changed[marked] += 0.5
        shared, _ = d._embed_occupied(numpy_ops, d.variables, changed, occupied, atype, tj, start,
                                      flat.reshape(block.shape))
        # what each marked slot must hold: the embedding of its partner's (unchanged) value
        partner = ss[:, :, start:start + n].reshape(-1)[flat[flat >= 0]]
        changed.reshape(-1)[flat >= 0] = partner
        plain, _ = d._embed_occupied(numpy_ops, d.variables, changed, occupied, atype, tj, start)
        np.testing.assert_allclose(shared, plain, rtol=0, atol=1e-14)
        partner_of[tj] = marked.sum()
        start += n
    assert sum(partner_of.values()) == (mirror >= 0).sum()


def test_statistics_that_vary_by_slot_turn_sharing_off():
    model = make_model("ener")
    assert model.mirror_valid()
    model.descriptor.variables["davg"][0, 3, 0] += 0.01
    assert not model.mirror_valid()
