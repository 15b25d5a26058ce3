"""Every backend computes the reference's outputs: same model (the reference's own variables),
same inputs, agreement to 1e-10 in float64 and ~1e-5 relative in float32."""

import numpy as np
import pytest
from model_fixtures import (SMALL_BOX, TRICLINIC_BOX, VARIANTS, make_model, make_variant,
                            neighbor_inputs, random_frame, random_rotation, stack_inputs)

from dptensor.backend.registry import available_backends
from dptensor.data import keys
from dptensor.data.mirror import mirror_slots
from dptensor.data.neighbor import build_neighbor_list
from dptensor.data.trim import trim_blocks
from dptensor.model.network import ACTIVATIONS

FRAMES = {
    "cluster": ([0, 1, 1, 0, 1, 1, 0], None),
    "triclinic": ([0, 1, 1, 0, 1, 1, 0], TRICLINIC_BOX),
    "small-box": ([0, 1, 1], SMALL_BOX),
}


def _two_frames(frame_name):
    """A random frame and a strained, rattled and rotated copy: coords, boxes (or None), atype."""
    atype, box = FRAMES[frame_name]
    coord, atype = random_frame(30, atype, box)
    rot, strain = random_rotation(31), np.diag([1.03, 0.98, 1.01])
    noise = np.random.default_rng(32).normal(scale=0.03, size=coord.shape)
    second = (coord @ strain + noise) @ rot.T
    boxes = None if box is None else [box, box @ strain @ rot.T]
    return [coord, second], boxes, atype


def batch(model, frame_name):
    """Two frames of the same system in one batch (the backend must keep frames apart)."""
    coords, boxes, atype = _two_frames(frame_name)
    return stack_inputs([neighbor_inputs(model, c, None if boxes is None else b, atype)
                         for c, b in zip(coords, boxes or [None, None])])


def mirror_of(model, frame_name):
    """``keys.MIRROR`` of ``batch(model, frame_name)``."""
    coords, boxes, atype = _two_frames(frame_name)
    res = build_neighbor_list(np.stack(coords), None if boxes is None else np.stack(boxes), atype,
                              model.rcut, model.sel)
    return mirror_slots(res.nlist, res.image, atype, model.sel).astype(np.int64)


def assert_matches(got, want, rtol, what):
    for k, ref in want.items():
        assert k in got, f"{what}: the backend returns no {k!r} (has {sorted(got)})"
        assert got[k].shape == ref.shape, (what, k, got[k].shape, ref.shape)
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(got[k], ref, rtol=0, atol=rtol * scale, err_msg=f"{what}: {k}")


def test_registry_lists_backends():
    """``available_backends()`` works (a registered entry point whose module is missing breaks it
    for every user, and this suite then tests the backends that do load) and lists one or more."""
    assert available_backends()


