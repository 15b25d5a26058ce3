"""``dpt show``: type map, networks, size and steps of the model files of every backend."""

import os

import pytest
from ecosystem_helpers import one_torch_thread  # noqa: F401 (fixture)
from model_fixtures import make_model

from dptensor.cli.main import main

# the tiny model of model_fixtures: 2 types, embedding [4, 8] per (center, neighbor) type pair,
# axis_neuron 2, fitting [8, 8] with resnet_dt; counted by hand from the architecture
EMBED = (1 * 4 + 4) + (4 * 8 + 8)  # weights + biases of 1 -> 4 -> 8
FIT_IN = 8 * 2  # descriptor width: neuron[-1] * axis_neuron
# hidden layers: w, b, and a timestep on the layer with a shortcut (8 -> 8) only
FIT = (FIT_IN * 8 + 8) + (8 * 8 + 8 + 8) + (8 * 1 + 1)
TRAINED = 4 * EMBED + 2 * FIT
ALL = ("type-map", "descriptor", "fitting-net", "size", "steps")


def show(capsys, path, *attrs):
    assert main(["show", str(path), *(attrs or ALL)]) == 0
    return capsys.readouterr().out


def check_common(out, path):
    assert out.splitlines()[1] == "type-map: O H"
    assert '  type:                "se_e2_a"' in out and '  sel:                 [16, 24]' in out
    assert '  type:                "ener"' in out and '  neuron:              [8, 8]' in out
    assert f"size: {TRAINED:,} trained parameters" in out
    assert "ntypes" not in out  # derived keys are not settings


def test_show_dpt_file(tmp_path, capsys):
    from dptensor.io import save_dpt

    path = tmp_path / "m.dpt"
    save_dpt(str(path), make_model("ener").serialize())
    out = show(capsys, path)
    assert out.startswith(f"{path}: neutral .dpt file, ener model")
    check_common(out, path)
    assert "steps: not recorded" in out


# freezing (TorchScript, SavedModel) takes seconds per file: those cases run with the slow tests
slow = pytest.mark.skipif(os.environ.get("DPT_SLOW_TESTS") != "1",
                          reason="freezes models; set DPT_SLOW_TESTS=1")


@pytest.mark.usefixtures("one_torch_thread")
def test_show_pytorch_checkpoints_and_training_folder(tmp_path, capsys, monkeypatch):
    """A real run: its checkpoints record the step."""
    pytest.importorskip("dptensor_pt")
    from e2e.cli_helpers import tiny_input, write_input

    water = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "data",
                         "water_ener")
    monkeypatch.chdir(tmp_path)
    write_input("input.json", tiny_input({"type": "ener"}, {"type": "ener"}, [water], steps=3))
    assert main(["train", "input.json"]) == 0
    capsys.readouterr()
    assert "steps: 3" in show(capsys, "model.ckpt-3.pt", "steps")
    assert "steps: 2" in show(capsys, "model.ckpt-2.pt", "steps")
    out = show(capsys, ".", "steps", "type-map")  # the folder: its latest checkpoint
    title = f"{os.path.join('.', 'model.ckpt-3.pt')}: PyTorch checkpoint, ener model"
    assert out.splitlines() == [title, "steps: 3", "type-map: O H"]


FILES = {  # file name -> (backend module, title of the kind, steps line)
    "m.tfckpt": ("dptensor_tf", "TensorFlow checkpoint", "steps: 0"),
    "m.pth": ("dptensor_pt", "PyTorch frozen model", "steps: not recorded"),
    "m.savedmodel": ("dptensor_tf", "TensorFlow frozen model", "steps: not recorded"),
}


@pytest.mark.parametrize("name", [
    "m.tfckpt", pytest.param("m.pth", marks=slow), pytest.param("m.savedmodel", marks=slow)])
def test_show_backend_files(tmp_path, capsys, name):
    backend, kind, steps = FILES[name]
    pytest.importorskip(backend)
    from dptensor.cli.model_files import write_model

    write_model(make_model("ener"), str(tmp_path / name))
    out = show(capsys, tmp_path / name)
    assert f"{kind}, ener model" in out.splitlines()[0] and steps in out
    check_common(out, tmp_path / name)


def test_show_errors(tmp_path, capsys):
    assert main(["show", str(tmp_path / "none.pth"), "size"]) == 2
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "m.xyz").write_text("")
    assert main(["show", str(tmp_path / "m.xyz"), "size"]) == 1
    assert "no backend owns this file suffix" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["show", str(tmp_path / "m.xyz"), "weights"])  # argparse: invalid choice
