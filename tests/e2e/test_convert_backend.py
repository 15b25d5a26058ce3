"""dpt convert-backend: pt -> dpt -> tf -> pt keeps predictions within 1e-10 (float64)."""

import numpy as np
import pytest

from cli_helpers import dpt, tiny_input, write_input
from dptensor.backend import available_backends
from dptensor.infer import DeepModel

pytestmark = pytest.mark.skipif(not {"pt", "tf"} <= set(available_backends()), reason="needs both backends")


def test_round_trip_through_every_kind(workdir):
    loss = {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000, "limit_pref_f": 1}
    write_input("input.json", tiny_input(fitting={"type": "ener"}, loss=loss, train=["data/water_ener"], steps=2))
    assert dpt("train", "input.json") == 0
    chain = ["model.ckpt-2.pt", "a.dpt", "b.tfckpt", "c.savedmodel", "d.pth", "e.pt"]
    for src, dst in zip(chain[:-1], chain[1:]):
        assert dpt("convert-backend", src, dst) == 0, (src, dst)
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, 6, (1, 6, 3))
    atype = np.array([0, 1, 1, 0, 1, 1])
    box = np.eye(3)[None] * 6.0
    ref = DeepModel(chain[0]).evaluate(coord, box, atype, atomic=True)
    for path in chain[1:]:
        out = DeepModel(path).evaluate(coord, box, atype, atomic=True)
        for key in ("energy", "force", "virial", "atom_energy"):
            np.testing.assert_allclose(out[key], ref[key], rtol=0, atol=1e-10, err_msg=f"{path}: {key}")
