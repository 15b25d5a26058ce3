"""dpt compress: a trained model tabulated into each file kind predicts as the model does; a
compressed model is not trained further; missing settings fail clearly and write nothing."""

import os

import numpy as np
import pytest

from cli_helpers import dpt, tiny_input, write_input
from dptensor.backend import available_backends
from dptensor.infer import DeepModel

LOSS = {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000, "limit_pref_f": 1}
KEYS = ("energy", "force", "virial", "atom_energy")


@pytest.fixture
def trained(workdir):
    if "pt" not in available_backends():
        pytest.skip("needs the PyTorch backend")
    write_input("input.json", tiny_input(fitting={"type": "ener"}, loss=LOSS, train=["data/water_ener"],
                                         steps=2))
    assert dpt("train", "input.json", "--backend", "pt") == 0
    return "model.ckpt-2.pt"


def _frame():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 6, (2, 6, 3)), np.eye(3)[None].repeat(2, 0) * 6.0, np.array([0, 1, 1, 0, 1, 1])


def _outputs(path):
    coord, box, atype = _frame()
    return DeepModel(path).evaluate(coord, box, atype, atomic=True)


@pytest.mark.parametrize("suffix", [".pth", ".savedmodel", ".dpt"])
def test_compressed_file_predicts_as_the_model(trained, suffix):
    if suffix == ".savedmodel" and "tf" not in available_backends():
        pytest.skip("needs the TensorFlow backend")
    out = "c" + suffix
    assert dpt("compress", "-i", trained, "-o", out, "-t", "input.json") == 0
    ref, got = _outputs(trained), _outputs(out)
    for key in KEYS:
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-9, err_msg=key)


def test_compressed_model_is_not_trained(trained, capsys):
    assert dpt("compress", "-i", trained, "-o", "c.pt", "--min-nbor-dist", "0.8") == 0
    assert dpt("train", "input.json", "--init-model", "c.pt", "-o", "again") != 0
    assert "c.pt: the model is compressed" in capsys.readouterr().err
    assert not os.path.exists("again")


def test_training_records_the_distance_compress_uses(trained, capsys):
    from dptensor.data.neighbor import neighbor_stat
    from dptensor.data.system import load_system

    from dptensor.cli.model_files import read_model

    recorded = read_model(trained).meta["min_nbor_dist"]  # over the frames that training used
    assert recorded >= neighbor_stat([load_system("data/water_ener", ["O", "H"])], 3.0, ["O", "H"])[1]
    assert dpt("compress", "-i", trained, "-o", "c.dpt") == 0
    assert "Angstrom (from the model)" in capsys.readouterr().err
    assert read_model("c.dpt").descriptor.compress["min_nbor_dist"] == recorded


def test_without_a_distance_nothing_is_written(workdir, capsys):
    from dptensor.io import save_dpt
    from model_fixtures import make_variant

    save_dpt("m.dpt", make_variant("ener").serialize())  # a model that records no distance
    assert dpt("compress", "-i", "m.dpt", "-o", "c.pth") != 0
    err = capsys.readouterr().err
    assert "smallest neighbor distance" in err and "-t INPUT" in err
    assert not os.path.exists("c.pth")


def test_compressing_a_compressed_model_fails(trained, capsys):
    assert dpt("compress", "-i", trained, "-o", "c.dpt", "--min-nbor-dist", "0.8") == 0
    assert dpt("compress", "-i", "c.dpt", "-o", "d.dpt", "--min-nbor-dist", "0.8") != 0
    assert "already compressed" in capsys.readouterr().err
    assert not os.path.exists("d.dpt")


def test_the_input_is_never_overwritten(trained, capsys):
    before = os.path.getmtime(trained)
    assert dpt("compress", "-i", trained, "-o", trained) != 0
    assert "would overwrite the input model" in capsys.readouterr().err
    assert os.path.getmtime(trained) == before


def test_an_unknown_output_suffix_fails_before_compressing(trained, capsys):
    assert dpt("compress", "-i", trained, "-o", "c.model") != 0
    err = capsys.readouterr().err
    assert "c.model: no backend owns this file suffix" in err and "tabulated" not in err
    assert not os.path.exists("c.model")
