"""dpdata: the ``dpt`` driver (``System.predict(model, driver="dpt")``), found through the entry
point in a fresh interpreter; labels written as DeePMD npy read back by dptensor; and systems of
other formats (``--fmt`` of ``dpt test``, ``"fmt"`` in input.json)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ecosystem_helpers import one_torch_thread, save_model  # noqa: F401 (fixture)
from model_fixtures import ORTHO_BOX, random_frame

from dptensor.errors import DataError

dpdata = pytest.importorskip("dpdata")
pytest.importorskip("dptensor_pt", reason="the driver tests evaluate through PyTorch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "data")
WATER = os.path.join(FIXTURES, "water_ener")  # 3 frames, 192 atoms, periodic, type_map O H


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("driver_models"), "ener")


@pytest.fixture(scope="module")
def deep_model(model_path):
    from dptensor.infer import DeepModel

    return DeepModel(model_path)


def small_system(names=("O", "H"), nopbc=False, nframes=2):
    """A dpdata System of nine atoms (types in ``names`` order), ``nframes`` random frames."""
    frames = [random_frame(seed, [0, 1, 1] * 3, box=None if nopbc else ORTHO_BOX, span=3.0)
              for seed in range(nframes)]
    atype = frames[0][1]
    data = {"atom_names": list(names), "atom_numbs": [int(np.sum(atype == t)) for t in range(2)],
            "atom_types": atype, "orig": np.zeros(3),
            "cells": np.tile(ORTHO_BOX if not nopbc else np.eye(3) * 10.0, (nframes, 1, 1)),
            "coords": np.stack([f[0] for f in frames]), "nopbc": nopbc}
    return dpdata.System(data=data)


def test_predict_through_the_entry_point(tmp_path, model_path, deep_model):
    """A fresh interpreter that never imports dptensor finds the driver by name."""
    out = tmp_path / "labels.npz"
    script = (
        "import sys, numpy as np, dpdata\n"
        "s = dpdata.System(sys.argv[1], fmt='deepmd/npy')\n"
        "l = s.predict(sys.argv[2], driver='dpt')\n"
        "np.savez(sys.argv[3], e=l['energies'], f=l['forces'], v=l['virials'])\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # run outside the source tree: a stale ``dptensor.egg-info`` there would shadow the
    # installed entry points (``python -c`` puts the working directory first on sys.path)
    run = subprocess.run([sys.executable, "-c", script, WATER, model_path, str(out)],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
                         check=False)
    assert run.returncode == 0, run.stderr
    labels = np.load(out)
    system = dpdata.System(WATER, fmt="deepmd/npy")
    ref = deep_model.evaluate(system["coords"], system["cells"], system["atom_types"])
    np.testing.assert_allclose(labels["e"], ref["energy"], atol=1e-10)
    np.testing.assert_allclose(labels["f"], ref["force"], atol=1e-10)
    np.testing.assert_allclose(labels["v"], ref["virial"], atol=1e-10)


def test_labels_follow_element_names(deep_model):
    """A system whose names are listed H first is labeled as the same atoms in O H order."""
    import dptensor.dpdata_driver  # noqa: F401 (registers the driver in this process too)

    ref = small_system(("O", "H")).predict(deep_model, driver="dpt")
    swapped = small_system(("O", "H"))
    data = dict(swapped.data)
    data["atom_names"], data["atom_types"] = ["H", "O"], 1 - data["atom_types"]
    data["atom_numbs"] = data["atom_numbs"][::-1]
    labeled = dpdata.System(data=data).predict(deep_model, driver="dpt")
    np.testing.assert_allclose(labeled["energies"], ref["energies"], atol=1e-10)
    np.testing.assert_allclose(labeled["forces"], ref["forces"], atol=1e-10)
    assert np.abs(ref["forces"]).max() > 1e-4


def test_npy_written_by_dpdata_reads_back_in_dptensor(tmp_path, deep_model):
    """dpt needs no format of its own: dpdata's DeePMD npy of the labels is training data."""
    from dptensor.data import keys
    from dptensor.data.system import load_system
    from dptensor.dpdata_driver import DPTDriver

    labeled = small_system().predict(driver=DPTDriver(deep_model))
    labeled.to("deepmd/npy", str(tmp_path / "sys"))
    system = load_system(tmp_path / "sys", deep_model.type_map)
    np.testing.assert_allclose(system.labels[keys.ENERGY], labeled["energies"], atol=1e-10)
    np.testing.assert_allclose(system.labels[keys.FORCE], labeled["forces"], atol=1e-10)
    np.testing.assert_allclose(system.labels[keys.VIRIAL], labeled["virials"], atol=1e-10)


