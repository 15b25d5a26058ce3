"""PyTorch and TensorFlow train the same model the same way: same seed and input give the same
lcurve.out (the weights come from one numpy initialization and both run the same math)."""

import numpy as np
import pytest

from cli_helpers import dpt, read_lcurve, tiny_input, write_input
from dptensor.backend import available_backends

pytestmark = pytest.mark.skipif(not {"pt", "tf"} <= set(available_backends()), reason="needs both backends")

CASES = {
    "dipole": dict(fitting={"type": "dipole", "sel_type": [0]}, loss={"type": "tensor", "pref": 1, "pref_atomic": 1},
                   train=["data/dipole_atomic", "data/dipole_global"], valid=["data/dipole_global"]),
    "ener": dict(fitting={"type": "ener"}, loss={"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1,
                                                 "start_pref_f": 1000, "limit_pref_f": 1},
                 train=["data/water_ener"], valid=["data/water_ener"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lcurves_agree(workdir, case):
    write_input("input.json", tiny_input(**CASES[case]))
    for backend in ("pt", "tf"):
        assert dpt("train", "input.json", "--backend", backend, "-o", backend) == 0
    header_pt, rows_pt = read_lcurve("pt/lcurve.out")
    header_tf, rows_tf = read_lcurve("tf/lcurve.out")
    assert header_pt == header_tf
    # step 0: the same weights, batches and formulas -> round-off only
    np.testing.assert_allclose(rows_tf[0], rows_pt[0], rtol=1e-10)
    # a few Adam steps later the trajectories still agree closely
    np.testing.assert_allclose(rows_tf, rows_pt, rtol=1e-6)
