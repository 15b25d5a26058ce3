"""Session fixtures of the C++ API tests: the native build (native_helpers.build), one torch
thread, and tiny frozen models. Without cmake, a C++ compiler or torch the tests are skipped with
the reason."""

import time

import pytest
from model_fixtures import make_model
from native_helpers import build, missing_tool

# name -> make_model keywords (sel [16, 24], rcut 3.2); freezing takes most of the session's time
# (3-10 s per model), so one model per fitting type and one float32 model
MODELS = {
    "ener": {"kind": "ener"},
    "dipole": {"kind": "dipole", "descriptor": {"type_one_side": True},
               "fitting": {"sel_type": [0]}},
    "polar": {"kind": "polar", "fitting": {"fit_diag": False, "sel_type": [1]}},
    "ener-f32": {"kind": "ener", "precision": "float32"},
}


@pytest.fixture(scope="session")
def native_build(request, tmp_path_factory):
    reason = missing_tool()
    if reason:
        pytest.skip(reason)
    return build(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def one_thread():
    """torch in this process on one thread too (as the programs, see RUN_ENV); restored after the
    module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def frozen_models(tmp_path_factory):
    """name -> path of the frozen .pth of MODELS[name] (the energy models flagged has_hessian)."""
    if missing_tool():
        pytest.skip(missing_tool())
    from dptensor_pt.freeze import freeze_model

    folder = tmp_path_factory.mktemp("native-models")
    paths, start = {}, time.perf_counter()
    for name, spec in MODELS.items():
        spec = dict(spec)
        model = make_model(spec.pop("kind"), **spec)
        model.meta["hessian"] = model.model_type == "ener"
        paths[name] = folder / f"{name}.pth"
        freeze_model(model, str(paths[name]))
    print(f"\nfreezing {len(MODELS)} models took {time.perf_counter() - start:.1f} s")
    return paths
