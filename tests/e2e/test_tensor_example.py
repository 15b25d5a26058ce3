"""examples/tensor: the shipped Born charges are those of the physical model (checked against
finite differences of the dipole, the sum rule and a fresh run of the generator), and a model
learns them: in 200 steps to a quarter of their spread (default run), and with the example's
input.json as shipped to 0.012 e (``DPT_SLOW_TESTS=1``).
"""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import dpt, read_lcurve, write_input
from ecosystem_helpers import one_torch_thread  # noqa: F401  (a fixture)

from dptensor.data.shapes import TensorLabel
from dptensor.data.system import load_system

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tensor"
BEC = TensorLabel("bec", "atomic_bec", (3, 3))
slow = pytest.mark.skipif(os.environ.get("DPT_SLOW_TESTS") != "1",
                          reason="trains the example (minutes); set DPT_SLOW_TESTS=1")


def load_generator():
    spec = importlib.util.spec_from_file_location("tensor_example_generate",
                                                  EXAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_system(split):
    return load_system(EXAMPLE / "data" / split, ["X", "Y", "Z"], tensor_labels=(BEC,))




# the data ---------------------------------------------------------------------------------------
def test_born_charges_are_the_derivatives_of_the_dipole():
    gen = load_generator()
    rng = np.random.default_rng(3)
    for _ in range(3):
        coord, atype = gen.random_molecule(rng), gen.MOLECULE_TYPES
        z = gen.born_charges(coord, atype)
        h = 1e-5
        for i in range(3):
            for b in range(3):
                step = np.zeros_like(coord)
                step[i, b] = h
                fd = (gen.dipole(coord + step, atype) - gen.dipole(coord - step, atype)) / (2 * h)
                np.testing.assert_allclose(z[i, :, b], fd, rtol=0, atol=1e-8)
        np.testing.assert_allclose(z.sum(axis=0), 0.0, atol=1e-13)  # acoustic sum rule
        assert np.abs(z - z.transpose(0, 2, 1)).max() > 1e-3  # not symmetric


def test_born_charges_rotate_as_r_z_rt():
    gen = load_generator()
    rng = np.random.default_rng(4)
    coord, atype = gen.random_molecule(rng), gen.MOLECULE_TYPES
    rot = gen.random_rotation(rng)
    np.testing.assert_allclose(gen.born_charges(coord @ rot.T, atype),
                               rot @ gen.born_charges(coord, atype) @ rot.T, atol=1e-12)


def test_shipped_data_is_what_the_generator_writes(tmp_path):
    load_generator().generate(str(tmp_path))
    for split in ("train", "valid"):
        for name in ("coord", "atomic_bec", "bec"):
            shipped = np.load(EXAMPLE / "data" / split / "set.000" / f"{name}.npy")
            fresh = np.load(tmp_path / split / "set.000" / f"{name}.npy")
            np.testing.assert_allclose(shipped, fresh, rtol=0, atol=1e-12,
                                       err_msg=f"{split}/{name}")
    s = example_system("train")
    assert s.labels["atomic_bec"].shape == (s.nframes, s.natoms, 3, 3)
    np.testing.assert_allclose(s.labels["bec"], 0.0, atol=1e-12)  # neutral molecules


# learning ---------------------------------------------------------------------------------------
def run_example(tmp_path, learning_rate=None, **training):
    """Train the example's input.json (learning-rate and training keys overridden) in a copy of
    the example; the rows of lcurve.out as dicts."""
    shutil.copytree(EXAMPLE / "data", tmp_path / "data")
    cfg = json.loads((EXAMPLE / "input.json").read_text())
    cfg["learning_rate"].update(learning_rate or {})
    cfg["training"].update(training)
    assert dpt("train", write_input(tmp_path / "input.json", cfg), "--backend", "pt") == 0
    header, rows = read_lcurve(tmp_path / "lcurve.out")
    return [dict(zip(header, row)) for row in rows]


def label_spread(split):
    """RMS deviation of the atomic Born charges from their per-type mean, e."""
    s = example_system(split)
    z = s.labels["atomic_bec"]
    dev = [z[:, s.atype == t] - z[:, s.atype == t].mean(axis=(0, 1)) for t in range(3)]
    return float(np.sqrt(np.mean(np.concatenate(dev, axis=1) ** 2)))


def test_a_short_run_learns_the_born_charges(tmp_path, monkeypatch, one_torch_thread):
    """200 steps (a few seconds): the validation RMSE drops below a quarter of the label spread
    (0.45 e), where a model of the per-type means would stay at the spread."""
    monkeypatch.chdir(tmp_path)
    rows = run_example(tmp_path, {"stop_lr": 1e-3, "decay_steps": 100}, numb_steps=200,
                       disp_freq=100, save_freq=200)
    spread = label_spread("valid")
    assert spread > 0.3
    assert rows[-1]["rmse_lc_val"] < 0.25 * spread, rows[-1]


@slow
def test_the_example_reaches_its_stated_accuracy(tmp_path, monkeypatch, one_torch_thread):
    """The shipped input.json (4000 steps, 1-3 min): atomic Born charges to 0.012 e RMSE on the
    validation frames (it reaches 0.0084 e; the 0.021 e RMS of their antisymmetric part alone is
    out of reach of a symmetric model), checked by ``dpt test`` on the frozen model."""
    monkeypatch.chdir(tmp_path)
    rows = run_example(tmp_path)
    assert rows[-1]["rmse_lc_val"] < 0.012, rows[-1]
    assert dpt("freeze", "-o", "frozen.pth") == 0
    assert dpt("test", "-m", "frozen.pth", "-s", "data/valid", "-d", "out", "-a") == 0
    table = np.loadtxt(tmp_path / "out.atomic_bec.out")
    data, pred = table[:, :9], table[:, 9:]
    assert np.sqrt(np.mean((pred - data) ** 2)) < 0.012
