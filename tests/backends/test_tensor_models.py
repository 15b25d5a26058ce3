"""A ``tensor`` model in every installed backend: frozen files (.pth, .savedmodel) and .dpt files
evaluate to the reference under the label's names, and ``dpt test`` compares ``<label>`` and
``atomic_<label>`` and writes ``PREFIX.<label>.out`` / ``PREFIX.atomic_<label>.out``."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for model_fixtures

from model_fixtures import make_model, random_frame

from dptensor.backend.registry import available_backends
from dptensor.infer import DeepModel
from dptensor.io import save_dpt
from dptensor.testing import test_model as run_dpt_test

TOL = 1e-10
NAT, NF = 6, 3
ATYPE = np.array([0, 1, 1, 0, 1, 1])
FROZEN_SUFFIX = {"pt": ".pth", "tf": ".savedmodel"}


def bec_model():
    return make_model("tensor", descriptor={"sel": [4, 8], "neuron": [4, 8],
                                            "type_one_side": True},
                      fitting={"label": "bec", "rank": 2, "tensor_components": [0, 1, 2],
                               "sel_type": [0]})


def frames():
    coord = np.stack([random_frame(40 + f, ATYPE, None)[0] for f in range(NF)])
    return coord, None, ATYPE


def freeze(backend, model, path):
    if backend == "pt":
        from dptensor_pt.freeze import freeze_model
    else:
        from dptensor_tf.freeze import freeze_model
    freeze_model(model, str(path))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """The same model as .dpt and frozen in every installed backend."""
    model, root = bec_model(), tmp_path_factory.mktemp("tensor")
    paths = {"dpt": root / "model.dpt"}
    save_dpt(str(paths["dpt"]), model.serialize())
    for backend in sorted(set(available_backends()) & set(FROZEN_SUFFIX)):
        paths[backend] = root / f"frozen{FROZEN_SUFFIX[backend]}"
        freeze(backend, model, paths[backend])
    return model, paths


def test_every_file_predicts_the_label_names(model_files):
    model, paths = model_files
    coord, box, atype = frames()
    want = model.evaluate(coord, box, np.broadcast_to(atype, (NF, NAT)))
    assert len(paths) > 1, "no backend installed"
    for kind, path in paths.items():
        dm = DeepModel(path)
        assert dm.model_type == "tensor" and dm.output_def.name == "bec"
        got = dm.evaluate(coord, box, atype, atomic=True)
        assert set(got) == {"bec", "atomic_bec"}, kind
        for key in got:
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=TOL, err_msg=kind)
        assert set(dm.evaluate(coord, box, atype)) == {"bec"}


def write_system(root, model):
    """A system labelled by the model itself plus a known offset, so errors are known."""
    coord, _, atype = frames()
    pred = model.evaluate(coord, None, np.broadcast_to(atype, (NF, NAT)))
    (root / "set.000").mkdir(parents=True)
    (root / "type.raw").write_text("\n".join(map(str, atype)))
    (root / "nopbc").write_text("")
    np.save(root / "set.000" / "coord.npy", coord.reshape(NF, -1))
    np.save(root / "set.000" / "bec.npy", (pred["bec"] + 0.5).reshape(NF, 9))
    # rows of the selected atoms only (type 0), offset by 0.25
    np.save(root / "set.000" / "atomic_bec.npy",
            (pred["atomic_bec"][:, atype == 0] + 0.25).reshape(NF, -1))
    return root


def test_dpt_test_compares_and_writes_the_label_files(model_files, tmp_path):
    model, paths = model_files
    system = write_system(tmp_path / "sys", model)
    for kind, path in paths.items():
        prefix = tmp_path / f"out_{kind}"
        res = run_dpt_test(DeepModel(path), [str(system)], detail_prefix=str(prefix), atomic=True)
        total = res["total"]
        assert set(total) == {"bec", "atomic_bec"}, kind
        assert total["bec"]["rmse"] == pytest.approx(0.5, abs=1e-9)
        assert total["atomic_bec"]["rmse"] == pytest.approx(0.25, abs=1e-9)
        assert total["atomic_bec"]["count"] == NF * 2 * 9  # two selected atoms per frame
        header = Path(f"{prefix}.bec.out").read_text().splitlines()[0]
        assert header.split()[1:4] == ["data_xx", "data_xy", "data_xz"]
        rows = np.loadtxt(f"{prefix}.atomic_bec.out")
        assert rows.shape == (NF * 2, 18)
