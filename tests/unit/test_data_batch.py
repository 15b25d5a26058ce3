"""Batches: batch sizes, system probabilities, shuffling per epoch, determinism, cached nlists."""

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.data.batch import NATOMS, SYSTEM, DataSystemSet
from dptensor.data.mirror import mirror_slots
from dptensor.data.neighbor import build_nlist, shift_from_image
from dptensor.data.sampling import resolve_batch_sizes, system_probs
from dptensor.data.system import DeepmdSystem, load_system
from dptensor.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
RCUT, SEL = 4.0, [20, 40]


def toy_system(path, nframes, natoms=4, periodic=True, seed=0, set_nframes=None):
    """A small random system whose energy label is the frame index (to identify frames)."""
    rng = np.random.default_rng(seed)
    box = np.tile(np.eye(3) * 6.0, (nframes, 1, 1)) if periodic else None
    coord = rng.uniform(0, 6.0, size=(nframes, natoms, 3))
    atype = np.arange(natoms) % 2
    labels = {keys.ENERGY: np.arange(nframes, dtype=float)}
    return DeepmdSystem(path, ["O", "H"], atype, coord, box, labels,
                        set_nframes or (nframes,))


def test_batch_sizes():
    assert resolve_batch_sizes("auto", [192, 4, 31, 32, 33]) == [1, 8, 2, 1, 1]
    assert resolve_batch_sizes("auto:100", [4, 192]) == [25, 1]
    assert resolve_batch_sizes("max:10", [4, 192]) == [2, 1]
    assert resolve_batch_sizes(3, [4, 192]) == [3, 3]
    assert resolve_batch_sizes([1, 2], [4, 192]) == [1, 2]
    for bad in (0, True, "auto:x", "mixed:4", [1], [1, 0], 1.5):
        with pytest.raises(InputError, match=r"^training\.training_data\.batch_size"):
            resolve_batch_sizes(bad, [4, 192])


def test_system_probs():
    nb = [1, 3]
    np.testing.assert_allclose(system_probs(nb, "prob_sys_size"), [0.25, 0.75])
    np.testing.assert_allclose(system_probs(nb, "prob_uniform"), [0.5, 0.5])
    np.testing.assert_allclose(system_probs([1, 1, 2], "prob_sys_size;0:1:0.2;1:3:0.8"),
                               [0.2, 0.8 / 3, 1.6 / 3])
    np.testing.assert_allclose(system_probs([1, 1, 3], sys_probs=[0.2, -1, -1]),
                               [0.2, 0.2, 0.6])
    for kwargs in ({"sys_probs": [0.5]}, {"sys_probs": [0.3, 0.3]}, {"auto_prob": "bogus"},
                   {"auto_prob": "prob_sys_size;0:5:1"}):
        with pytest.raises(InputError, match=r"^validation_data\."):
            system_probs(nb, where="validation_data", **kwargs)


def test_sampling_is_deterministic_and_follows_probabilities():
    systems = [toy_system("a", 10, seed=1), toy_system("b", 30, seed=2)]
    def draw(seed, n=400):
        ds = DataSystemSet(systems, 2, RCUT, SEL, seed=seed)
        return [(b[SYSTEM], tuple(b[keys.ENERGY])) for b in (ds.next_batch() for _ in range(n))]
    first = draw(7)
    assert first == draw(7)
    assert first != draw(8)
    counts = Counter(name for name, _ in first)
    ds = DataSystemSet(systems, 2, RCUT, SEL, seed=7)
    assert ds.nbatches == [5, 15]
    assert abs(counts["b"] / len(first) - 0.75) < 0.08  # prob_sys_size: 15 / 20 batches
    uni = DataSystemSet(systems, 2, RCUT, SEL, seed=7, auto_prob="prob_uniform")
    np.testing.assert_allclose(uni.probs, [0.5, 0.5])


def test_epochs_cover_every_frame_once_and_reshuffle():
    ds = DataSystemSet([toy_system("a", 10)], 3, RCUT, SEL, seed=3)
    frames = [int(e) for _ in range(20) for e in ds.next_batch()[keys.ENERGY]]  # 60 frames
    epochs = [frames[k:k + 10] for k in range(0, 60, 10)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(10))
    assert len({tuple(e) for e in epochs}) > 1  # a new order each epoch