def test_non_periodic_frames_get_no_virial(deep_model):
    from dptensor.dpdata_driver import DPTDriver

    data = DPTDriver(deep_model).label(small_system(nopbc=True).data)
    assert "virials" not in data and data["forces"].shape == (2, 9, 3)


def test_driver_errors_name_the_problem(tmp_path, deep_model):
    from dptensor.dpdata_driver import DPTDriver, model_types_of

    with pytest.raises(DataError, match=r"\['Cl'\].*type_map \['O', 'H'\]"):
        model_types_of(["O", "Cl"], np.array([0, 1]), ["O", "H"])
    # a name no atom uses is fine (dpdata keeps every name it has seen)
    assert model_types_of(["Cl", "O", "H"], np.array([1, 2, 2]), ["O", "H"]).tolist() == [0, 1, 1]
    dipole = save_model(tmp_path, "dipole")
    with pytest.raises(DataError, match="dipole model"):
        DPTDriver(dipole)


def test_dpt_test_reads_dpdata_formats(tmp_path, deep_model, model_path, capsys):
    """``dpt test --fmt``: model-labeled frames in another format give RMSE 0."""
    from dptensor.cli.main import main
    from dptensor.dpdata_driver import DPTDriver

    labeled = small_system(nframes=1).predict(driver=DPTDriver(deep_model))
    labeled.to("extxyz", str(tmp_path / "frames.xyz"))
    labeled.to("deepmd/raw", str(tmp_path / "raw"))
    for path, fmt in ((tmp_path / "frames.xyz", "extxyz"), (tmp_path / "raw", "deepmd/raw")):
        assert main(["test", "-m", model_path, "-s", str(path), "--fmt", fmt]) == 0
        out = capsys.readouterr().out
        assert "1 frame tested" in out
        force_line = [line for line in out.splitlines() if line.strip().startswith("force")][-1]
        assert float(force_line.split()[1]) < 1e-8


def test_every_extxyz_frame_is_read(tmp_path):
    from dptensor.data.system import load_system

    dpdata.LabeledSystem(WATER, fmt="deepmd/npy").to("extxyz", str(tmp_path / "w.xyz"))
    assert load_system(tmp_path / "w.xyz", ["O", "H"], fmt="extxyz").nframes == 3


def test_training_reads_fmt_systems(tmp_path, monkeypatch):
    from dptensor.cli.main import main

    dpdata.LabeledSystem(WATER, fmt="deepmd/npy").to("extxyz", str(tmp_path / "water.xyz"))
    cfg = {"model": {"type_map": ["O", "H"],
                     "descriptor": {"type": "se_e2_a", "sel": [8, 16], "rcut": 3.0,
                                    "rcut_smth": 2.5, "neuron": [4, 8], "axis_neuron": 2},
                     "fitting_net": {"neuron": [8]}},
           "learning_rate": {"start_lr": 1e-3, "decay_steps": 2},
           "loss": {"type": "ener"},
           "training": {"training_data": {"systems": ["water.xyz"], "fmt": "extxyz",
                                          "batch_size": 1},
                        "numb_steps": 2, "disp_freq": 1, "save_freq": 2}}
    (tmp_path / "input.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "input.json"]) == 0
    assert (tmp_path / "lcurve.out").is_file()
