"""Every backend's forces and virial of DeePMD-kit models (read from ``.dp`` files) equal
DeePMD-kit's own (fixtures: tests/fixtures/deepmd, see tests/unit/test_io_deepmd_dp.py)."""

import pathlib

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.data.neighbor import build_nlist, shift_from_image
from dptensor.io.deepmd_dp import load_deepmd_dp

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "deepmd"


@pytest.mark.parametrize("name", ["se_a_one_side", "se_a_two_side"])
def test_forces_and_virial_match_deepmd(backend_runner, name):
    ref = np.load(FIXTURES / f"{name}.npz")
    model = load_deepmd_dp(FIXTURES / f"{name}.dp")
    coord, box, atype = ref["coord"][None], ref["box"][None], ref["atype"][None]
    nlist, image = build_nlist(coord, box, atype, model.rcut, model.sel)[:2]
    out = backend_runner(model, coord, atype, nlist, shift_from_image(image, box))
    np.testing.assert_allclose(out[keys.P_ENERGY][0], ref["energy"][0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out[keys.P_FORCE][0], ref["force"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out[keys.P_VIRIAL][0].reshape(3, 3), ref["virial"], rtol=0, atol=1e-10)
