"""DeePMD-kit ``.dp`` models read as dptensor models predict what DeePMD-kit predicts.

The fixtures (tests/fixtures/deepmd, made by make_fixtures.py with DeePMD-kit 3.2) hold random
se_e2_a energy models, one with type_one_side and one without, and DeePMD-kit's PyTorch
predictions on one periodic frame. Forces and virial are checked per backend in
tests/consistency/test_deepmd_models.py."""

import pathlib

import numpy as np
import pytest

from dptensor.cli.main import main
from dptensor.errors import DptError
from dptensor.io.deepmd_dp import load_deepmd_dp
from dptensor.model import Model

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "deepmd"
VARIANTS = ["se_a_one_side", "se_a_two_side"]


@pytest.mark.parametrize("name", VARIANTS)
def test_energies_match_deepmd(name):
    ref = np.load(FIXTURES / f"{name}.npz")
    model = load_deepmd_dp(FIXTURES / f"{name}.dp")
    out = model.evaluate(ref["coord"][None], ref["box"][None], ref["atype"][None])
    np.testing.assert_allclose(out["atom_energy"][0], ref["atom_energy"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["energy"][0], ref["energy"][0], rtol=0, atol=1e-10)


def test_convert_backend_reads_dp(tmp_path):
    out = tmp_path / "m.dpt"
    assert main(["convert-backend", str(FIXTURES / "se_a_one_side.dp"), str(out)]) == 0
    from dptensor.io import load_dpt

    model = Model.deserialize(load_dpt(out))
    assert model.type_map == ["O", "H"] and model.descriptor.type_one_side


def test_not_a_dp_file(tmp_path):
    bad = tmp_path / "x.dp"
    bad.write_text("not hdf5")
    with pytest.raises(DptError, match="x.dp: not a DeePMD-kit .dp model file"):
        load_deepmd_dp(bad)
