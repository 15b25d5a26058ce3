"""``dpt freeze`` for PyTorch: the TorchScript file equals the eager TorchModel for any number of
frames and atoms (Hessian included), loads without dptensor and carries the exact reference model.

One tiny model per fitting type is frozen once per module (seconds each, printed with -s); the
batches have other frame and atom counts than the traced example (nf=2, nat=5).
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for model_fixtures

from dptensor_pt.freeze import (
    _decode,
    _encode,
    build_frozen,
    freeze_model,
    load_frozen,
)
from dptensor_pt.model import TorchModel
from model_fixtures import ORTHO_BOX, make_model, random_frame

from dptensor.data import keys
from dptensor.data.neighbor import build_nlist, shift_from_image
from dptensor.errors import DptError, ModelFileError
from dptensor.infer import DeepModel

TOL = 1e-10
DESCRIPTOR = {"sel": [4, 8], "neuron": [4, 8]}
MODELS = {  # kind -> make_model keywords; two-sided and one-sided embeddings, both polar forms
    "ener": {"kind": "ener", "descriptor": DESCRIPTOR},
    "dipole": {"kind": "dipole", "descriptor": {**DESCRIPTOR, "type_one_side": True},
               "fitting": {"sel_type": [0]}},
    "polar": {"kind": "polar", "descriptor": {**DESCRIPTOR, "type_one_side": True},
              "fitting": {"fit_diag": False, "sel_type": [1]}},
}
# (nf, nat, box): a cluster and a periodic cell (non-zero shifts, so the virial sees them)
BATCHES = [(2, 6, None), (3, 9, ORTHO_BOX), (1, 1, None)]


def _model(kind):
    spec = dict(MODELS[kind])
    model = make_model(spec.pop("kind"), **spec)
    model.meta["hessian"] = kind == "ener"  # as if trained on Hessians: has_hessian is True
    return model


@pytest.fixture(scope="module")
def frozen_models(tmp_path_factory):
    """kind -> (kind, reference Model, path of the .pth, scripted module loaded back, seconds
    to freeze)."""
    folder = tmp_path_factory.mktemp("frozen")
    out = {}
    for kind in MODELS:
        model, path = _model(kind), folder / f"{kind}.pth"
        start = time.perf_counter()
        freeze_model(model, str(path))
        seconds = time.perf_counter() - start
        print(f"freezing the {kind} model took {seconds:.1f} s")
        out[kind] = (kind, model, path, torch.jit.load(str(path)), seconds)
    return out


@pytest.fixture(params=list(MODELS))
def frozen(request, frozen_models):
    return frozen_models[request.param]


def _inputs(model, nf, nat, box, seed=0):
    frames = [random_frame(seed + f, [(f + i) % 2 for i in range(nat)], box) for f in range(nf)]
    coord = np.stack([c for c, _ in frames])
    atype = np.stack([a for _, a in frames])
    boxes = None if box is None else np.repeat(box[None], nf, axis=0)
    nlist, image = build_nlist(coord, boxes, atype, model.rcut, model.sel)
    return [torch.from_numpy(np.ascontiguousarray(x))
            for x in (coord, atype, nlist, shift_from_image(image, boxes))]


def _max_diff(a, b):
    return float((a.detach() - b.detach()).abs().max()) if a.numel() else 0.0


@pytest.mark.parametrize("nf, nat, box", BATCHES)
def test_outputs_equal_torch_model(frozen, nf, nat, box):
    kind, model, _, script, _ = frozen
    args = _inputs(model, nf, nat, box)
    want = TorchModel(model)(*args)
    for _ in range(2):  # TorchScript profiles the first call, runs an optimized graph from the second
        got = script(*args, True, False)
        assert sorted(got) == sorted(want)
        for key in want:
            assert got[key].dtype == torch.float64
            assert got[key].shape == want[key].shape, key
            assert _max_diff(got[key], want[key]) < TOL, key
    if kind == "ener":
        assert float(got[keys.P_FORCE].abs().max()) > 0.0 or nat == 1


def test_do_atomic_false_drops_the_atomic_output(frozen):
    _, model, _, script, _ = frozen
    out = script(*_inputs(model, 2, 5, None), False, False)
    assert model.output_def.atomic_name not in out and model.output_def.name in out


@pytest.mark.parametrize("nf, nat, box", BATCHES)
def test_hessian_equals_torch_model(frozen, nf, nat, box):
    kind, model, _, script, _ = frozen
    if kind != "ener":
        pytest.skip("Hessians are for energy models")
    args = _inputs(model, nf, nat, box, seed=5)
    want = TorchModel(model).hessian(*args)
    for _ in range(2):
        got = script(*args, True, True)[keys.P_HESSIAN]
        assert got.shape == (nf, 3 * nat, 3 * nat)
        assert _max_diff(got, want) < TOL
    if nat > 1:
        assert float(want.detach().abs().max()) > 0.0


def test_no_grad_mode(frozen):
    """Forces and the Hessian are traced ops, so every output works under no_grad."""
    kind, model, _, script, _ = frozen
    args = _inputs(model, 2, 5, None)
    with torch.no_grad():
        got = script(*args, True, kind == "ener")
    want = TorchModel(model)(*args, hessian=kind == "ener")
    for key, value in want.items():
        assert _max_diff(got[key], value) < TOL, key


def test_hessian_against_differences_of_forces(frozen):
    """The frozen Hessian is -dF/dx of the frozen forces (central differences, float64)."""
    kind, model, _, script, _ = frozen
    if kind != "ener":
        pytest.skip("Hessians are for energy models")
    coord, atype, nlist, shift = _inputs(model, 1, 5, None, seed=3)
    step, n3 = 1e-5, 15
    moves = torch.zeros(2 * n3, 5, 3, dtype=torch.float64)
    moves.view(2 * n3, n3)[torch.arange(n3) * 2, torch.arange(n3)] = step
    moves.view(2 * n3, n3)[torch.arange(n3) * 2 + 1, torch.arange(n3)] = -step
    force = script(coord + moves, atype.expand(2 * n3, -1), nlist.expand(2 * n3, -1, -1),
                   shift.expand(2 * n3, -1, -1, -1), False, False)[keys.P_FORCE].reshape(n3, 2, n3)
    numeric = -(force[:, 0] - force[:, 1]) / (2 * step)
    hessian = script.hessian(coord, atype, nlist, shift)[0]
    assert float(hessian.abs().max()) > 1e-5
    assert _max_diff(hessian, numeric) < 1e-7 * (1.0 + float(numeric.abs().max()))


def test_hessian_refused_for_tensor_models(frozen):
    kind, model, _, script, _ = frozen
    if kind == "ener":
        pytest.skip("energy models have a Hessian")
    with pytest.raises(torch.jit.Error, match="has no Hessian"):
        script(*_inputs(model, 1, 3, None), True, True)


def test_metadata(frozen):
    kind, model, _, script, _ = frozen
    assert list(script.type_map) == model.type_map and script.model_type == kind
    assert script.rcut == model.rcut and list(script.sel) == [4, 8]
    assert list(script.sel_type) == model.sel_type
    assert script.has_hessian is (kind == "ener")


def test_load_frozen_recovers_the_model(frozen):
    _, model, path, _, _ = frozen
    script, loaded = load_frozen(path)
    _assert_same_tree(loaded.serialize(), model.serialize())
    args = _inputs(model, 2, 5, None)
    want = TorchModel(model)(*args)
    got = script(*args, True, False)
    assert all(_max_diff(got[k], want[k]) < TOL for k in want)


def _assert_same_tree(a, b, where="model"):
    """Equal nested dicts/lists; arrays equal bit for bit with the same dtype."""
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), where
    elif isinstance(b, dict):
        assert isinstance(a, dict) and sorted(a) == sorted(b), where
        for k in b:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, (list, tuple)):
        assert isinstance(a, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b and type(a) is type(b), where


_FRESH_PROCESS = """
import json, sys, torch
report = {}
for path, inputs in zip(sys.argv[1::2], sys.argv[2::2]):
    inputs = torch.load(inputs)
    model = torch.jit.load(path)
    out = model(*inputs["args"], True, inputs["hessian"])
    report[path] = {"keys": sorted(out), "type_map": list(model.type_map),
                    "err": max(float((out[k] - v).abs().max()) for k, v in inputs["want"].items()),
                    "model_type": model.model_type, "sel": list(model.sel)}
