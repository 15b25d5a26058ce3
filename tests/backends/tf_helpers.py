"""Shared pieces of the TensorFlow backend tests: tiny models (sel [4, 8], embedding [4, 8],
fitting [8, 8], float64) of each fitting type and batches of random frames."""

import shutil

import numpy as np
import pytest

from model_fixtures import ORTHO_BOX, make_model, random_frame

from dptensor.data.neighbor import build_nlist, shift_from_image


@pytest.fixture(scope="module")
def library():
    """The TensorFlow native kernels' library, built if needed; skips without a compiler."""
    from dptensor_tf import native

    if shutil.which(native._compiler()) is None:
        pytest.skip(f"no C++ compiler ({native._compiler()}) to build the kernels with")
    lib = native.load()
    assert lib is not None, "the native kernels did not build (see the log)"
    return lib


DESCRIPTOR = {"sel": [4, 8], "neuron": [4, 8]}
MODELS = {  # name -> make_model keywords: both embedding kinds, both polar forms, exclusions
    "ener": {"kind": "ener", "descriptor": DESCRIPTOR},
    "ener-one-side-exclude": {"kind": "ener",
                              "descriptor": {**DESCRIPTOR, "type_one_side": True, "resnet_dt": True},
                              "fitting": {"atom_exclude_types": [1]}},
    "dipole": {"kind": "dipole", "descriptor": {**DESCRIPTOR, "type_one_side": True},
               "fitting": {"sel_type": [0]}},
    "polar": {"kind": "polar", "descriptor": DESCRIPTOR,
              "fitting": {"fit_diag": False, "sel_type": [0, 1]}},
}


def tiny_model(name):
    spec = dict(MODELS[name])
    return make_model(spec.pop("kind"), **spec)


def batch_inputs(model, nf, nat, box=ORTHO_BOX, seed=0):
    """nf random frames of nat atoms (types alternate) -> dict coord, atype, nlist, shift."""
    frames = [random_frame(seed + f, [(f + i) % 2 for i in range(nat)], box) for f in range(nf)]
    coord = np.stack([c for c, _ in frames])
    atype = np.stack([a for _, a in frames])
    boxes = None if box is None else np.repeat(np.asarray(box)[None], nf, axis=0)
    nlist, image = build_nlist(coord, boxes, atype, model.rcut, model.sel)
    return {"coord": coord, "atype": atype, "nlist": nlist, "shift": shift_from_image(image, boxes)}


def max_abs_diff(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max(initial=0.0))
