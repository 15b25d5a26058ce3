"""The C++ API (source/) agrees with ``dptensor.infer.DeepModel``: same predictions to 1e-12 in
float64 (1e-6 relative in float32), for clusters, triclinic cells and cells smaller than 2 rcut,
with neighbors cut by ``sel``; clear errors; the program of doc/cpp-api.md compiles as written.

C++ runs through ``dpt-eval`` (a DeePMD system folder in, ``--output`` .npy files out) and
``dpt-api-check`` (accessors and error cases); both are built once per session (conftest.py).
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from model_fixtures import SMALL_BOX, TRICLINIC_BOX, make_model, random_frame
from native_helpers import REPO, RUN_ENV, run

from dptensor.data.neighbor import build_neighbor_list
from dptensor.data.system import load_system
from dptensor.infer import DeepModel

pytestmark = pytest.mark.usefixtures("one_thread")

TOL_F64 = 1e-12  # absolute, on values of order one (scaled by the largest |value| if bigger)
TOL_F32 = 1e-6  # relative to the largest |value| of the output
TYPE_MAP = ["O", "H"]
DOC = REPO / "doc" / "cpp-api.md"

# two-frame sets: name -> (types, box of frame 0 or None, scale of the box of frame 1)
FRAMES = {
    "cluster": ([0, 1, 1, 0, 1, 1, 1], None, None),
    "triclinic": ([0, 1, 1, 0, 1, 1, 0, 1, 1, 1], TRICLINIC_BOX, 1.04),
    # faces 2.3 A apart, rcut 3.2: images up to n = +-2 hold neighbors, self images too
    "small-box": ([0, 1, 1], SMALL_BOX * 0.8, 0.97),
}
DENSE = ([0, 1, 1], SMALL_BOX * 0.6, 1.0)  # more neighbors of each type than sel [16, 24]


# helpers -----------------------------------------------------------------------------------
def make_frames(spec, seed=0):
    """(coord 2 x nat x 3, box 2 x 3 x 3 or None, atype nat): two frames, the second in a
    slightly scaled cell (or another cluster)."""
    types, box, scale = spec
    coords, boxes = [], []
    for f in range(2):
        cell = None if box is None else box * (scale if f else 1.0)
        coord, _ = random_frame(seed + f, types, cell, min_dist=0.9)
        coords.append(coord)
        boxes.append(cell)
    return np.stack(coords), None if box is None else np.stack(boxes), np.array(types)


def write_system(folder, coord, box, atype, names=None, raw=False):
    """A DeePMD system folder: type.raw (+ type_map.raw), set.000/*.npy or *.raw, nopbc."""
    folder.mkdir(parents=True)
    np.savetxt(folder / "type.raw", atype, fmt="%d")
    if names is not None:
        (folder / "type_map.raw").write_text("\n".join(names) + "\n")
    nf = coord.shape[0]
    arrays = {"coord": coord.reshape(nf, -1)}
    if box is None:
        (folder / "nopbc").write_text("")
    else:
        arrays["box"] = box.reshape(nf, 9)
    for name, value in arrays.items():
        if raw:
            np.savetxt(folder / f"{name}.raw", value, fmt="%.17g")
        else:
            (folder / "set.000").mkdir(exist_ok=True)
            np.save(folder / "set.000" / f"{name}.npy", value)
    return folder


def cpp_eval(build, model, system, out_dir, *flags):
    """Run dpt-eval; returns (stdout, {name: array from --output})."""
    res = run([build.dpt_eval, model, system, "--output", out_dir, *flags])
    assert res.returncode == 0, res.stderr + res.stdout
    return res.stdout, {p.stem: np.load(p) for p in out_dir.glob("*.npy")}


def assert_agree(got, want, float32=False):
    assert sorted(got) == sorted(want)
    for key, ref in want.items():
        assert got[key].shape == ref.shape, key
        scale = float(np.abs(ref).max(initial=0.0))
        tol = TOL_F32 * scale if float32 else TOL_F64 * max(1.0, scale)
        err = float(np.abs(got[key] - ref).max(initial=0.0))
        assert err <= tol, f"{key}: max |C++ - Python| = {err:.3g} > {tol:.3g}"


def compare(build, path, tmp_path, spec, hessian=False, float32=False):
    coord, box, atype = make_frames(spec)
    system = write_system(tmp_path / "system", coord, box, atype)
    flags = ["--atomic"] + (["--hessian"] if hessian else [])
    _, got = cpp_eval(build, path, system, tmp_path / "out", *flags)
    want = DeepModel(path).evaluate(coord, box, atype, atomic=True, hessian=hessian)
    assert_agree(got, want, float32)
    return got


# predictions -------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", list(FRAMES))
@pytest.mark.parametrize("model", ["ener", "dipole", "polar", "ener-f32"])
def test_predictions_agree_with_python(native_build, frozen_models, tmp_path, model, frames):
    got = compare(native_build, frozen_models[model], tmp_path, FRAMES[frames],
                  float32=model.endswith("f32"))
    main = {"ener": "energy", "dipole": "dipole", "polar": "polar"}[model.split("-")[0]]
    assert np.abs(got[main]).max() > 0.0


@pytest.mark.parametrize("frames", list(FRAMES))
def test_hessian_agrees_with_python(native_build, frozen_models, tmp_path, frames):
    got = compare(native_build, frozen_models["ener"], tmp_path, FRAMES[frames], hessian=True)
    nat = len(FRAMES[frames][0])
    assert got["hessian"].shape == (2, 3 * nat, 3 * nat)
    assert np.abs(got["hessian"] - got["hessian"].transpose(0, 2, 1)).max() < 1e-10


def test_hessian_float32(native_build, frozen_models, tmp_path):
    compare(native_build, frozen_models["ener-f32"], tmp_path, FRAMES["small-box"], hessian=True,
            float32=True)


def test_compressed_model_agrees_with_python(native_build, tmp_path):
    """A compressed model (dpt compress) calls dptensor's table ops (tab_contract and its
    gradient, tab_eval in the Hessian), which the library compiles in."""
    from dptensor.model.compress import compress_model
    from dptensor_pt.freeze import freeze_model

    model = make_model("ener")  # conftest.MODELS["ener"]
    compress_model(model, 0.8)
    freeze_model(model, str(tmp_path / "compressed.pth"))
    compare(native_build, tmp_path / "compressed.pth", tmp_path, FRAMES["triclinic"], hessian=True)


def test_cut_by_sel_keeps_the_nearest(native_build, frozen_models, tmp_path):
    """With more neighbors than sel, C++ keeps the same (nearest) ones as Python."""
    coord, box, atype = make_frames(DENSE)
    dropped = build_neighbor_list(coord, box, atype, 3.2, [16, 24]).dropped
    assert dropped.min() > 0, "the frame must overflow sel for this test to mean anything"
    compare(native_build, frozen_models["ener"], tmp_path, DENSE)


def test_water_fixture(native_build, frozen_models, tmp_path):
    """A real system: 192 atoms, two sets, float32 .npy files, type_map.raw."""
    system = REPO / "tests" / "fixtures" / "data" / "water_ener"
    stdout, got = cpp_eval(native_build, frozen_models["ener"], system, tmp_path / "out",
                           "--atomic")
    s = load_system(str(system), TYPE_MAP)
    want = DeepModel(frozen_models["ener"]).evaluate(s.coord, s.box, s.atype, atomic=True)
    assert_agree(got, want)
    assert "frames: 3" in stdout and "atoms: 192" in stdout and "periodic: true" in stdout
    print(stdout.splitlines()[-1])  # the timing line


def test_type_map_raw_and_raw_layout(native_build, frozen_models, tmp_path):
    """Element names are mapped to the model's types; .raw text files read like set.*/*.npy."""
    coord, box, atype = make_frames(FRAMES["triclinic"])
    system = write_system(tmp_path / "swapped", coord, box, 1 - atype, names=["H", "O"], raw=True)
    _, got = cpp_eval(native_build, frozen_models["ener"], system, tmp_path / "out")
    want = DeepModel(frozen_models["ener"]).evaluate(coord, box, atype)
    assert_agree(got, want)


def test_prints_predictions(native_build, frozen_models, tmp_path):
    coord, box, atype = make_frames(FRAMES["cluster"])
    system = write_system(tmp_path / "system", coord, box, atype)
    res = run([native_build.dpt_eval, frozen_models["dipole"], system, "--atomic"])
    assert res.returncode == 0, res.stderr
    want = DeepModel(frozen_models["dipole"]).evaluate(coord, box, atype)["dipole"]
    printed = re.search(r"frame 1\n  dipole: (.*)\n", res.stdout).group(1)
    assert np.allclose([float(x) for x in printed.split()], want[1], rtol=1e-9, atol=1e-12)
    assert "periodic: false" in res.stdout and "atomic_dipole:" in res.stdout


# metadata and errors -----------------------------------------------------------------------
@pytest.mark.parametrize("model", ["ener", "dipole", "ener-f32"])
def test_accessors(native_build, frozen_models, model):
    res = run([native_build.api_check, frozen_models[model]])
    assert res.returncode == 0, res.stdout + res.stderr
    meta = dict(line.split(": ", 1) for line in res.stdout.strip().splitlines())
    dm = DeepModel(frozen_models[model])
    assert meta["type_map"].split() == dm.type_map
    assert meta["model_type"] == dm.model_type
    assert float(meta["cutoff"]) == dm.rcut
    assert [int(t) for t in meta["sel_type"].split()] == dm.sel_type
    assert meta["sel"].split() == ["16", "24"]
    assert meta["has_hessian"] == str(int(dm.has_hessian)) and meta["ntypes"] == "2"


ERROR_CASES = {  # dpt-api-check case -> a fragment of the message
    "coord-size": "coord has 4 values; expected nframes x natoms x 3 with natoms = 2",
    "box-size": "box has 3 values; expected nframes x 9 = 9 (1 frame)",
    "type-index": "atype[1] = 2 is not a type of this model (0=O 1=H)",
    "negative-type": "atype[0] = -1 is not a type of this model",
    "no-atoms": "atype is empty",
    "singular-box": "the box has volume 0 A^3",
    "nan-coord": "atom 0 has a coordinate that is not finite",
    "hessian": "a dipole model has no Hessian",
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_input_errors(native_build, frozen_models, case):
    res = run([native_build.api_check, frozen_models["dipole"], case])
    assert res.returncode == 3, res.stdout + res.stderr
    assert ERROR_CASES[case] in res.stdout


def test_hessian_refused_without_its_graph(native_build, tmp_path):
    """A model frozen with --no-hessian has no Hessian graph: a clear error, not a TorchScript one."""
    from dptensor_pt.freeze import freeze_model

    path = tmp_path / "lean.pth"
    freeze_model(make_model("ener"), str(path), hessian=False)
    coord, box, atype = make_frames(FRAMES["small-box"])
    system = write_system(tmp_path / "sys", coord, box, atype)
    res = run([native_build.dpt_eval, path, system, "--hessian"])
    assert res.returncode == 1, res.stdout + res.stderr
    assert "frozen without its Hessian (dpt freeze --no-hessian)" in res.stderr, res.stderr
    assert run([native_build.dpt_eval, path, system]).returncode == 0


def test_concurrent_evaluation(native_build, frozen_models):
    res = run([native_build.api_check, frozen_models["ener"], "threads"])
    assert res.returncode == 0 and "threads agree" in res.stdout, res.stdout + res.stderr


def _torchscript_without_dptensor(path, extra=None):
    import torch

    class Plain(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    torch.jit.save(torch.jit.script(Plain()), str(path), _extra_files=extra or {})


def test_model_file_errors(native_build, tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a model")
    plain = tmp_path / "plain.pth"
    _torchscript_without_dptensor(plain)
    future = tmp_path / "future.pth"
    _torchscript_without_dptensor(future, {"model.json": '{"format": "dptensor-frozen-pt", '
                                                        '"version": 9, "dptensor_version": "9.0"}'})
    foreign = tmp_path / "foreign.pth"
    _torchscript_without_dptensor(foreign, {"model.json": '{"format": "other"}'})
    cases = {tmp_path / "missing.pth": "missing.pth: no such model file",
             text: "notes.pth: not a TorchScript model (",
             plain: "plain.pth: not a dptensor frozen model (no model.json in the file)",
             foreign: 'not a dptensor frozen model (model.json has no "format": '
                      '"dptensor-frozen-pt")',
             future: "frozen-model version 9 (written by dptensor 9.0); this library reads "
                     "version 1"}
    for path, message in cases.items():
        res = run([native_build.api_check, path])
        assert res.returncode == 3, res.stdout + res.stderr
        assert message in res.stdout, res.stdout


def test_dpt_eval_errors(native_build, frozen_models, tmp_path):
    coord, box, atype = make_frames(FRAMES["small-box"])
    model, nat = frozen_models["ener"], len(atype)
    unknown = write_system(tmp_path / "unknown", coord, box, atype, names=["O", "C"])
    no_box = write_system(tmp_path / "no_box", coord, box, atype)
    (no_box / "set.000" / "box.npy").unlink()
    bad_type = write_system(tmp_path / "bad_type", coord, box, atype + 1)
    short = write_system(tmp_path / "short", coord, box, atype)
    np.save(short / "set.000" / "coord.npy", coord.reshape(2, -1)[:, :-3])
    cases = {tmp_path / "nowhere": "nowhere: no such system folder",
             unknown: "element C is not in the model's type_map",
             no_box: "box.npy is missing; for a non-periodic system put an empty file named "
                     "'nopbc'",
             bad_type: "atype[1] = 2 is not a type of this model (0=O 1=H)",
             short: f"coord.npy: {6 * nat - 6} values; expected nframes x {3 * nat} (3 x the "
                    f"{nat} atoms of type.raw)"}
    for system, message in cases.items():
        res = run([native_build.dpt_eval, model, system])
        assert res.returncode == 1, res.stdout + res.stderr
        assert res.stderr.startswith("dpt-eval: error: ") and message in res.stderr, res.stderr
    usage = run([native_build.dpt_eval, model])
    assert usage.returncode == 2 and usage.stderr.startswith("usage: dpt-eval")


# the documentation's program -----------------------------------------------------------------
def doc_block(label):
    """The fenced block that follows ``<!-- example: label -->`` in doc/cpp-api.md."""
    text = DOC.read_text()
    match = re.search(rf"<!-- example: {re.escape(label)} -->\n```\w*\n(.*?)```", text, re.DOTALL)
    assert match, f"doc/cpp-api.md has no example block {label!r}"
    return match.group(1)


def _check_water_output(stdout, model_path):
    energy = float(re.search(r"energy (\S+) eV", stdout).group(1))
    coord = np.array([[1.00, 1.00, 1.00], [1.96, 1.00, 1.00], [0.76, 1.93, 1.00]])
    want = DeepModel(model_path).evaluate(coord, np.eye(3) * 10, [0, 1, 1])["energy"][0]
    assert abs(energy - want) < 1e-9


def test_doc_program_builds_with_cmake(native_build, frozen_models, tmp_path):
    """main.cpp and CMakeLists.txt of the doc, as written, against the build tree's package."""
    (tmp_path / "main.cpp").write_text(doc_block("main.cpp"))
    (tmp_path / "CMakeLists.txt").write_text(doc_block("CMakeLists.txt"))
    out = tmp_path / "out"
    for cmd in (["cmake", "-S", tmp_path, "-B", out, f"-Ddptensor_DIR={native_build.build_dir}"],
                ["cmake", "--build", out]):
        res = run(cmd)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    res = run([out / "water", frozen_models["ener"]])
    assert res.returncode == 0, res.stderr
    _check_water_output(res.stdout, frozen_models["ener"])
    res = run([out / "water", frozen_models["polar"]])
    assert res.returncode == 0 and res.stdout.splitlines()[1].startswith("polar:"), res.stdout