report["dptensor"] = any(m.split(".")[0] in ("dptensor", "dptensor_pt") for m in sys.modules)
print(json.dumps(report))
"""


def test_loads_in_a_fresh_process_without_dptensor(frozen_models, tmp_path):
    """All frozen files run (Hessian included) in one `python -c` that imports only torch."""
    argv = []
    for kind, model, path, _, _ in frozen_models.values():
        args = _inputs(model, 2, 6, ORTHO_BOX, seed=3)
        want = TorchModel(model)(*args, hessian=kind == "ener")
        torch.save({"args": args, "hessian": kind == "ener",
                    "want": {k: v.detach() for k, v in want.items()}}, tmp_path / f"{kind}.pt")
        argv += [str(path), str(tmp_path / f"{kind}.pt")]
    proc = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, *argv], check=False,
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report.pop("dptensor") is False
    for kind, model, path, _, _ in frozen_models.values():
        got = report[str(path)]
        want_keys = {"ener": ["atom_energy", "energy", "force", "hessian", "virial"],
                     "dipole": ["atomic_dipole", "dipole"], "polar": ["atomic_polar", "polar"]}
        assert got["keys"] == want_keys[kind] and got["err"] < TOL
        assert got["type_map"] == model.type_map and got["model_type"] == kind
        assert got["sel"] == model.sel


@pytest.mark.parametrize("activation, precision, tol", [("softplus", "float64", TOL),
                                                       ("gelu", "float32", 1e-6)])
def test_activations_and_precision(activation, precision, tol):
    """Each activation's backward kernel is in the traced graph (softplus once broke a view)."""
    model = make_model("ener", descriptor={**DESCRIPTOR, "type_one_side": True, "resnet_dt": True,
                                           "activation_function": activation},
                       fitting={"activation_function": activation}, precision=precision)
    script = build_frozen(model)
    args = _inputs(model, 2, 6, ORTHO_BOX, seed=7)
    want = TorchModel(model)(*args, hessian=True)
    got = script(*args, True, True)
    for key in want:
        scale = 1.0 + float(want[key].detach().abs().max())
        assert _max_diff(got[key], want[key]) < tol * scale, key