@pytest.mark.parametrize("frame_name", list(FRAMES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_outputs_match_reference(backend_runner, variant, frame_name):
    """energy/atom_energy, dipole/atomic_dipole, polar/atomic_polar agree to 1e-10 (float64),
    with and without derivatives."""
    model = make_variant(variant)
    inputs = batch(model, frame_name)
    want = model(**inputs)
    od = model.output_def
    assert set(want) == {od.name, od.atomic_name}
    for derivatives in (False, True):
        got = backend_runner(model, **inputs, derivatives=derivatives, hessian=False)
        assert_matches(got, want, 1e-10, f"{variant}, derivatives={derivatives}")
        if derivatives and od.r_differentiable:
            nf, nat = inputs["atype"].shape
            assert got[keys.P_FORCE].shape == (nf, nat, 3)
            assert got[keys.P_VIRIAL].shape == (nf, 3, 3)
    # the frames of the batch are different, so a backend mixing them up would be caught
    assert np.abs(want[od.name][0] - want[od.name][1]).max() > 1e-8


@pytest.mark.parametrize("frame_name", ["cluster", "small-box"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shared_mirror_embedding_matches_reference(backend_runner, variant, frame_name):
    """With ``mirror`` (same-type pairs share one embedding evaluation, as in training) every
    output, forces and virial included, is the reference's computed without it."""
    model = make_variant(variant)
    inputs = batch(model, frame_name)
    mirror = mirror_of(model, frame_name)
    assert (mirror >= 0).any()
    plain = backend_runner(model, **inputs, derivatives=True)
    got = backend_runner(model, **inputs, derivatives=True, mirror=mirror)
    assert_matches(got, model(**inputs), 1e-10, f"{variant} with mirror")
    assert_matches(got, plain, 1e-12, f"{variant} with mirror, against the backend without")


@pytest.mark.parametrize("frame_name", ["cluster", "triclinic"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lists_cut_to_widths_match_reference(backend_runner, variant, frame_name):
    """Neighbor lists cut to the widths the batch uses (``dptensor.data.trim``, as in training),
    with shared mirror embeddings: every output, forces, virial and (energy models) Hessian is
    the reference's on the full lists."""
    model = make_variant(variant)
    inputs = batch(model, frame_name)
    full = {**inputs, keys.MIRROR: mirror_of(model, frame_name)}
    cut = trim_blocks(full, model.sel, multiple=2)
    assert keys.WIDTHS in cut, "the test frames must leave slots unused"
    hessian = model.output_def.r_differentiable
    got = backend_runner(model, cut[keys.COORD], cut[keys.ATYPE], cut[keys.NLIST], cut[keys.SHIFT],
                         derivatives=True, hessian=hessian, mirror=cut[keys.MIRROR],
                         widths=cut[keys.WIDTHS])
    assert_matches(got, model(**inputs), 1e-10, f"{variant} on cut lists")
    plain = backend_runner(model, **inputs, derivatives=True, hessian=hessian)
    assert_matches(got, plain, 1e-11, f"{variant} on cut lists, against the full lists")


@pytest.mark.parametrize("kind", ["ener", "dipole", "polar"])
def test_float32_outputs_match_reference(backend_runner, kind):
    """A float32 model agrees with the float32 reference to ~1e-5 relative; outputs are float64
    arrays either way."""
    model = make_model(kind, precision="float32",
                       descriptor={"type_one_side": kind == "dipole"},
                       fitting={"fit_diag": False} if kind == "polar" else None)
    inputs = batch(model, "triclinic")
    want = model(**inputs)
    got = backend_runner(model, **inputs, derivatives=True, hessian=False)
    assert_matches(got, want, 1e-5, f"{kind} float32")
    assert got[model.output_def.name].dtype == np.float64


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_functions_match_reference(backend_runner, activation):
    """Each activation function the input accepts means the same in the backend."""
    model = make_model("ener", descriptor={"activation_function": activation},
                       fitting={"activation_function": activation})
    inputs = batch(model, "cluster")
    got = backend_runner(model, **inputs, derivatives=True, hessian=False)
    assert_matches(got, model(**inputs), 1e-10, activation)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_global_is_sum_of_atomic(backend_runner, variant):
    model = make_variant(variant)
    inputs = batch(model, "small-box")
    got = backend_runner(model, **inputs, derivatives=False, hessian=False)
    od = model.output_def
    np.testing.assert_allclose(got[od.name], got[od.atomic_name].sum(axis=1), rtol=0, atol=1e-12)


def test_hessian_keeps_the_other_outputs(backend_runner):
    """Asking for the Hessian does not change energy, forces or virial."""
    model = make_variant("ener")
    inputs = batch(model, "small-box")
    plain = backend_runner(model, **inputs, derivatives=True, hessian=False)
    full = backend_runner(model, **inputs, derivatives=True, hessian=True)
    nf, nat = inputs["atype"].shape
    assert full[keys.P_HESSIAN].shape == (nf, 3 * nat, 3 * nat)
    for k, v in plain.items():
        np.testing.assert_allclose(full[k], v, rtol=0, atol=1e-12, err_msg=k)
