"""Neighbor lists against a brute-force search over many images; neighbor-stat and sel "auto"."""

import argparse
import itertools
from pathlib import Path

import numpy as np
import pytest

from dptensor.cli import neighbor_stat as cli_neighbor_stat
from dptensor.data.neighbor import (auto_sel_value, build_neighbor_list, build_nlist, face_distances,
                                    image_grid, neighbor_stat, resolve_auto_sel, shift_from_image)
from dptensor.data.system import DeepmdSystem, load_system
from dptensor.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def brute_force(coord, box, rcut):
    """Per atom i: list of (j, image tuple, distance) with 0 < d < rcut, over a generous image
    range (coordinates need not lie in the cell)."""
    nat = len(coord)
    if box is None:
        images = [(0, 0, 0)]
    else:
        vol = abs(np.linalg.det(box))
        faces = [vol / np.linalg.norm(np.cross(box[(k + 1) % 3], box[(k + 2) % 3]))
                 for k in range(3)]
        frac = coord @ np.linalg.inv(box)
        spread = np.ceil(frac.max(0) - frac.min(0)).astype(int)
        m = [int(np.ceil(rcut / faces[k])) + spread[k] + 1 for k in range(3)]
        images = list(itertools.product(*[range(-mk, mk + 1) for mk in m]))
    shifts = np.zeros((len(images), 3)) if box is None else np.array(images) @ box
    out = [[] for _ in range(nat)]
    for i in range(nat):
        r = coord[None, :, :] + shifts[:, None, :] - coord[i]  # nimg x nat x 3
        d = np.linalg.norm(r, axis=-1)
        for k, j in zip(*np.nonzero((d > 0) & (d < rcut))):
            out[i].append((int(j), tuple(images[k]), float(d[k, j])))
    return out


def listed(coord, box, nlist, image):
    """Per atom i: list of (j, image tuple, distance) read from one frame's nlist and image."""
    shift = shift_from_image(image[None], None if box is None else box[None])[0]
    out = [[] for _ in range(len(coord))]
    for i, k in zip(*np.nonzero(nlist >= 0)):
        j = nlist[i, k]
        d = np.linalg.norm(coord[j] + shift[i, k] - coord[i])
        out[i].append((int(j), tuple(int(x) for x in image[i, k]), float(d)))
    return out


def as_set(entries):
    return {(i, j, img, round(d, 8)) for i, row in enumerate(entries) for j, img, d in row}


def random_frame(rng, nat, box):
    """Atoms spread over 1.6 cells in fractional coordinates, partly outside the cell."""
    frac = rng.uniform(-0.3, 1.3, size=(nat, 3))
    return frac @ box


BOXES = {
    "triclinic": np.array([[9.0, 0.0, 0.0], [2.5, 8.0, 0.0], [-1.5, 2.0, 7.5]]),
    "small_skewed": np.array([[3.6, 0.0, 0.0], [2.9, 2.4, 0.0], [1.2, 1.4, 3.1]]),
    "small_full": np.array([[3.0, 0.4, -0.3], [0.5, 3.3, 0.2], [-0.6, 0.3, 2.8]]),
    # every face distance above 2 rcut: only the nearest image of each pair is tested
    "wide_triclinic": np.array([[13.0, 0.0, 0.0], [3.5, 11.6, 0.0], [-2.2, 2.9, 10.9]]),
}


@pytest.mark.parametrize("name", sorted(BOXES) + ["nopbc"])
def test_nlist_matches_brute_force(name):
    rng = np.random.default_rng(sum(map(ord, name)))  # hash() is salted per run
    rcut, nat = 4.93, 7  # not a lattice distance of the boxes: no pair sits exactly at rcut
    box = None if name == "nopbc" else BOXES[name]
    if name.startswith("wide"):
        nat = 60
        assert (face_distances(box) > 2 * rcut).all() and len(image_grid(box, rcut)) == 1
    coord = random_frame(rng, nat, BOXES["triclinic"] if box is None else box)
    atype = rng.integers(0, 2, size=nat)
    ref = brute_force(coord, box, rcut)
    counts = [max(sum(atype[j] == t for j, _, _ in row) for row in ref) for t in range(2)]
    sel = [c + 2 for c in counts]
    res = build_neighbor_list(coord[None], None if box is None else box[None], atype[None],
                              rcut, sel)
    assert res.nlist.shape == (1, nat, sum(sel)) and res.nlist.dtype == np.int64
    assert res.image.shape == (1, nat, sum(sel), 3) and res.image.dtype == np.int8
    got = listed(coord, box, res.nlist[0], res.image[0])
    assert sum(map(len, got)) == len(as_set(got))  # no pair listed twice
    assert as_set(got) == as_set(ref)
    assert res.max_nbor[0].tolist() == counts and not res.dropped.any()
    if name.startswith("small"):  # several images of the same atom, and of atom i itself
        assert any(len({img for j, img, _ in row if j == i}) > 1 for i, row in enumerate(ref))
    _check_blocks(res.nlist[0], got_dist(coord, box, res), atype, sel)


def got_dist(coord, box, res):
    shift = shift_from_image(res.image, None if box is None else box[None])[0]
    index = np.where(res.nlist[0] >= 0, res.nlist[0], 0)
    return np.linalg.norm(coord[index] + shift - coord[:, None], axis=-1)