def test_hessian_choice():
    """(Hessian graph in the file, has_hessian flag) for dpt freeze's --hessian / --no-hessian."""
    ener, dipole = make_model("ener", descriptor=DESCRIPTOR), make_model("dipole", descriptor=DESCRIPTOR)
    assert ener.hessian_choice(None) == (True, False) and ener.hessian_choice(True) == (True, True)
    ener.meta["hessian"] = True
    assert ener.hessian_choice(None) == (True, True) and ener.hessian_choice(False) == (False, False)
    assert dipole.hessian_choice(None) == (False, False) == dipole.hessian_choice(False)
    with pytest.raises(DptError, match="dipole model has no Hessian"):
        dipole.hessian_choice(True)


def test_no_hessian_leaves_the_graph_out(tmp_path):
    model = make_model("ener", descriptor=DESCRIPTOR)
    model.meta["hessian"] = True
    full, lean = tmp_path / "full.pth", tmp_path / "lean.pth"
    freeze_model(model, str(full))
    freeze_model(model, str(lean), hessian=False)
    script = torch.jit.load(str(lean))
    assert not script.hessian_available and not script.has_hessian
    assert lean.stat().st_size < full.stat().st_size
    args = _inputs(model, 1, 4, None)
    assert keys.P_FORCE in script(*args, True, False)  # predictions as usual
    with pytest.raises(torch.jit.Error, match="frozen without its Hessian"):
        script(*args, True, True)
    dm = DeepModel(str(lean))
    coord, atype = args[0].numpy(), args[1].numpy()
    assert not dm.has_hessian and keys.P_ENERGY in dm.evaluate(coord, None, atype)
    with pytest.raises(DptError, match="frozen without its Hessian"):
        dm.evaluate(coord, None, atype, hessian=True)


def test_failed_freeze_leaves_the_old_file(tmp_path):
    target = tmp_path / "model.pth"
    target.write_bytes(b"old")
    with pytest.raises(DptError):
        freeze_model(make_model("dipole", descriptor=DESCRIPTOR), str(target), hessian=True)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pth"]


def test_load_frozen_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such"):
        load_frozen(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a TorchScript model"):
        load_frozen(tmp_path / "junk.pth")
    identity = torch.jit.script(torch.nn.Identity())
    torch.jit.save(identity, str(tmp_path / "other.pth"))
    with pytest.raises(ModelFileError, match="not a dptensor frozen model"):
        load_frozen(tmp_path / "other.pth")
    newer = {"model.json": json.dumps({"format": "dptensor-frozen-pt", "version": 99, "model": {}})}
    torch.jit.save(identity, str(tmp_path / "newer.pth"), _extra_files=newer)
    with pytest.raises(ModelFileError, match="version 99"):
        load_frozen(tmp_path / "newer.pth")


def test_model_json_keeps_dtypes():
    """Arrays keep dtype and bits; a numpy scalar is a 0-d array under @variables, else a number."""
    tree = {"rcut": np.float64(3.5), "sel": (4, 8), "@variables": {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3) / 3, "n": np.int64(7), "s": [np.float16(0.1)]}}
    back = _decode(json.loads(json.dumps(_encode(tree))))
    assert back["rcut"] == 3.5 and type(back["rcut"]) is float and back["sel"] == [4, 8]
    var = back["@variables"]
    assert var["w"].dtype == np.float32 and np.array_equal(var["w"], tree["@variables"]["w"])
    assert var["n"].dtype == np.int64 and var["n"].shape == () and int(var["n"]) == 7
    assert var["s"][0].dtype == np.float16 and var["s"][0] == np.float16(0.1)
