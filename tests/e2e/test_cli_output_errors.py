"""Outputs that cannot be written, checkpoints that do not fit the input, training that diverges:
one clear line, a non-zero exit, and no file left behind that a later command would trust."""

import os

import numpy as np
import pytest

from cli_helpers import dpt, read_lcurve, tiny_input, write_input

pytest.importorskip("torch")

DIPOLE = dict(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1.0, "pref_atomic": 1.0},
              train=["data/dipole_atomic"])


def _error(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def trained(workdir):
    write_input("input.json", tiny_input(**DIPOLE, steps=2))
    assert dpt("train", "input.json") == 0
    return workdir


@pytest.mark.parametrize("output", ["no/such/dir/frozen.pth", "no/such/dir/frozen.dpt",
                                    "no/such/dir/frozen.savedmodel"])
def test_freeze_into_a_missing_folder(trained, capsys, output):
    assert dpt("freeze", "-c", "model.ckpt-2.pt", "-o", output) == 2
    line = _error(capsys)
    assert output in line and "does not exist" in line
    assert not os.path.exists("no")


def test_convert_into_a_missing_folder(trained, capsys):
    assert dpt("convert-backend", "model.ckpt-2.pt", "nowhere/model.dpt") == 2
    assert "nowhere" in _error(capsys)


def test_file_in_the_way_of_a_frozen_model(trained, capsys):
    os.mkdir("frozen.pth")  # a folder where the file should go
    assert dpt("freeze", "-c", "model.ckpt-2.pt", "-o", "frozen.pth") == 2
    assert "frozen.pth" in _error(capsys)
    assert [n for n in os.listdir(".") if ".tmp-" in n] == []


def test_training_output_dir_is_a_file(workdir, capsys):
    write_input("input.json", tiny_input(**DIPOLE, steps=2))
    assert dpt("train", "input.json", "-o", "input.json") == 2
    line = _error(capsys)
    assert "input.json" in line and "not a folder" in line


def test_init_model_of_another_model_type(trained, capsys):
    ener = tiny_input(fitting={"type": "ener"}, loss={"type": "ener"}, train=["data/water_ener"], steps=2)
    write_input("ener.json", ener)
    assert dpt("train", "ener.json", "--init-model", "model.ckpt-2.pt", "-o", "e") == 2
    line = _error(capsys)
    assert "model.fitting_net.type" in line and "'dipole'" in line and "'ener'" in line
    assert not os.path.exists("e/out.json") and not os.path.exists("e/lcurve.out")


@pytest.mark.parametrize("option", ["--init-model", "--restart"])
def test_checkpoint_of_another_size(trained, capsys, option):
    cfg = tiny_input(**DIPOLE, steps=4)
    cfg["model"]["descriptor"]["neuron"] = [4, 4]
    write_input("small.json", cfg)
    assert dpt("train", "small.json", option, "model.ckpt-2.pt", "-o", "s") == 2
    line = _error(capsys)
    assert "model.descriptor.neuron: checkpoint [4, 8], input [4, 4]" in line
    assert "dim_descrpt" not in line and "dim_emb" not in line and "--finetune" not in line
    assert not os.path.exists("s/out.json")


def test_sel_auto_that_resolves_otherwise_is_explained(trained, capsys):
    cfg = tiny_input(**DIPOLE, steps=4)
    cfg["model"]["descriptor"]["sel"] = "auto"
    write_input("auto.json", cfg)
    assert dpt("train", "auto.json", "--init-model", "model.ckpt-2.pt", "-o", "a") == 2
    assert "resolved from 'auto' on the training data" in _error(capsys)


def test_init_model_takes_the_inputs_trainable(trained):
    from dptensor.cli.model_files import read_model

    cfg = tiny_input(**DIPOLE, steps=2)
    cfg["model"]["descriptor"]["trainable"] = False
    cfg["model"]["descriptor"]["seed"] = 99  # a seed changes no weight that is carried over
    write_input("frozen_desc.json", cfg)
    assert dpt("train", "frozen_desc.json", "--init-model", "model.ckpt-2.pt", "-o", "f") == 0
    before, after = read_model("model.ckpt-2.pt"), read_model("f/model.ckpt-2.pt")
    for old, new in zip(before.descriptor.variables["embeddings"], after.descriptor.variables["embeddings"]):
        for lo, ln in zip(old["layers"], new["layers"]):
            np.testing.assert_array_equal(lo["w"], ln["w"])


def test_zero_steps_saves_the_starting_model(workdir):
    write_input("input.json", tiny_input(**DIPOLE, steps=0))
    assert dpt("train", "input.json") == 0
    assert os.path.exists("model.ckpt-0.pt")
    assert dpt("freeze", "-c", ".", "-o", "m.dpt") == 0
    _, rows = read_lcurve("lcurve.out")
    assert [r[0] for r in rows] == [0]


def test_diverging_training_stops_without_saving(workdir, capsys):
    cfg = tiny_input(**DIPOLE, steps=6)
    cfg["learning_rate"] = {"type": "exp", "start_lr": 1e300, "stop_lr": 1e299, "decay_steps": 2}
    write_input("input.json", cfg)
    assert dpt("train", "input.json") == 1
    line = _error(capsys)
    # the first update already leaves useless weights: the loss of step 1, before any save
    assert "step 1: the training loss is not finite" in line and "learning_rate.start_lr" in line
    assert "no checkpoint was written" in line
    assert [n for n in os.listdir(".") if n.startswith("model.ckpt") or n == "checkpoint"] == []


def test_restart_names_its_checkpoint_when_training_diverges(trained, capsys):
    cfg = tiny_input(**DIPOLE, steps=6)
    cfg["learning_rate"] = {"type": "exp", "start_lr": 1e300, "stop_lr": 1e299, "decay_steps": 2}
    write_input("diverge.json", cfg)
    assert dpt("train", "diverge.json", "--restart", "model.ckpt-2.pt") == 1
    assert "the latest checkpoint is model.ckpt-2.pt, of step 2" in _error(capsys)


def test_restart_below_the_checkpoints_step(trained, capsys):
    write_input("short.json", tiny_input(**DIPOLE, steps=1))
    assert dpt("train", "short.json", "--restart", "model.ckpt-2.pt") == 2
    assert "training.numb_steps: 1 is below the step of model.ckpt-2.pt (2)" in _error(capsys)


def test_failed_start_leaves_no_output_folder(trained, capsys):
    cfg = tiny_input(**DIPOLE, steps=2)
    cfg["model"]["descriptor"]["rcut"] = 3.5  # the pretrained nets mean something else
    write_input("ft.json", cfg)
    assert dpt("train", "ft.json", "--finetune", "model.ckpt-2.pt", "-o", "ft") == 2
    assert "rcut" in _error(capsys)
    assert not os.path.exists("ft")