def test_nbatches_count_per_set_like_deepmd():
    s = toy_system("a", 7, set_nframes=(4, 3))
    ds = DataSystemSet([s], 4, RCUT, SEL, seed=0)
    assert ds.nbatches == [2]  # 4 // 4 + max(1, 3 // 4)


def test_batch_contents_match_the_system_and_nlist():
    water = load_system(FIX / "water_ener", ["O", "H"])
    dip = load_system(FIX / "dipole_global", ["O", "H"])
    ds = DataSystemSet([water, dip], "auto", RCUT, [30, 60], seed=0)
    assert ds.batch_sizes == [1, 1]
    assert ds.label_kinds() == (keys.ENERGY, keys.FORCE, keys.DIPOLE)
    seen = set()
    for _ in range(10):
        b = ds.next_batch()
        s = water if b[SYSTEM] == water.path else dip
        seen.add(b[SYSTEM])
        assert b[NATOMS] == 192 and b[keys.ATYPE].shape == (1, 192)
        f = int(np.nonzero((s.coord == b[keys.COORD][0]).all(axis=(1, 2)))[0][0])
        box = None if s.box is None else s.box[f:f + 1]
        nlist, image = build_nlist(s.coord[f:f + 1], box, s.atype, RCUT, [30, 60])
        np.testing.assert_array_equal(b[keys.NLIST], nlist)
        assert b[keys.NLIST].dtype == np.int64 and b[keys.SHIFT].dtype == np.float64
        np.testing.assert_allclose(b[keys.SHIFT], shift_from_image(image, box))
        mirror = mirror_slots(nlist, image, s.atype, [30, 60])
        np.testing.assert_array_equal(b[keys.MIRROR], mirror)
        assert b[keys.MIRROR].dtype == np.int64 and (mirror >= 0).any()
        assert (keys.BOX in b) == s.periodic
        assert set(b) - {keys.COORD, keys.BOX, keys.ATYPE, keys.NLIST, keys.SHIFT, keys.MIRROR,
                         NATOMS, SYSTEM} == set(s.labels)
    assert seen == {water.path, dip.path}
    assert ds._cache[0].built.sum() <= 3  # built lazily, only the frames used
    assert ds._cache[0].nlist.dtype == np.int16 and ds._cache[0].mirror.dtype == np.int16


def test_cache_index_width_follows_the_largest_index():
    from dptensor.data.batch import _index_dtype

    assert _index_dtype(192) == np.int16 and _index_dtype(32767) == np.int16
    assert _index_dtype(32768) == np.int32 and _index_dtype(10**6) == np.int32
    for value in (-1, 32766):  # the extremes an int16 cache holds
        assert np.array([value], np.int16).astype(np.int64)[0] == value


def test_validation_and_stat_batches_are_deterministic():
    systems = [toy_system("a", 5), toy_system("b", 3, periodic=False)]
    ds = DataSystemSet(systems, 2, RCUT, SEL, seed=0)
    ds.next_batch()
    val = ds.batches_for_validation(2)
    assert [b[SYSTEM] for b in val] == ["a", "a", "b", "b"]
    assert [b[keys.ENERGY].tolist() for b in val] == [[0, 1], [2, 3], [0, 1], [2, 0]]
    again = ds.batches_for_validation(2)
    for x, y in zip(val, again):
        np.testing.assert_array_equal(x[keys.SHIFT], y[keys.SHIFT])
    stat = ds.stat_batches(10)
    assert [b[keys.ENERGY].tolist() for b in stat] == [[0, 1], [2, 3], [4], [0, 1], [2]]
    assert len(ds.stat_batches(1)) == 2


def test_too_small_sel_warns_once(caplog):
    ds = DataSystemSet([toy_system("crowded", 4, natoms=12)], 2, RCUT, [1, 1], seed=0)
    with caplog.at_level(logging.WARNING, logger="dptensor.data.batch"):
        for _ in range(4):
            ds.next_batch()
    warnings = [r for r in caplog.records if "sel [1, 1] is too small" in r.getMessage()]
    assert len(warnings) == 1 and "crowded" in warnings[0].getMessage()
    assert ds._cache[0].dropped.sum() > 0


def test_no_systems_is_an_input_error():
    with pytest.raises(InputError, match=r"^validation_data\.systems"):
        DataSystemSet([], 1, RCUT, SEL, name="validation_data")
