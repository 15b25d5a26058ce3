"""train -> freeze -> test on tiny data, for each backend and model type."""

import math
import os

import numpy as np
import pytest

from dptensor.backend import available_backends
from cli_helpers import dpt, read_lcurve, tiny_input, write_input

BACKENDS = available_backends()
FROZEN = {"pt": "frozen_model.pth", "tf": "frozen_model.savedmodel"}

DIPOLE = dict(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1.0, "pref_atomic": 1.0},
              train=["data/dipole_atomic", "data/dipole_global"], valid=["data/dipole_atomic", "data/dipole_global"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_dipole_mixed_labels(workdir, backend, capsys):
    write_input("input.json", tiny_input(**DIPOLE))
    assert dpt("train", "input.json", "--backend", backend) == 0
    header, rows = read_lcurve("lcurve.out")
    assert header == ["step", "rmse_val", "rmse_trn", "rmse_lc_val", "rmse_lc_trn", "rmse_gl_val",
                      "rmse_gl_trn", "lr"]
    assert [r[0] for r in rows] == [0, 2, 4]
    assert not any(math.isnan(x) for r in rows for x in r), "mixed global/atomic systems must not give nan"
    assert os.path.exists("out.json") and os.path.exists("checkpoint")
    frozen = FROZEN[backend]
    assert dpt("freeze", "-o", frozen) == 0
    assert dpt("test", "-m", frozen, "-s", "data/dipole_global", "-s", "data/dipole_atomic",
               "-d", "res", "-a") == 0
    with open("res.dipole.out") as fh:
        text = fh.read()
    assert "data/dipole_global" in text
    atomic = np.loadtxt("res.atomic_dipole.out")
    assert atomic.shape == (3 * 64, 6)  # 3 frames x 64 O atoms, data then pred


@pytest.mark.parametrize("backend", BACKENDS)
def test_polar_global_only_validation(workdir, backend):
    cfg = tiny_input(fitting={"type": "polar", "sel_type": [0], "fit_diag": False},
                     loss={"type": "tensor", "pref": 1.0, "pref_atomic": 1.0},
                     train=["data/polar_atomic", "data/polar_global"], valid=["data/polar_global"])
    write_input("input.json", cfg)
    assert dpt("train", "input.json", "--backend", backend) == 0
    header, rows = read_lcurve("lcurve.out")
    lc_val = header.index("rmse_lc_val")
    # no validation system has atomic labels: nan there, and only there
    assert all(math.isnan(r[lc_val]) for r in rows)
    assert not any(math.isnan(x) for r in rows for i, x in enumerate(r) if i != lc_val)


@pytest.mark.parametrize("backend", BACKENDS)
def test_energy_hessian(workdir, backend):
    loss = {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000, "limit_pref_f": 1,
            "start_pref_h": 0, "limit_pref_h": 1}
    desc = {"type": "se_e2_a", "sel": [6, 10, 3, 3], "rcut": 4.0, "rcut_smth": 0.5, "neuron": [4, 8],
            "axis_neuron": 2, "seed": 1}
    cfg = tiny_input(fitting={"type": "ener"}, loss=loss, train=["data/hessian_mol"], valid=["data/hessian_mol"],
                     type_map=("C", "H", "N", "O"), descriptor=desc)
    write_input("input.json", cfg)
    assert dpt("train", "input.json", "--backend", backend) == 0
    header, rows = read_lcurve("lcurve.out")
    assert header[-3:] == ["rmse_h_val", "rmse_h_trn", "lr"], "a Hessian prefactor ramping from 0 is on"
    frozen = FROZEN[backend]
    assert dpt("freeze", "-o", frozen) == 0
    assert dpt("test", "-m", frozen, "-s", "data/hessian_mol", "-d", "res") == 0
    h = np.loadtxt("res.h.out")
    assert h.shape == (2 * 45 * 45, 2)
    assert os.path.exists("res.e.out") and os.path.exists("res.f.out")
