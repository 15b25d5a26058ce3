"""Reading DeePMD systems: npy sets, raw text, HDF5 and dpdata; type maps; finding systems."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.data.system import find_systems, load_system
from dptensor.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SYSTEMS = ["water_ener", "dipole_atomic", "dipole_global", "polar_atomic", "polar_global",
           "hessian_mol"]
STEMS = (keys.COORD, keys.BOX) + keys.LABELS


def type_map_of(name):
    return ["C", "H", "N", "O"] if name == "hessian_mol" else ["O", "H"]


def _frames(src):
    """stem -> array of all sets concatenated, rows = frames."""
    sets = sorted(p for p in Path(src).glob("set.*"))
    out = {}
    for stem in STEMS:
        parts = [np.load(s / f"{stem}.npy") for s in sets if (s / f"{stem}.npy").exists()]
        if parts:
            out[stem] = np.concatenate([p.reshape(p.shape[0], -1) for p in parts])
    return out


def write_raw(src, out):
    """The *.raw layout (no sets) of a system folder."""
    os.makedirs(out)
    for f in ("type.raw", "type_map.raw", "nopbc"):
        if (Path(src) / f).exists():
            shutil.copy(Path(src) / f, out)
    for stem, arr in _frames(src).items():
        np.savetxt(Path(out) / f"{stem}.raw", arr.astype(np.float64), fmt="%.17g")


def write_h5(src, file, group):
    """The HDF5 layout (as dpdata's deepmd/hdf5 writes it) of a system folder."""
    import h5py

    with h5py.File(file, "a") as fh:
        g = fh.require_group(group)
        g.create_dataset("type.raw", data=np.loadtxt(Path(src) / "type.raw", dtype=int))
        names = (Path(src) / "type_map.raw").read_text().split()
        g.create_dataset("type_map.raw", data=np.array(names, dtype="S"))
        if (Path(src) / "nopbc").exists():
            g.create_dataset("nopbc", data=True)
        for s in sorted(Path(src).glob("set.*")):
            sg = g.create_group(s.name)
            for f in sorted(s.glob("*.npy")):
                sg.create_dataset(f.name, data=np.load(f))


def assert_same_system(a, b):
    assert a.natoms == b.natoms and a.nframes == b.nframes
    np.testing.assert_array_equal(a.atype, b.atype)
    np.testing.assert_array_equal(a.coord, b.coord)
    assert (a.box is None) == (b.box is None)
    if a.box is not None:
        np.testing.assert_array_equal(a.box, b.box)
    assert sorted(a.labels) == sorted(b.labels)
    for name in a.labels:
        np.testing.assert_array_equal(a.labels[name], b.labels[name], err_msg=name)


@pytest.mark.parametrize("name", SYSTEMS)
def test_npy_raw_and_hdf5_read_the_same(name, tmp_path):
    src = FIX / name
    tm = type_map_of(name)
    ref = load_system(src, tm)
    write_raw(src, tmp_path / "raw")
    write_h5(src, tmp_path / "d.h5", "/grp/sys")
    assert_same_system(ref, load_system(tmp_path / "raw", tm))
    assert_same_system(ref, load_system(f"{tmp_path / 'd.h5'}#/grp/sys", tm))
    # contents equal the files, in the keys.py layouts
    files = _frames(src)
    np.testing.assert_array_equal(ref.coord, files[keys.COORD].reshape(ref.nframes, -1, 3))
    assert ref.coord.dtype == np.float64


def test_dpdata_format_reads_the_same():
    ref = load_system(FIX / "water_ener", ["O", "H"])
    via = load_system(FIX / "water_ener", ["O", "H"], fmt="deepmd/npy")
    np.testing.assert_allclose(via.coord, ref.coord)
    np.testing.assert_allclose(via.box, ref.box)
    np.testing.assert_allclose(via.labels[keys.ENERGY], ref.labels[keys.ENERGY])
    np.testing.assert_allclose(via.labels[keys.FORCE], ref.labels[keys.FORCE])
    with pytest.raises(DataError, match="dpdata"):
        load_system(FIX / "water_ener", ["O", "H"], fmt="vasp/outcar")


def test_sets_are_concatenated_and_shapes_follow_keys():
    s = load_system(FIX / "water_ener", ["O", "H"])
    assert s.nframes == 3 and s.set_nframes == (2, 1) and s.natoms == 192
    e0 = np.load(FIX / "water_ener/set.000/energy.npy")
    e1 = np.load(FIX / "water_ener/set.001/energy.npy")
    np.testing.assert_array_equal(s.labels[keys.ENERGY], np.concatenate([e0, e1]))
    assert s.labels[keys.FORCE].shape == (3, 192, 3)
    assert s.box.shape == (3, 3, 3) and s.periodic
    assert set(s.labels) == {keys.ENERGY, keys.FORCE}  # no virial file: absent, never zeros
    h = load_system(FIX / "hessian_mol", ["C", "H", "N", "O"])
    assert h.labels[keys.HESSIAN].shape == (2, 45, 45)
    flat = np.load(FIX / "hessian_mol/set.000/hessian.npy")
    np.testing.assert_array_equal(h.labels[keys.HESSIAN][1].ravel(), flat[1])


def test_nopbc_marker_beside_box_means_non_periodic():
    s = load_system(FIX / "dipole_global", ["O", "H"])
    assert (FIX / "dipole_global/set.000/box.npy").exists()
    assert s.box is None and not s.periodic
    assert load_system(FIX / "polar_global", ["O", "H"]).periodic


def test_type_map_remapped_to_the_model():
    data_types = np.loadtxt(FIX / "water_ener/type.raw", dtype=int)  # data: O=0, H=1
    s = load_system(FIX / "water_ener", ["H", "O"])
    np.testing.assert_array_equal(s.atype, 1 - data_types)
    s = load_system(FIX / "water_ener", ["C", "O", "N", "H"])
    np.testing.assert_array_equal(s.atype, np.where(data_types == 0, 1, 3))
    assert s.type_map == ["C", "O", "N", "H"]
    h = load_system(FIX / "hessian_mol", ["O", "N", "H", "C"])
    data_h = np.loadtxt(FIX / "hessian_mol/type.raw", dtype=int)  # C H N O
    np.testing.assert_array_equal(h.atype, np.array([3, 2, 1, 0])[data_h])


def test_unknown_element_names_both_maps():
    with pytest.raises(DataError) as err:
        load_system(FIX / "water_ener", ["O", "C"])
    msg = str(err.value)
    assert "['H']" in msg and "['O', 'H']" in msg and "['O', 'C']" in msg
    assert "water_ener" in msg


def test_without_type_map_raw_indices_are_kept(tmp_path):
    sys_dir = tmp_path / "sys"
    shutil.copytree(FIX / "water_ener", sys_dir)
    os.remove(sys_dir / "type_map.raw")
    s = load_system(sys_dir, ["A", "B"])
    np.testing.assert_array_equal(s.atype, np.loadtxt(sys_dir / "type.raw", dtype=int))
    with pytest.raises(DataError, match=r"type index 1 .*\['A'\]"):
        load_system(sys_dir, ["A"])


def test_missing_parts_are_data_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty.*type\.raw is missing"):
        load_system(empty, ["O", "H"])
    (empty / "type.raw").write_text("0\n1\n")
    with pytest.raises(DataError, match=r"empty: no frames"):
        load_system(empty, ["O", "H"])
    (empty / "set.000").mkdir()
    with pytest.raises(DataError, match=r"set\.000: no frames: coord\.npy"):
        load_system(empty, ["O", "H"])
    np.save(empty / "set.000/coord.npy", np.zeros((2, 6)))
    with pytest.raises(DataError, match=r"box\.npy is missing.*nopbc"):
        load_system(empty, ["O", "H"])
    (empty / "nopbc").write_text("")
    assert load_system(empty, ["O", "H"]).nframes == 2


def test_label_in_some_sets_only(tmp_path):
    sys_dir = tmp_path / "sys"
    shutil.copytree(FIX / "water_ener", sys_dir)
    os.remove(sys_dir / "set.001/force.npy")
    with pytest.raises(DataError, match=r"set\.001: force\.npy missing in this set"):
        load_system(sys_dir, ["O", "H"])


def test_find_systems_recursive_sorted_and_relative(tmp_path, monkeypatch):
    found = find_systems([str(FIX)])
    assert found == sorted(found) and len(found) == len(SYSTEMS)
    assert all(os.path.isfile(os.path.join(p, "type.raw")) for p in found)
    assert find_systems(str(FIX / "water_ener")) == [str(FIX / "water_ener")]
    # relative: cwd first, then base_dir
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no such system"):
        find_systems(["water_ener"])
    assert find_systems(["water_ener"], base_dir=str(FIX)) == [str(FIX / "water_ener")]
    shutil.copytree(FIX / "water_ener", tmp_path / "water_ener")
    assert find_systems(["water_ener"], base_dir=str(FIX)) == ["water_ener"]
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="nothing: no DeePMD system"):
        find_systems(["nothing"])


def test_find_systems_in_hdf5(tmp_path):
    h5 = tmp_path / "all.h5"
    write_h5(FIX / "polar_global", h5, "/b")
    write_h5(FIX / "water_ener", h5, "/a/w")
    assert find_systems([str(h5)]) == [f"{h5}#/a/w", f"{h5}#/b"]
    assert find_systems([f"{h5}#/a"]) == [f"{h5}#/a/w"]
    assert load_system(f"{h5}#/a/w", ["O", "H"]).nframes == 3
    with pytest.raises(DataError, match="no group /c"):
        find_systems([f"{h5}#/c"])