def _check_blocks(nlist, dist, atype, sel):
    """Block t holds only type t, by increasing distance, then -1 padding."""
    start = 0
    for t, n in enumerate(sel):
        block, d = nlist[:, start:start + n], dist[:, start:start + n]
        for i in range(nlist.shape[0]):
            m = block[i] >= 0
            assert not m[np.argmin(m):].any() or m.all()  # padding only at the end
            assert (atype[block[i][m]] == t).all()
            assert np.all(np.diff(d[i][m]) >= -1e-9)  # ties may differ by rounding
        start += n


def test_truncation_keeps_nearest_and_counts_dropped():
    rng = np.random.default_rng(5)
    box, rcut, nat = BOXES["small_skewed"], 4.0, 6
    frames = np.stack([random_frame(rng, nat, box) for _ in range(2)])
    atype = np.array([0, 1, 0, 1, 1, 0])
    sel = [3, 2]
    res = build_neighbor_list(frames, np.stack([box, box]), atype, rcut, sel)
    for f in range(2):
        ref = brute_force(frames[f], box, rcut)
        dropped = [0, 0]
        for i, row in enumerate(ref):
            for t in range(2):
                want = sorted(d for j, _, d in row if atype[j] == t)
                block = slice(sum(sel[:t]), sum(sel[:t + 1]))
                got = listed(frames[f], box, res.nlist[f][:, block], res.image[f][:, block])[i]
                np.testing.assert_allclose(sorted(d for _, _, d in got), want[:sel[t]])
                dropped[t] += max(0, len(want) - sel[t])
        assert res.dropped[f].tolist() == dropped
    assert res.dropped.sum() > 0


def test_build_nlist_tuple_and_shift():
    rng = np.random.default_rng(6)
    box = BOXES["triclinic"]
    coord = random_frame(rng, 5, box)[None]
    nlist, image = build_nlist(coord, box[None], np.zeros((1, 5), int), 6.0, [40])
    assert nlist.shape == (1, 5, 40)
    shift = shift_from_image(image, box[None])
    assert shift.dtype == np.float64
    np.testing.assert_allclose(shift, np.einsum("fank,fkd->fand", image, box[None]))
    assert not shift_from_image(image, None).any()


def test_neighbor_stat_and_auto_sel():
    rng = np.random.default_rng(7)
    box = BOXES["small_full"]
    atype = np.array([0, 1, 1, 0, 1])
    coord = np.stack([random_frame(rng, 5, box) for _ in range(3)])
    periodic = DeepmdSystem("p", ["A", "B"], atype, coord, np.stack([box] * 3))
    isolated = DeepmdSystem("q", ["A", "B"], atype, coord * 2.0, None)
    counts, mind = np.zeros(2, int), np.inf
    for s in (periodic, isolated):
        for f in range(3):
            ref = brute_force(s.coord[f], None if s.box is None else box, 4.5)
            for row in ref:
                for t in range(2):
                    counts[t] = max(counts[t], sum(atype[j] == t for j, _, _ in row))
                mind = min([mind] + [d for _, _, d in row])
    max_nbor, min_dist = neighbor_stat([periodic, isolated], 4.5, ["A", "B"])
    assert max_nbor == counts.tolist()
    assert min_dist == pytest.approx(mind)
    sel = resolve_auto_sel("auto", [periodic, isolated], 4.5, ["A", "B"])
    assert sel == [4 * ((int(c * 1.1) + 3) // 4) for c in counts] and all(s % 4 == 0 for s in sel)
    sel = resolve_auto_sel("auto:2", [periodic], 4.5, ["A", "B"])
    assert all(s >= 2 * c for s, c in zip(sel, neighbor_stat([periodic], 4.5, ["A", "B"])[0]))
    assert resolve_auto_sel([10, 20], [], 4.5, ["A", "B"]) == [10, 20]


def test_auto_sel_rule():
    assert auto_sel_value(38, 1.1) == 44
    assert auto_sel_value(72, 1.1) == 80
    assert auto_sel_value(46, 1.1) == 52
    assert auto_sel_value(40, 1.1) == 44  # int(44.000000000000004) = 44, as DeePMD-kit
    assert auto_sel_value(0, 1.1) == 0
    for bad in ("auto:x", "auto:-1", "automatic", "max"):
        with pytest.raises(InputError, match="model.descriptor.sel"):
            resolve_auto_sel(bad, [], 6.0, ["O", "H"])


def test_neighbor_stat_of_a_path_and_cli(capsys):
    tm = ["C", "H", "N", "O"]
    s = load_system(FIX / "hessian_mol", tm)
    max_nbor, min_dist = neighbor_stat([str(FIX / "hessian_mol")], 3.0, tm)
    ref = [brute_force(s.coord[f], s.box[f], 3.0) for f in range(s.nframes)]
    assert min_dist == pytest.approx(min(d for fr in ref for row in fr for _, _, d in row))
    assert max_nbor == [max(sum(s.atype[j] == t for j, _, _ in row) for fr in ref for row in fr)
                        for t in range(4)]
    parser = argparse.ArgumentParser()
    cli_neighbor_stat.add_parser(parser.add_subparsers())
    args = parser.parse_args(["neighbor-stat", "-s", str(FIX / "hessian_mol"), "-r", "3",
                              "-t", *tm])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"max_nbor_size: {max_nbor}" in out and f"{min_dist:.6f}" in out
    # without -t the names of type_map.raw are used
    args = parser.parse_args(["neighbor-stat", "-s", str(FIX / "hessian_mol"), "-r", "3"])
    assert args.func(args) == 0
    assert f"max_nbor_size: {max_nbor}" in capsys.readouterr().out
