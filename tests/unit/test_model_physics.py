"""Physics of the numpy reference model: symmetries, smoothness at the cutoff, extensivity,
isolated atoms and the documented per-type options of the fittings.

Each test runs one tiny model (see tests/model_fixtures.py) on a few random frames, with the
neighbor list rebuilt from scratch after every change of the frame, as a user's run would.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for model_fixtures

from model_fixtures import (ENER_VARIANTS, ORTHO_BOX, RCUT, SMALL_BOX, TRICLINIC_BOX, VARIANTS,
                            forward, make_model, make_variant, neighbor_inputs, random_frame,
                            random_rotation, replicate, rotate_output, stack_inputs)

from dptensor.model import Model

TOL = 1e-11  # float64: symmetric evaluations differ only by rounding

# name -> (seed, atom types, box): a cluster, an orthorhombic, a triclinic and a small cell
FRAMES = {
    "cluster": (10, [0, 1, 1, 0, 1, 1, 0], None),
    "ortho": (11, [0, 1, 1, 0, 1, 1], ORTHO_BOX),
    "triclinic": (12, [0, 1, 1, 0, 1, 1, 0], TRICLINIC_BOX),
    "small-box": (13, [0, 1, 1], SMALL_BOX),
}


def frame(name):
    seed, atype, box = FRAMES[name]
    coord, atype = random_frame(seed, atype, box)
    return coord, box, atype


def rank(model):
    return len(model.output_def.shape)


def assert_outputs_close(got, want, tol=TOL):
    assert got.keys() == want.keys()
    for k in want:
        scale = max(1.0, float(np.max(np.abs(want[k]))))
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=tol * scale, err_msg=k)


# symmetries ----------------------------------------------------------------------------------
@pytest.mark.parametrize("frame_name", list(FRAMES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rotation(variant, frame_name):
    """E(Rx) = E(x), mu(Rx) = R mu(x), alpha(Rx) = R alpha(x) R^T, globally and per atom."""
    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    rot = random_rotation(7)
    out = forward(model, coord, box, atype)
    rotated = forward(model, coord @ rot.T, None if box is None else box @ rot.T, atype)
    assert np.max(np.abs(out[model.output_def.name])) > 1e-3  # a zero output proves nothing
    want = {k: rotate_output(v, rot, rank(model)) for k, v in out.items()}
    assert_outputs_close(rotated, want)


def test_rotation_check_detects_a_broken_symmetry():
    """The rotation test can fail: a non-zero mean of an angular column of the environment
    matrix singles out the x axis, and the energy changes under rotation."""
    model = make_model("ener")
    model.descriptor.variables["davg"][:, :, 1] = 0.3
    coord, box, atype = frame("cluster")
    rot = random_rotation(7)
    e0 = forward(model, coord, box, atype)["energy"]
    e1 = forward(model, coord @ rot.T, box, atype)["energy"]
    assert abs(e1 - e0) > 1e-6


@pytest.mark.parametrize("frame_name", list(FRAMES))
@pytest.mark.parametrize("variant", ["ener", "ener-one-side-resnet", "dipole-one-side-exclude"])
def test_descriptor_symmetries(variant, frame_name):
    """Under rotation, translation and permutation of the atoms, D_i is invariant (and moves with
    its atom); the rotation matrix T_i[:, 1:] (M1 x 3) turns as T R^T."""
    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    rot, move = random_rotation(8), np.array([0.31, -1.7, 2.4])
    perm = np.random.default_rng(4).permutation(len(atype))
    d0, r0 = model.descriptor(**neighbor_inputs(model, coord, box, atype))
    new_box = None if box is None else box @ rot.T
    new_coord = ((coord + move) @ rot.T)[perm]
    d1, r1 = model.descriptor(**neighbor_inputs(model, new_coord, new_box, atype[perm]))
    np.testing.assert_allclose(d1, d0[:, perm], rtol=0, atol=TOL)
    np.testing.assert_allclose(r1, r0[:, perm] @ rot.T, rtol=0, atol=TOL)
    assert np.abs(d0).max() > 1e-4


@pytest.mark.parametrize("frame_name", list(FRAMES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_translation(variant, frame_name):
    """Outputs do not change under a translation, nor (periodic) under wrapping into the cell."""
    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    out = forward(model, coord, box, atype)
    assert_outputs_close(forward(model, coord + np.array([3.7, -0.4, 11.2]), box, atype), out)
    if box is not None:
        wrapped = coord - np.floor(coord @ np.linalg.inv(box)) @ box
        assert_outputs_close(forward(model, wrapped, box, atype), out)


@pytest.mark.parametrize("frame_name", list(FRAMES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_permutation(variant, frame_name):
    """Relabelling atoms (with their types) permutes the atomic outputs, the global ones stay."""
    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    perm = np.random.default_rng(3).permutation(len(atype))
    assert (perm != np.arange(len(atype))).any()
    out = forward(model, coord, box, atype)
    permuted = forward(model, coord[perm], box, atype[perm])
    od = model.output_def
    want = {od.name: out[od.name], od.atomic_name: out[od.atomic_name][perm]}
    assert_outputs_close(permuted, want)


# smoothness ----------------------------------------------------------------------------------
def radial_path(r_values):
    """Frames of a 4-atom cluster plus a type-0 atom at distance r from atom 0 along a fixed
    direction (away from the cluster), one frame per r."""
    cluster = np.array([[0.0, 0.0, 0.0], [1.0, 0.2, -0.3], [-0.4, 1.1, 0.5], [0.3, -0.6, 1.2]])
    direction = np.array([-0.6, -0.5, -0.62])
    direction /= np.linalg.norm(direction)
    coords = [np.vstack([cluster, r * direction]) for r in r_values]
    return coords, np.array([0, 1, 0, 1, 0])


def path_outputs(model, r_values):
    """The global output along ``radial_path``, all frames in one batch: nr x output size."""
    coords, atype = radial_path(r_values)
    inputs = stack_inputs([neighbor_inputs(model, c, None, atype) for c in coords])
    return model(**inputs)[model.output_def.name].reshape(len(r_values), -1)


def second_difference_ratio(model):
    """max |second difference| of the output along the radial path at step 2e-3 over the same at
    step 1e-3; also checks that the output is exactly constant beyond rcut and not constant
    overall."""
    second = []
    for h in (2e-3, 1e-3):
        r = RCUT - 0.4 + h * np.arange(int(round(0.45 / h)) + 1)
        out = path_outputs(model, r)
        second.append(np.abs(np.diff(out, n=2, axis=0)).max())
        beyond = out[r > RCUT]
        # constant beyond rcut up to round-off (frames of one batch may round differently)
        np.testing.assert_allclose(beyond, np.repeat(beyond[:1], len(beyond), 0), rtol=1e-13, atol=1e-13)
    assert np.abs(out[0] - out[-1]).max() > 1e-7  # the moving atom does interact
    return second[0] / second[1]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_smooth_across_rcut(variant):
    """Moving one atom radially across rcut: halving the step h divides the largest second
    difference of the output by about 4 (smooth: h^2 f''), where a jump would leave it unchanged
    and a kink only halve it."""
    assert 3.5 < second_difference_ratio(make_variant(variant)) < 4.5


def test_smoothness_check_detects_a_kink(monkeypatch):
    """The smoothness test can fail: a switch that goes linearly to zero at rcut has a kink."""
    from dptensor.model import env_mat

    def linear_switch(ops, r, rcut_smth, rcut):
        u = (r - rcut_smth) / (rcut - rcut_smth)
        return ops.where(r < rcut_smth, 1.0 + 0.0 * r, ops.where(r < rcut, 1.0 - u, 0.0 * r))

    monkeypatch.setattr(env_mat, "switch", linear_switch)
    assert second_difference_ratio(make_variant("ener")) < 2.5


@pytest.mark.parametrize("variant", ENER_VARIANTS)
def test_energy_vanishes_cubically_at_rcut(variant):
    """Two type-0 atoms: E(r) - E(far) ~ (rc - r)^3 (the switch is C2 at rc), so halving the
    distance to rc divides the interaction by about 8; beyond rc the atoms do not see each other."""
    model = make_variant(variant)
    atype = [0, 0]

    def energy(r):
        return forward(model, np.array([[0.0, 0.0, 0.0], [0.0, r, 0.0]]), None, atype)["energy"]

    far = energy(RCUT + 1.0)
    f1, f2 = energy(RCUT - 0.01) - far, energy(RCUT - 0.02) - far
    assert abs(f2) > 1e-9
    assert 7.0 < f2 / f1 < 9.0, (f1, f2)
    assert energy(RCUT + 1e-9) == far


# extensivity ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reps", [(2, 1, 1), (2, 2, 1), (1, 3, 1)])
@pytest.mark.parametrize("frame_name", ["ortho", "triclinic", "small-box"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_supercell(variant, frame_name, reps):
    """A replicated periodic cell: atomic outputs repeat, global outputs scale with the number of
    copies (energy, dipole and polarizability are all extensive sums of atomic terms)."""
    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    out = forward(model, coord, box, atype)
    big = forward(model, *replicate(coord, box, atype, reps))
    ncopy = int(np.prod(reps))
    od = model.output_def
    want = {od.name: ncopy * out[od.name],
            od.atomic_name: np.concatenate([out[od.atomic_name]] * ncopy)}
    assert_outputs_close(big, want, tol=TOL * ncopy)


# per-type options ----------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["dipole", "polar-full-one-side", "ener-exclude"])
def test_unselected_types_give_exact_zeros(variant):
    """Atoms outside sel_type (dipole, polar) or in atom_exclude_types (ener) contribute exactly
    zero, whatever the statistics (bias, constant_matrix) of their type."""
    model = make_variant(variant)
    coord, box, atype = frame("triclinic")
    atomic = forward(model, coord, box, atype)[model.output_def.atomic_name]
    off = ~np.isin(atype, model.sel_type)
    assert off.any() and (~off).any()
    assert np.all(atomic[off] == 0.0)
    assert np.all(np.abs(atomic[~off]).reshape((~off).sum(), -1).max(axis=1) > 1e-6)


def test_descriptor_exclude_types():
    """With the pair (0, 1) excluded, moving a type-1 atom leaves every type-0 descriptor as it
    is, and changes the descriptors of the type-1 atoms."""
    model = make_variant("ener-exclude")
    coord, box, atype = frame("cluster")
    moved = coord.copy()
    moved[1] += np.array([0.05, -0.04, 0.03])
    d0, _ = model.descriptor(**neighbor_inputs(model, coord, box, atype))
    d1, _ = model.descriptor(**neighbor_inputs(model, moved, box, atype))
    np.testing.assert_array_equal(d1[0, atype == 0], d0[0, atype == 0])
    assert np.abs(d1[0, atype == 1] - d0[0, atype == 1]).max() > 1e-6


@pytest.mark.parametrize("type_one_side", [False, True])
def test_atom_ener_fixes_isolated_atoms(type_one_side):
    """atom_ener [e0, null] with set_davg_zero (an empty environment then has D = 0): an isolated
    type-0 atom has energy e0 exactly; a type-1 atom keeps its own (net + bias) energy."""
    model = make_model("ener", descriptor={"set_davg_zero": True, "type_one_side": type_one_side},
                       fitting={"atom_ener": [-3.25, None]})
    far_apart = np.array([[0.0, 0.0, 0.0], [RCUT + 0.5, 0.0, 0.0], [0.0, 2 * RCUT, 0.0]])
    atomic = forward(model, far_apart, None, np.array([0, 0, 1]))["atom_energy"]
    np.testing.assert_allclose(atomic[:2], -3.25, rtol=0, atol=1e-12)
    assert abs(atomic[2] - (-3.25)) > 1e-3
    single = forward(model, np.zeros((1, 3)), None, np.array([0]))["energy"]
    np.testing.assert_allclose(single, -3.25, rtol=0, atol=1e-12)


def test_atom_ener_is_the_energy_at_zero_descriptor():
    """The fitting's own contract (EnerFitting docstring): D = 0 gives atom_ener[t] exactly,
    whatever the bias. (An isolated atom has D = 0 only with a zero davg: set_davg_zero.)"""
    model = make_model("ener", fitting={"atom_ener": [-3.25, 1.5]})
    fit = model.fitting
    zero = np.zeros((1, 2, fit.dim_descrpt))
    atomic = fit(zero, np.zeros((1, 2, fit.dim_emb, 3)), np.array([[0, 1]]))["atom_energy"]
    np.testing.assert_allclose(atomic, [[-3.25, 1.5]], rtol=0, atol=1e-12)


def _polar_with(model, **changes):
    data = model.serialize()
    data["fitting"].update(changes)
    return Model.deserialize(data)


@pytest.mark.parametrize("fit_diag", [True, False])
def test_polar_scale_and_shift_diag(fit_diag):
    """alpha_i = s_t R_i^T A_i R_i + c_t I (PolarFitting docstring): scale multiplies the
    learned part per type; shift_diag adds constant_matrix[t] on the diagonal, and is ignored
    when off; every atomic tensor is symmetric."""
    base = make_model("polar", fitting={"fit_diag": fit_diag, "shift_diag": False, "scale": 1.0})
    coord, box, atype = frame("ortho")
    plain = forward(base, coord, box, atype)["atomic_polar"]
    np.testing.assert_allclose(plain, np.swapaxes(plain, -1, -2), rtol=0, atol=1e-13)

    scaled = forward(_polar_with(base, scale=[2.0, 0.5]), coord, box, atype)["atomic_polar"]
    s = np.array([2.0, 0.5])[atype]
    np.testing.assert_allclose(scaled, s[:, None, None] * plain, rtol=1e-13, atol=1e-14)

    c = base.fitting.variables["constant_matrix"]
    assert np.abs(c).min() > 0  # set by set_stats: shift_diag False must ignore it
    shifted = forward(_polar_with(base, scale=[2.0, 0.5], shift_diag=True), coord, box, atype)
    want = s[:, None, None] * plain + c[atype][:, None, None] * np.eye(3)
    np.testing.assert_allclose(shifted["atomic_polar"], want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(shifted["polar"], want.sum(0), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("frame_name", ["cluster", "small-box"])
def test_evaluate_on_raw_frames(frame_name):
    """Model.evaluate (neighbor list built inside, several frames) equals the forward pass on
    each frame's own neighbor list."""
    model = make_variant("dipole")
    coord, box, atype = frame(frame_name)
    second = coord + np.random.default_rng(5).normal(scale=0.05, size=coord.shape)
    boxes = None if box is None else np.stack([box, box])
    out = model.evaluate(np.stack([coord, second]), boxes, np.stack([atype, atype]))
    for f, c in enumerate([coord, second]):
        want = forward(model, c, box, atype)
        assert_outputs_close({k: v[f] for k, v in out.items()}, want, tol=1e-14)


@pytest.mark.parametrize("variant", ["dipole", "polar-full-one-side"])
@pytest.mark.parametrize("frame_name", ["triclinic", "small-box", "cluster"])
def test_centers_first_evaluation_matches_full(variant, frame_name):
    """``evaluate_frames`` (what every backend's evaluator runs) moves the atoms of sel_type to
    the front and builds neighbor lists for them alone: the outputs equal a full evaluation."""
    from dptensor.infer.deep_model import evaluate_frames

    model = make_variant(variant)
    coord, box, atype = frame(frame_name)
    coord, atype = coord[None], atype[None]
    boxes = None if box is None else box[None]
    want = forward(model, coord[0], box, atype[0])
    seen = []

    def run(c, t, nlist, shift):
        seen.append(t.shape[1])
        return model(c, t, nlist, shift)

    got = evaluate_frames(model, run, coord, boxes, atype, atomic=True)
    assert seen == [int(np.isin(atype, model.sel_type).sum())] and seen[0] < atype.shape[1]
    for key, value in want.items():
        np.testing.assert_allclose(got[key][0], value, rtol=0, atol=TOL, err_msg=key)
