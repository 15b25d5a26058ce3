"""A backend's derivatives against central finite differences of its own outputs (float64):

    F = -dE/dx,   W = -(dE/d eps)^T with x -> x (1 + eps) on coordinates and periodic shifts,
    H = d2E/dx dx = -dF/dx (symmetric),   sum_i F_i = 0 (translation invariance).

The displaced frames of one difference formula are evaluated as one batch, with the neighbor
list of the undisplaced frame (no pair is within 1e-3 A of rcut, so it stays valid).
"""

import numpy as np
import pytest
from model_fixtures import (ENER_VARIANTS, RCUT, SMALL_BOX, TRICLINIC_BOX, make_variant,
                            neighbor_inputs, random_frame)

from dptensor.data import keys
from dptensor.data.neighbor import build_neighbor_list

H = 1e-5  # Angstrom (or strain): central differences are then accurate to ~1e-10 absolute
TOL = 1e-8  # observed errors are <= 4e-10 (round-off of E / H dominates)

FRAMES = {
    "cluster": ([0, 1, 0, 0, 1, 1], None),
    "triclinic": ([0, 1, 0, 0, 1, 1], TRICLINIC_BOX),
    "small-box": ([0, 0, 1], SMALL_BOX),
}


def frame(model, name):
    """Inputs (nf = 1) of a random frame, checked to have no pair distance near rcut."""
    atype, box = FRAMES[name]
    coord, atype = random_frame(40, atype, box)
    boxes = None if box is None else box[None]
    counts = [(build_neighbor_list(coord[None], boxes, atype[None], rc, [50, 50]).nlist >= 0).sum()
              for rc in (RCUT - 1e-3, RCUT + 1e-3)]
    assert counts[0] == counts[1], "a pair sits at rcut; choose another seed"
    return neighbor_inputs(model, coord, box, atype)


def repeat(inputs, n):
    return {k: np.repeat(v, n, axis=0) for k, v in inputs.items()}


def displaced(inputs):
    """2 * 3nat frames: coordinate k moved by +H (frame 2k) and -H (frame 2k + 1)."""
    nat = inputs["coord"].shape[1]
    steps = np.zeros((3 * nat, 2, nat * 3))
    steps[np.arange(3 * nat), 0, np.arange(3 * nat)] = H
    steps[np.arange(3 * nat), 1, np.arange(3 * nat)] = -H
    batch = repeat(inputs, 6 * nat)
    batch["coord"] = batch["coord"] + steps.reshape(6 * nat, nat, 3)
    return batch


def central(values):
    """(f(+H) - f(-H)) / 2H from frames ordered as in ``displaced``: one row per direction."""
    values = values.reshape(values.shape[0] // 2, 2, -1)
    return (values[:, 0] - values[:, 1]) / (2 * H)


def assert_close(got, want, what):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL * scale, err_msg=what)


@pytest.fixture(params=ENER_VARIANTS)
def model(request):
    return make_variant(request.param)


@pytest.mark.parametrize("frame_name", list(FRAMES))
def test_forces(backend_runner, model, frame_name):
    inputs = frame(model, frame_name)
    out = backend_runner(model, **inputs, derivatives=True, hessian=False)
    energy = backend_runner(model, **displaced(inputs), derivatives=False)[keys.P_ENERGY]
    force = out[keys.P_FORCE][0]
    assert np.abs(force).max() > 1e-5
    assert_close(force.reshape(-1), -central(energy)[:, 0], "force")
    np.testing.assert_allclose(force.sum(axis=0), 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("frame_name", list(FRAMES))
def test_virial(backend_runner, model, frame_name):
    """W_ba = -dE/d eps_ab, with the strain applied to coordinates and shifts (x -> x + x eps,
    rows are vectors); W is symmetric (E does not change under a rotation of everything)."""
    inputs = frame(model, frame_name)
    out = backend_runner(model, **inputs, derivatives=True, hessian=False)
    eps = np.zeros((18, 3, 3))
    for k in range(9):
        eps[2 * k].flat[k], eps[2 * k + 1].flat[k] = H, -H
    batch = repeat(inputs, 18)
    batch["coord"] = batch["coord"] + np.einsum("fna,fab->fnb", batch["coord"], eps)
    batch["shift"] = batch["shift"] + np.einsum("flna,fab->flnb", batch["shift"], eps)
    energy = backend_runner(model, **batch, derivatives=False)[keys.P_ENERGY]
    de_deps = central(energy).reshape(3, 3)
    virial = out[keys.P_VIRIAL][0]
    assert np.abs(virial).max() > 1e-5
    assert_close(virial, -de_deps.T, "virial")
    np.testing.assert_allclose(virial, virial.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("frame_name", list(FRAMES))
def test_hessian(backend_runner, model, frame_name):
    """H_kl = -dF_l/dx_k from the backend's own forces; H symmetric."""
    inputs = frame(model, frame_name)
    hessian = backend_runner(model, **inputs, derivatives=True, hessian=True)[keys.P_HESSIAN][0]
    force = backend_runner(model, **displaced(inputs), derivatives=True)[keys.P_FORCE]
    numeric = -central(force)  # row k: d F / d x_k
    assert np.abs(hessian).max() > 1e-5
    np.testing.assert_allclose(hessian, hessian.T, rtol=0, atol=1e-10)
    assert_close(hessian, numeric, "hessian")
