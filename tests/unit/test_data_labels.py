"""Label layouts: global/atomic by file name, sel-only rows, and errors that explain the file."""

from pathlib import Path

import numpy as np
import pytest

from data_fixtures import ATYPE, NF, make_system

from dptensor.data import keys
from dptensor.data.system import load_system
from dptensor.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_atomic_full_and_sel_only_rows_expand_alike(tmp_path):
    rng = np.random.default_rng(1)
    full = rng.normal(size=(NF, 5, 3))  # non-selected rows hold junk: they must be zeroed
    sel_only = full[:, ATYPE == 0]
    a = load_system(make_system(tmp_path / "a", atomic_dipole=full.reshape(NF, -1)), ["O", "H"],
                    sel_type=[0])
    b = load_system(make_system(tmp_path / "b", atomic_dipole=sel_only.reshape(NF, -1)),
                    ["O", "H"], sel_type=[0])
    for s in (a, b):
        ad = s.labels[keys.ATOMIC_DIPOLE]
        assert ad.shape == (NF, 5, 3)
        np.testing.assert_array_equal(ad[:, ATYPE == 0], sel_only)
        np.testing.assert_array_equal(ad[:, ATYPE == 1], 0.0)


def test_sel_type_follows_the_model_type_map(tmp_path):
    rng = np.random.default_rng(2)
    sel_rows = rng.normal(size=(NF, 2, 3, 3))  # the two O atoms
    root = make_system(tmp_path / "s", atomic_polarizability=sel_rows.reshape(NF, -1))
    s = load_system(root, ["H", "O"], sel_type=[1])  # O is model type 1
    ap = s.labels[keys.ATOMIC_POLARIZABILITY]
    assert ap.shape == (NF, 5, 3, 3)
    np.testing.assert_array_equal(ap[:, ATYPE == 0], sel_rows)
    assert not ap[:, ATYPE == 1].any()


def test_global_labels_reshaped(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {keys.ENERGY: rng.normal(size=NF), keys.VIRIAL: rng.normal(size=(NF, 9)),
              keys.DIPOLE: rng.normal(size=(NF, 3)), keys.POLARIZABILITY: rng.normal(size=(NF, 9)),
              keys.ATOM_ENER: rng.normal(size=(NF, 5)), keys.FORCE: rng.normal(size=(NF, 15)),
              keys.HESSIAN: rng.normal(size=(NF, 225))}
    s = load_system(make_system(tmp_path / "s", **arrays), ["O", "H"])
    shapes = {k: v.shape for k, v in s.labels.items()}
    assert shapes == {keys.ENERGY: (NF,), keys.VIRIAL: (NF, 3, 3), keys.DIPOLE: (NF, 3),
                      keys.POLARIZABILITY: (NF, 3, 3), keys.ATOM_ENER: (NF, 5),
                      keys.FORCE: (NF, 5, 3), keys.HESSIAN: (NF, 15, 15)}
    np.testing.assert_array_equal(s.labels[keys.VIRIAL][1], arrays[keys.VIRIAL][1].reshape(3, 3))
    np.testing.assert_array_equal(s.labels[keys.FORCE][1, 2], arrays[keys.FORCE][1, 6:9])


def test_global_dipole_in_atomic_file_is_explained(tmp_path):
    root = make_system(tmp_path / "s", atomic_dipole=np.ones((NF, 3)))
    with pytest.raises(DataError) as err:
        load_system(root, ["O", "H"], sel_type=[0])
    msg = str(err.value)
    assert "set.000/atomic_dipole.npy" in msg and "(2, 3)" in msg
    assert "(2, 15)" in msg and "(2, 6)" in msg  # all atoms, or the 2 selected ones
    assert "global dipole" in msg and "dipole.npy" in msg


def test_per_atom_array_in_global_file_is_explained(tmp_path):
    root = make_system(tmp_path / "s", polarizability=np.ones((NF, 45)))
    with pytest.raises(DataError) as err:
        load_system(root, ["O", "H"])
    msg = str(err.value)
    assert "polarizability.npy" in msg and "(2, 45)" in msg and "(2, 9)" in msg
    assert "atomic_polarizability" in msg


@pytest.mark.parametrize("name, array, expect", [
    (keys.ENERGY, np.ones((NF, 5)), "atom_ener"),
    (keys.FORCE, np.ones((3, 15)), "holds 3 frames but coord has 2"),
    (keys.FORCE, np.ones((NF, 12)), r"\(2, 15\)"),
    (keys.HESSIAN, np.ones((NF, 15)), r"\(3 x 5\)\^2"),
    (keys.VIRIAL, np.ones((NF, 3)), r"\(2, 9\)"),
    (keys.COORD, np.ones((NF, 12)), "5 atoms of type.raw"),
    (keys.BOX, np.zeros((NF, 9)), "zero volume.*nopbc"),
    (keys.BOX, np.ones((NF, 3)), r"box\.npy: shape \(2, 3\)"),
])
def test_wrong_sizes_name_the_file(tmp_path, name, array, expect):
    root = make_system(tmp_path / "s", **{name: array})
    with pytest.raises(DataError, match=expect) as err:
        load_system(root, ["O", "H"])
    assert f"{name}.npy" in str(err.value)


def test_real_atomic_dipole_fixture_keeps_o_rows_only():
    s = load_system(FIX / "dipole_atomic", ["O", "H"], sel_type=[0])
    raw = np.load(FIX / "dipole_atomic/set.000/atomic_dipole.npy").reshape(3, 192, 3)
    ad = s.labels[keys.ATOMIC_DIPOLE]
    is_o = s.atype == 0
    np.testing.assert_allclose(ad[:, is_o], raw[:, is_o])
    assert not ad[:, ~is_o].any()
    assert keys.DIPOLE not in s.labels


def test_right_frames_wrong_width_says_so(tmp_path):
    root = make_system(tmp_path / "s", **{keys.ATOMIC_DIPOLE: np.ones((NF, 7))})
    with pytest.raises(DataError, match="its 2 frames have 7 numbers each") as err:
        load_system(root, ["O", "H"])
    assert "holds" not in str(err.value)  # no frame-count hint when the frame count is right


@pytest.mark.parametrize("name, shape, where", [
    (keys.COORD, (NF, 15), "frame 1, value 4 of the frame"),
    (keys.BOX, (NF, 9), "frame 1, value 4 of the frame"),
    (keys.ENERGY, (NF,), "frame 1, value 0 of the frame"),
    (keys.FORCE, (NF, 15), "frame 1, value 4 of the frame"),
])
def test_nan_or_inf_is_refused_with_its_place(tmp_path, name, shape, where):
    rng = np.random.default_rng(1)
    array = rng.random(shape) + (np.tile(np.eye(3).ravel() * 5.0, (NF, 1)) if name == keys.BOX else 0.0)
    array.reshape(NF, -1)[1, 0 if name == keys.ENERGY else 4] = np.nan
    root = make_system(tmp_path / "s", **{name: array})
    with pytest.raises(DataError, match=where) as err:
        load_system(root, ["O", "H"])
    assert f"{name}.npy" in str(err.value) and "nan" in str(err.value)


def test_nan_position_is_the_files_for_rows_of_selected_atoms_only(tmp_path):
    nsel = int(np.sum(np.asarray(ATYPE) == 0))
    array = np.zeros((NF, nsel * 3))
    array[0, 1] = np.inf
    root = make_system(tmp_path / "s", **{keys.ATOMIC_DIPOLE: array})
    with pytest.raises(DataError, match="inf at frame 0, value 1 of the frame .1 value is"):
        load_system(root, ["O", "H"], sel_type=[0])
