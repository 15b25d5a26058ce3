"""The written-out Hessian of the numpy reference (``dptensor.model.hessian``) against second
differences of its own energy, for every energy variant, activation and list layout.

    H_kl ~ (E(+k+l) - E(+k-l) - E(-k+l) + E(-k-l)) / 4h^2,

all displaced frames of a model evaluated as one batch with the undisplaced frame's neighbor list
(no pair is near rcut).
"""

import numpy as np
import pytest
from model_fixtures import ENER_VARIANTS, SMALL_BOX, make_model, make_variant, neighbor_inputs, random_frame

from dptensor.data import keys
from dptensor.data.trim import trim_blocks
from dptensor.model import Model
from dptensor.model.ops import numpy_ops

STEP = 1e-4  # Angstrom: truncation ~1e-8 and round-off of E / STEP^2 ~1e-8
TOL = 1e-6


def _frame(model, atype=(0, 1, 0, 0, 1), box=None, seed=11):
    coord, atype = random_frame(seed, list(atype), box)
    return neighbor_inputs(model, coord, box, atype)


def _numeric(model, inputs):
    """Second differences of the energy: 3nat x 3nat."""
    coord = inputs["coord"][0]
    n3 = coord.size
    steps = np.eye(n3) * STEP
    signs = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    moved = np.stack([coord.reshape(-1) + a * steps[k] + b * steps[l]
                      for k in range(n3) for l in range(n3) for a, b in signs])
    frames = moved.shape[0]
    batch = {k: np.repeat(v, frames, axis=0) for k, v in inputs.items()}
    batch["coord"] = moved.reshape(frames, -1, 3)
    energy = model(**batch)[keys.P_ENERGY].reshape(n3, n3, 4)
    return (energy[..., 0] - energy[..., 1] - energy[..., 2] + energy[..., 3]) / (4 * STEP * STEP)


def _hessian(model, inputs, groups=None, widths=None):
    args = [inputs[k] for k in ("coord", "atype", "nlist", "shift")]
    return model.hessian(numpy_ops, model.variables, *args, groups, widths)[0]


def _check(model, inputs):
    got = _hessian(model, inputs)
    want = _numeric(model, inputs)
    assert np.abs(want).max() > 1e-3
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, got.T, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL * scale)


@pytest.mark.parametrize("variant", ENER_VARIANTS)
def test_variants_against_second_differences(variant):
    model = make_variant(variant)
    _check(model, _frame(model))


def test_periodic_small_box():
    """Periodic images: an atom is its own neighbor's image, so slots (i, j) with i = j count."""
    model = make_variant("ener")
    _check(model, _frame(model, (0, 0, 1), SMALL_BOX, seed=3))


@pytest.mark.parametrize("activation", ["gelu", "softplus", "sigmoid"])
def test_activations(activation):
    model = make_model("ener", descriptor={"activation_function": activation},
                       fitting={"activation_function": activation})
    _check(model, _frame(model))


def test_fitting_whose_first_layer_adds_the_descriptor():
    """neuron[0] = M1 * M2 (and the doubling case): the first layer has a shortcut, whose
    tangents go through the rest of the net too."""
    for width in (16, 32):  # the descriptor is 8 x 2 wide
        model = make_model("ener", fitting={"neuron": [width, width]})
        assert model.fitting.nets[0].first_shortcut
        _check(model, _frame(model))


def test_one_hidden_layer_and_davg_zero():
    model = make_model("ener", descriptor={"set_davg_zero": True, "env_protection": 0.05},
                       fitting={"neuron": [6]})
    _check(model, _frame(model))


def test_groups_and_cut_lists_give_the_same_hessian():
    """Type groups (each type's net on its atoms) and lists cut to their widths
    (``dptensor.data.trim``) change the work, not the result."""
    model = make_variant("ener-one-side-resnet")
    inputs = _frame(model)
    plain = _hessian(model, inputs)
    groups = Model.type_groups(inputs["atype"], model.ntypes)
    cut = trim_blocks({keys.NLIST: inputs["nlist"], keys.SHIFT: inputs["shift"]}, model.sel)
    assert cut[keys.WIDTHS] is not None and list(cut[keys.WIDTHS]) != list(model.sel)
    trimmed = {**inputs, "nlist": cut[keys.NLIST], "shift": cut[keys.SHIFT]}
    np.testing.assert_allclose(_hessian(model, inputs, groups), plain, rtol=0, atol=1e-13)
    np.testing.assert_allclose(_hessian(model, trimmed, groups, cut[keys.WIDTHS]), plain, rtol=0, atol=1e-13)


def test_only_energy_models_have_a_hessian():
    model = make_variant("dipole")
    with pytest.raises(ValueError, match="dipole model has no Hessian"):
        _hessian(model, _frame(model))