def test_doc_program_compiles_after_install(native_build, frozen_models, tmp_path):
    """cmake --install, then the doc's g++ line with DPTENSOR set to the prefix."""
    prefix = tmp_path / "prefix"
    res = run(["cmake", "--install", native_build.build_dir, "--prefix", prefix])
    assert res.returncode == 0, res.stdout + res.stderr
    (tmp_path / "main.cpp").write_text(doc_block("main.cpp"))
    res = subprocess.run(["bash", "-euc", doc_block("compile")], cwd=tmp_path, capture_output=True,
                         text=True, env={**RUN_ENV, "DPTENSOR": str(prefix)}, timeout=300,
                         check=False)
    assert res.returncode == 0, res.stderr
    res = run([tmp_path / "water", frozen_models["ener"]])
    assert res.returncode == 0, res.stderr
    _check_water_output(res.stdout, frozen_models["ener"])
    res = run([prefix / "bin" / "dpt-eval", frozen_models["ener"],
               REPO / "tests" / "fixtures" / "data" / "water_ener", "--quiet"])
    assert res.returncode == 0 and "atoms: 192" in res.stdout, res.stderr


def test_python_does_not_need_the_build():
    """The native tests are the only users of source/: dptensor imports without it."""
    res = subprocess.run([sys.executable, "-c", "import dptensor, dptensor.infer"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
