"""``dpt freeze`` for TensorFlow: the SavedModel equals the eager TFModel for any number of frames
and atoms (Hessian included), runs in a process that imports TensorFlow only, and carries the
exact reference model; the evaluators serve .savedmodel and .tfckpt files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor_tf.backend import TensorFlowBackend  # noqa: E402
from dptensor_tf.freeze import freeze_model, load_frozen, read_metadata  # noqa: E402
from dptensor_tf.model import TFModel  # noqa: E402
from model_fixtures import ORTHO_BOX  # noqa: E402
from tf_helpers import batch_inputs, max_abs_diff, tiny_model  # noqa: E402

from dptensor.data import keys  # noqa: E402
from dptensor.errors import DptError, ModelFileError  # noqa: E402
from dptensor.infer.deep_model import DeepModel  # noqa: E402
from dptensor.model.pytree import flatten  # noqa: E402

TOL = 1e-10
KINDS = ["ener", "dipole", "polar"]
BATCHES = [(2, 5, None), (1, 9, ORTHO_BOX)]  # (nf, nat, box): two frame and atom counts

# Runs in a fresh interpreter: TensorFlow alone evaluates each SavedModel on saved inputs.
RUNNER = """
import sys, numpy as np, tensorflow as tf
for model_path, in_path, out_path in zip(*[iter(sys.argv[1:])] * 3):
    loaded = tf.saved_model.load(model_path)
    data = np.load(in_path)
    out = {"meta": np.array(loaded.metadata.numpy().decode())}
    for b in range(int(data["count"])):
        args = [data[f"{b}_{k}"] for k in ("coord", "atype", "nlist", "shift")]
        for k, v in loaded.predict(*args).items():
            out[f"{b}_{k}"] = v.numpy()
        if hasattr(loaded, "hessian"):
            out[f"{b}_hessian"] = loaded.hessian(*args).numpy()
    np.savez(out_path, **out)
