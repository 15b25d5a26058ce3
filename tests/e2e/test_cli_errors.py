"""Bad input gets one clear line, a non-zero exit, and nothing written."""

import os
import subprocess
import sys

import pytest

from cli_helpers import dpt, tiny_input, write_input

DIPOLE = dict(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1.0, "pref_atomic": 1.0},
              train=["data/dipole_atomic"])


def _one_error_line(capsys):
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dpt ")]
    assert err and "error" in err[0]
    return err[0]


def test_invalid_input_writes_nothing(workdir, capsys):
    cfg = tiny_input(**DIPOLE)
    cfg["model"]["fitting_net"]["type"] = "foo"
    write_input("input.json", cfg)
    before = set(os.listdir("."))
    assert dpt("train", "input.json") == 2
    assert "model.fitting_net.type" in capsys.readouterr().err
    assert set(os.listdir(".")) == before


def test_missing_type_raw(workdir, capsys):
    os.remove("data/dipole_atomic/type.raw")
    write_input("input.json", tiny_input(**DIPOLE))
    assert dpt("train", "input.json") == 2
    line = _one_error_line(capsys)
    assert "type.raw" in line and "dipole_atomic" in line
    assert not os.path.exists("lcurve.out") and not os.path.exists("out.json")


def test_missing_checkpoint(workdir, capsys):
    write_input("input.json", tiny_input(**DIPOLE))
    assert dpt("train", "input.json", "--restart", "nope.pt") != 0
    assert "nope.pt" in _one_error_line(capsys)
    assert dpt("freeze", "-c", "nowhere") != 0


def test_dry_run_checks_data_and_writes_nothing(workdir, capsys):
    write_input("input.json", tiny_input(**DIPOLE))
    before = set(os.listdir("."))
    assert dpt("train", "input.json", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "atomic_dipole" in out
    assert set(os.listdir(".")) == before


def test_global_label_in_atomic_file(workdir, capsys):
    import numpy as np

    np.save("data/dipole_atomic/set.000/atomic_dipole.npy", np.zeros((3, 3)))
    write_input("input.json", tiny_input(**DIPOLE))
    assert dpt("train", "input.json", "--dry-run") == 2
    line = capsys.readouterr().err
    assert "atomic_dipole.npy" in line and "(3, 3)" in line


def test_missing_framework_names_the_extra(monkeypatch, capsys):
    from dptensor.backend.registry import get_backend
    from dptensor.errors import BackendUnavailable
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(BackendUnavailable, match=r"dptensor\[tensorflow\]"):
        get_backend("tf")


def test_help_imports_no_framework():
    """``dpt --help`` stays fast by never importing torch or tensorflow (timed by hand, not here)."""
    code = ("import sys; from dptensor.cli.main import build_parser; build_parser(); "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = subprocess.run(["dpt", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "train" in res.stdout
