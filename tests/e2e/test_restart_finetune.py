"""--restart, --init-model and --finetune from the command line (PyTorch backend)."""

import json

import numpy as np
import pytest

from cli_helpers import dpt, read_lcurve, tiny_input, write_input
from dptensor.cli.model_files import read_model

pytest.importorskip("torch")

ENER_LOSS = {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000, "limit_pref_f": 1}


def ener_input(steps=4, type_map=("O", "H"), sel=(8, 16)):
    desc = {"type": "se_e2_a", "sel": list(sel), "rcut": 3.0, "rcut_smth": 2.5, "neuron": [4, 8],
            "axis_neuron": 2, "seed": 1}
    return tiny_input(fitting={"type": "ener"}, loss=ENER_LOSS, train=["data/water_ener"], steps=steps,
                      type_map=type_map, descriptor=desc)


def test_restart_continues_and_appends(workdir):
    write_input("input.json", ener_input(steps=4))
    assert dpt("train", "input.json") == 0
    write_input("input6.json", ener_input(steps=6))
    assert dpt("train", "input6.json", "--restart", "model.ckpt-4.pt") == 0
    _, rows = read_lcurve("lcurve.out")
    assert [r[0] for r in rows] == [0, 2, 4, 4, 6]
    from dptensor.train.lr import ExpDecayLR

    # the restarted run follows its own schedule (numb_steps 6) from step 4 on
    assert rows[3][-1] == pytest.approx(ExpDecayLR(1e-3, 1e-5, 2, 6)(4), rel=1e-4)


def test_init_model_starts_at_zero_with_weights(workdir):
    write_input("input.json", ener_input(steps=2))
    assert dpt("train", "input.json") == 0
    first = read_model("model.ckpt-2.pt")
    assert dpt("train", "input.json", "--init-model", "model.ckpt-2.pt", "-o", "init") == 0
    _, rows = read_lcurve("init/lcurve.out")
    assert rows[0][0] == 0 and len(rows) == 2
    second = read_model("init/model.ckpt-2.pt")
    # statistics are carried over, not recomputed; the weights went on training from the source's
    for key in ("davg", "dstd"):
        np.testing.assert_array_equal(second.descriptor.variables[key], first.descriptor.variables[key])
    np.testing.assert_array_equal(second.fitting.variables["bias_atom_e"], first.fitting.variables["bias_atom_e"])


@pytest.mark.parametrize("type_map", [("H", "O"), ("O",), ("O", "H", "C")])
def test_finetune_remaps_types(workdir, type_map):
    write_input("input.json", ener_input(steps=2))
    assert dpt("train", "input.json") == 0
    pre = read_model("model.ckpt-2.pt")
    sel = {"O": 8, "H": 16, "C": 4}
    cfg = ener_input(steps=2, type_map=type_map, sel=[sel[t] for t in type_map])
    write_input("ft.json", cfg)
    if "H" not in type_map:
        # the water data has H atoms: a model without H cannot read it
        assert dpt("train", "ft.json", "--finetune", "model.ckpt-2.pt", "-o", "ft") == 2
        return
    assert dpt("train", "ft.json", "--finetune", "model.ckpt-2.pt", "-o", "ft") == 0
    new = read_model("ft/model.ckpt-2.pt")
    assert new.type_map == list(type_map)
    assert new.descriptor.rcut == pre.descriptor.rcut


def test_finetune_energy_descriptor_seeds_dipole(workdir):
    write_input("input.json", ener_input(steps=2))
    assert dpt("train", "input.json") == 0
    cfg = tiny_input(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1, "pref_atomic": 1},
                     train=["data/dipole_atomic"], steps=2,
                     descriptor={**ener_input()["model"]["descriptor"]})
    write_input("dip.json", cfg)
    assert dpt("train", "dip.json", "--finetune", "model.ckpt-2.pt", "-o", "dip") == 0
    with open("dip/out.json") as fh:
        assert json.load(fh)["model"]["fitting_net"]["type"] == "dipole"


def test_finetune_refuses_other_model_type(workdir, capsys):
    cfg = tiny_input(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1, "pref_atomic": 1},
                     train=["data/dipole_atomic"], steps=2, descriptor=ener_input()["model"]["descriptor"])
    write_input("dip.json", cfg)
    assert dpt("train", "dip.json") == 0
    assert dpt("freeze", "-o", "dipole.pth") == 0
    write_input("ener.json", ener_input(steps=2))
    assert dpt("train", "ener.json", "--finetune", "dipole.pth", "-o", "ft") != 0
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "dipole" in err[0] and "ener" in err[0]


def test_finetune_refuses_other_descriptor(workdir, capsys):
    write_input("input.json", ener_input(steps=2))
    assert dpt("train", "input.json") == 0
    cfg = ener_input(steps=2)
    cfg["model"]["descriptor"]["rcut"] = 3.5
    write_input("ft.json", cfg)
    assert dpt("train", "ft.json", "--finetune", "model.ckpt-2.pt", "-o", "ft") != 0
    assert "model.descriptor.rcut" in capsys.readouterr().err


def test_finetuned_model_keeps_weights_of_known_types(workdir):
    write_input("input.json", ener_input(steps=2))
    assert dpt("train", "input.json") == 0
    pre = read_model("model.ckpt-2.pt")
    from dptensor.train.finetune import finetune_model
    from dptensor.config import load_input

    write_input("ft.json", ener_input(steps=2, type_map=("H", "O"), sel=(16, 8)))
    new = finetune_model(pre, load_input("ft.json"))
    np.testing.assert_array_equal(new.fitting.variables["nets"][0]["layers"][0]["w"],
                                  pre.fitting.variables["nets"][1]["layers"][0]["w"])
    # two-sided embeddings: net (center H, neighbor O) is index 0*2+1 in the new model, 1*2+0 before
    np.testing.assert_array_equal(new.descriptor.variables["embeddings"][1]["layers"][0]["w"],
                                  pre.descriptor.variables["embeddings"][2]["layers"][0]["w"])