assert not [m for m in sys.modules if m.startswith("dptensor")], "dptensor was imported"
"""


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """kind -> (reference Model, path of the SavedModel)."""
    folder = tmp_path_factory.mktemp("frozen")
    out = {}
    for kind in KINDS:
        model = tiny_model(kind)
        model.meta["hessian"] = kind == "ener"  # as if trained on Hessians
        path = folder / f"{kind}.savedmodel"
        freeze_model(model, str(path))
        out[kind] = (model, path)
    return out


def _inputs(model):
    return [batch_inputs(model, nf, nat, box, seed=3 * nf + nat) for nf, nat, box in BATCHES]


@pytest.fixture(scope="module")
def standalone_outputs(frozen, tmp_path_factory):
    """kind -> (input batches, outputs of the SavedModel evaluated by a TensorFlow-only process)."""
    folder = tmp_path_factory.mktemp("standalone")
    args, batches = [], {}
    for kind, (model, path) in frozen.items():
        batches[kind] = _inputs(model)
        data = {"count": len(batches[kind])}
        for b, inputs in enumerate(batches[kind]):
            data.update({f"{b}_{k}": v for k, v in inputs.items()})
        np.savez(folder / f"{kind}-in.npz", **data)
        args += [str(path), str(folder / f"{kind}-in.npz"), str(folder / f"{kind}-out.npz")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", RUNNER, *args], check=True, env=env, cwd=str(folder),
                   timeout=600)
    return {kind: (batches[kind], np.load(folder / f"{kind}-out.npz")) for kind in frozen}


@pytest.mark.parametrize("kind", KINDS)
def test_saved_model_runs_with_tensorflow_alone(frozen, standalone_outputs, kind):
    model, _ = frozen[kind]
    batches, got = standalone_outputs[kind]
    meta = json.loads(str(got["meta"]))
    assert meta["type_map"] == model.type_map and meta["model_type"] == kind
    assert meta["sel"] == model.sel and meta["rcut"] == model.rcut and meta["sel_type"] == model.sel_type
    assert meta["has_hessian"] == (kind == "ener") == meta["hessian_available"]
    tm = TFModel(model)
    for b, inputs in enumerate(batches):
        want = {k: v.numpy() for k, v in tm(**inputs, hessian=kind == "ener").items()}
        assert sorted(k[2:] for k in got.files if k.startswith(f"{b}_")) == sorted(want)
        for k, ref in want.items():
            assert max_abs_diff(got[f"{b}_{k}"], ref) < TOL * max(1.0, np.abs(ref).max()), (b, k)


def test_load_frozen_recovers_the_model(frozen):
    model, path = frozen["ener"]
    loaded, ref = load_frozen(str(path))
    assert ref.serialize()["descriptor"]["sel"] == model.sel and ref.meta["hessian"] is True
    a, b = flatten(ref.variables), flatten(model.variables)
    assert all(np.array_equal(a[p], b[p]) and a[p].dtype == b[p].dtype for p in b)
    assert read_metadata(loaded)["outputs"] == ["energy", "atom_energy", "force", "virial"]
    assert TensorFlowBackend().load_model(str(path)).model_type == "ener"


def test_evaluators(frozen, tmp_path):
    """DeepModel on .savedmodel and .tfckpt (and the in-memory evaluator) equals the reference,
    Hessian included; a dipole model has none."""
    model, path = frozen["ener"]
    inputs = batch_inputs(model, 2, 6, ORTHO_BOX, seed=11)
    box = np.repeat(ORTHO_BOX[None], 2, axis=0)
    want = {k: v.numpy() for k, v in TFModel(model)(**inputs, hessian=True).items()}
    ckpt = tmp_path / "model.tfckpt"
    TensorFlowBackend().write_checkpoint(model, str(ckpt))
    evaluators = [DeepModel(str(path)), DeepModel(str(ckpt))]
    for dm in evaluators:
        out = dm.evaluate(inputs["coord"], box, inputs["atype"], atomic=True, hessian=True)
        assert sorted(out) == sorted(want)
        for k in want:
            assert max_abs_diff(out[k], want[k]) < TOL * max(1.0, np.abs(want[k]).max()), k
        assert dm.type_map == model.type_map and dm.rcut == model.rcut
    assert evaluators[0].has_hessian
    in_memory = TensorFlowBackend().model_evaluator(model)  # the code path of .tfckpt files
    out = in_memory.evaluate(inputs["coord"], box, inputs["atype"], atomic=True)
    assert max_abs_diff(out[keys.P_FORCE], want[keys.P_FORCE]) < TOL
    assert keys.P_ATOM_ENERGY not in evaluators[0].evaluate(inputs["coord"], box, inputs["atype"])
    dipole = DeepModel(str(frozen["dipole"][1]))
    with pytest.raises(DptError, match="no Hessian"):
        dipole.evaluate(inputs["coord"], box, inputs["atype"], hessian=True)


def test_freeze_options_and_errors(tmp_path):
    model = tiny_model("ener")
    path = tmp_path / "plain.savedmodel"
    path.mkdir()
    (path / "old-file").write_text("replaced")
    freeze_model(model, str(path), hessian=False)  # replaces the directory
    assert not (path / "old-file").exists()
    loaded, _ = load_frozen(str(path))
    assert not hasattr(loaded, "hessian") and read_metadata(loaded)["hessian_available"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["plain.savedmodel"]  # no temporary left
    with pytest.raises(DptError, match="no Hessian"):
        freeze_model(tiny_model("dipole"), str(tmp_path / "d.savedmodel"), hessian=True)
    with pytest.raises(ModelFileError, match="no such"):
        load_frozen(str(tmp_path / "missing.savedmodel"))
    empty = tmp_path / "empty.savedmodel"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="not a TensorFlow SavedModel"):
        load_frozen(str(empty))
