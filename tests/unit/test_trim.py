"""Neighbor lists cut to the widths a batch uses (dptensor.data.trim): the cut batch is consistent
(its mirror positions are those of lists built with the cut widths), and the reference model on
it computes what it computes on the full lists, for every descriptor option."""

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.data.mirror import mirror_slots
from dptensor.data.neighbor import build_neighbor_list, shift_from_image
from dptensor.data.trim import block_widths, trim_blocks
from dptensor.model.ops import numpy_ops
from model_fixtures import ORTHO_BOX, make_model, make_variant, random_frame

ATYPE = np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1])
OPTIONS = {
    "pair-nets": {},
    "one-side": {"type_one_side": True},
    "one-side-resnet": {"type_one_side": True, "resnet_dt": True},
    "exclude": {"exclude_types": [[0, 1]]},
}


def _batch(model, box, seeds=(11, 12)):
    """Two frames of ATYPE as a training batch (nlist, shift, mirror) with the model's sel."""
    frames = [random_frame(s, ATYPE, box=box)[0] for s in seeds]
    coord = np.stack(frames)
    boxes = None if box is None else np.broadcast_to(box, (len(seeds), 3, 3))
    res = build_neighbor_list(coord, boxes, ATYPE, model.rcut, model.sel)
    assert not res.dropped.any()
    return {keys.COORD: coord, keys.ATYPE: np.broadcast_to(ATYPE, (len(seeds), ATYPE.size)).copy(),
            keys.NLIST: res.nlist, keys.SHIFT: shift_from_image(res.image, boxes),
            keys.MIRROR: mirror_slots(res.nlist, res.image, ATYPE, model.sel).astype(np.int64)}


def test_widths_are_the_largest_counts_rounded_up_within_sel():
    nlist = -np.ones((2, 3, 10), np.int64)  # sel [4, 6, 0]
    nlist[0, 1, :2] = 5
    nlist[1, 2, 4:7] = 3
    assert block_widths(nlist, [4, 6, 0]) == [2, 3, 0]
    assert block_widths(nlist, [4, 6, 0], multiple=4) == [4, 4, 0]
    assert block_widths(-np.ones((1, 2, 10), np.int64), [4, 6, 0]) == [1, 1, 0]


def test_full_blocks_leave_the_batch_alone():
    model = make_model("ener")
    batch = _batch(model, ORTHO_BOX)
    full = trim_blocks(batch, model.sel, multiple=64)  # rounded up past sel: nothing to cut
    assert full is batch and keys.WIDTHS not in full


@pytest.mark.parametrize("box", [None, ORTHO_BOX], ids=["open", "periodic"])
def test_cut_batch_equals_lists_built_with_the_widths(box):
    model = make_model("ener")
    batch = _batch(model, box)
    cut = trim_blocks(batch, model.sel)
    widths = list(cut[keys.WIDTHS])
    assert widths != model.sel and all(w <= n for w, n in zip(widths, model.sel))
    boxes = None if box is None else np.broadcast_to(box, (2, 3, 3))
    res = build_neighbor_list(batch[keys.COORD], boxes, ATYPE, model.rcut, widths)
    assert not res.dropped.any()
    np.testing.assert_array_equal(cut[keys.NLIST], res.nlist)
    np.testing.assert_array_equal(cut[keys.SHIFT], shift_from_image(res.image, boxes))
    np.testing.assert_array_equal(cut[keys.MIRROR], mirror_slots(res.nlist, res.image, ATYPE, widths))


def _descriptor(model, batch, mirror=True):
    d = model.descriptor
    em = d.env_mat(numpy_ops, batch[keys.COORD], batch[keys.NLIST], batch[keys.SHIFT])
    return d.call_env(numpy_ops, d.variables, em, batch[keys.ATYPE], batch[keys.NLIST] >= 0,
                      batch[keys.MIRROR] if mirror else None, batch.get(keys.WIDTHS))


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("multiple", [1, 4])
def test_descriptor_on_cut_lists_equals_the_full_one(option, multiple):
    model = make_model("ener", descriptor=OPTIONS[option])
    batch = _batch(model, ORTHO_BOX)
    cut = trim_blocks(batch, model.sel, multiple)
    assert keys.WIDTHS in cut
    for a, b in zip(_descriptor(model, batch), _descriptor(model, cut)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_slot_dependent_statistics_are_added_per_cut_slot(option):
    """Statistics that differ per slot (no sharing then): each cut slot adds its own constant
    (a missing or shared constant fails the comparison)."""
    model = make_model("ener", descriptor=OPTIONS[option])
    d = model.descriptor
    rng = np.random.default_rng(5)
    d.variables["davg"] = d.variables["davg"] + 0.1 * rng.normal(size=d.variables["davg"].shape)
    d.variables["dstd"] = d.variables["dstd"] * rng.uniform(0.5, 1.5, size=d.variables["dstd"].shape)
    batch = _batch(model, None)
    cut = trim_blocks(batch, model.sel)
    for a, b in zip(_descriptor(model, batch, mirror=False), _descriptor(model, cut, mirror=False)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", ["dipole", "polar-full-one-side", "ener-exclude"])
def test_model_outputs_on_cut_lists(name):
    model = make_variant(name)
    batch = _batch(model, ORTHO_BOX)
    cut = trim_blocks(batch, model.sel)
    args = (batch[keys.COORD], batch[keys.ATYPE])
    full = model.call_atomic(numpy_ops, model.variables, *args, batch[keys.NLIST], batch[keys.SHIFT],
                             mirror=batch[keys.MIRROR])
    part = model.call_atomic(numpy_ops, model.variables, *args, cut[keys.NLIST], cut[keys.SHIFT],
                             mirror=cut[keys.MIRROR], widths=cut[keys.WIDTHS])
    for k in full:
        np.testing.assert_allclose(part[k], full[k], rtol=0, atol=1e-12)
