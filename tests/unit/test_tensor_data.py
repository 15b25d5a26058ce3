"""Data files of a ``tensor`` model's own label: ``<label>.npy`` per frame, ``atomic_<label>.npy``
per atom (all atoms or the selected ones), in npy, raw and HDF5 systems, with the same
wrong-file hints as dipole and polarizability."""

import numpy as np
import pytest

from data_fixtures import ATYPE, NF, make_system

from dptensor.data import keys
from dptensor.data.batch import DataSystemSet
from dptensor.data.shapes import TensorLabel, tensor_labels_of
from dptensor.data.system import load_system
from dptensor.errors import DataError
from dptensor.model.output_def import DIPOLE, ENERGY, tensor_output
from dptensor.train.setup import _tensor_labels

BEC = TensorLabel("bec", "atomic_bec", (3, 3))
FIELD = TensorLabel("field", "atomic_field", (3,))


def test_tensor_labels_of_output_defs():
    assert tensor_labels_of(tensor_output("bec", 2)) == (BEC,)
    assert tensor_labels_of(tensor_output("field", 1)) == (FIELD,)
    assert tensor_labels_of(ENERGY) == () and tensor_labels_of(None) == ()
    assert tensor_labels_of(DIPOLE) == (TensorLabel("dipole", "atomic_dipole", (3,)),)


def test_global_and_atomic_rows_in_xx_xy_order(tmp_path):
    rng = np.random.default_rng(1)
    full = rng.normal(size=(NF, 5, 3, 3))
    glob = rng.normal(size=(NF, 3, 3))
    root = make_system(tmp_path / "s", bec=glob.reshape(NF, 9), atomic_bec=full.reshape(NF, -1))
    s = load_system(root, ["O", "H"], sel_type=[0], tensor_labels=(BEC,))
    np.testing.assert_array_equal(s.labels["bec"], glob)
    assert s.labels["atomic_bec"][0, 0, 0, 1] == full[0, 0, 0, 1]  # row-major: XY is the 2nd
    np.testing.assert_array_equal(s.labels["atomic_bec"][:, ATYPE == 0], full[:, ATYPE == 0])
    assert np.all(s.labels["atomic_bec"][:, ATYPE == 1] == 0.0)  # not selected
    # rows of the selected atoms only read the same
    sel = make_system(tmp_path / "sel", atomic_bec=full[:, ATYPE == 0].reshape(NF, -1))
    t = load_system(sel, ["O", "H"], sel_type=[0], tensor_labels=(BEC,))
    np.testing.assert_array_equal(t.labels["atomic_bec"], s.labels["atomic_bec"])


def test_files_are_read_only_for_a_model_with_that_label(tmp_path):
    root = make_system(tmp_path / "s", bec=np.zeros((NF, 9)))
    assert "bec" not in load_system(root, ["O", "H"]).labels
    assert "bec" in load_system(root, ["O", "H"], tensor_labels=(BEC,)).labels


def test_rank1_label_and_raw_and_hdf5_layouts(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    field = rng.normal(size=(NF, 5 * 3))
    npy = make_system(tmp_path / "npy", atomic_field=field)
    ref = load_system(npy, ["O", "H"], tensor_labels=(FIELD,))
    assert ref.labels["atomic_field"].shape == (NF, 5, 3)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "type.raw").write_text((npy / "type.raw").read_text())
    (raw / "type_map.raw").write_text("O\nH\n")
    for stem in (keys.COORD, keys.BOX, "atomic_field"):
        np.savetxt(raw / f"{stem}.raw", np.load(npy / "set.000" / f"{stem}.npy"))
    np.testing.assert_allclose(load_system(raw, ["O", "H"], tensor_labels=(FIELD,))
                               .labels["atomic_field"], ref.labels["atomic_field"])
    with h5py.File(tmp_path / "d.h5", "w") as fh:
        fh["type.raw"] = ATYPE
        fh["type_map.raw"] = np.array([b"O", b"H"])
        for stem in (keys.COORD, keys.BOX, "atomic_field"):
            fh[f"set.000/{stem}.npy"] = np.load(npy / "set.000" / f"{stem}.npy")
    h5 = load_system(str(tmp_path / "d.h5"), ["O", "H"], tensor_labels=(FIELD,))
    np.testing.assert_array_equal(h5.labels["atomic_field"], ref.labels["atomic_field"])


def test_atomic_file_holding_frame_tensors_names_the_global_file(tmp_path):
    root = make_system(tmp_path / "s", atomic_bec=np.zeros((NF, 9)))
    with pytest.raises(DataError, match=r"atomic_bec\.npy: shape \(2, 9\) does not fit atomic_bec"
                                        r".*looks like a global bec: name the file bec\.npy"):
        load_system(root, ["O", "H"], tensor_labels=(BEC,))


def test_global_file_holding_atomic_tensors_names_the_atomic_file(tmp_path):
    root = make_system(tmp_path / "s", bec=np.zeros((NF, 5 * 9)))
    with pytest.raises(DataError, match=r"bec\.npy: shape \(2, 45\) does not fit bec: expected "
                                        r"\(2, 9\).*per-atom data: name the file atomic_bec\.npy"):
        load_system(root, ["O", "H"], tensor_labels=(BEC,))


def test_wrong_width_is_explained(tmp_path):
    root = make_system(tmp_path / "s", atomic_bec=np.zeros((NF, 5 * 3)))  # rank 1 rows
    with pytest.raises(DataError, match=r"expected \(2, 45\) \(all 5 atoms x 9\) or \(2, 18\) "
                                        r"\(2 selected atoms x 9\)"):
        load_system(root, ["O", "H"], sel_type=[0], tensor_labels=(BEC,))


def test_batches_carry_the_labels(tmp_path):
    root = make_system(tmp_path / "s", bec=np.ones((NF, 9)), energy=np.zeros(NF))
    data = DataSystemSet([load_system(root, ["O", "H"], tensor_labels=(BEC,))], 1, 3.0, [4, 4],
                         seed=0)
    assert data.label_kinds() == (keys.ENERGY, "bec")
    batch = data.next_batch()
    assert batch["bec"].shape == (1, 3, 3)


def test_training_setup_reads_the_fitting_label():
    cfg = {"model": {"fitting_net": {"type": "tensor", "label": "bec", "rank": 2}}}
    assert _tensor_labels(cfg) == (BEC,)
    assert _tensor_labels({"model": {"fitting_net": {"type": "dipole"}}}) == ()
