"""The ``tensor`` fitting and the tensor loss options in input.json: defaults, and every problem
reported with its JSON path."""

import pytest

from dptensor.config import normalize, validate
from dptensor.errors import InputError
from dptensor.model import Model


def tensor_input(loss=None, **fitting):
    fit = {"type": "tensor", "label": "bec", "rank": 2, **fitting}
    return {"model": {"type_map": ["O", "H"],
                      "descriptor": {"type": "se_e2_a", "sel": [4, 8], "rcut": 4.0},
                      "fitting_net": fit},
            "loss": {"pref": 1.0, "pref_atomic": 1.0} if loss is None else loss,
            "training": {"training_data": {"systems": ["a"]}, "numb_steps": 1}}


def problems(raw):
    with pytest.raises(InputError) as e:
        validate(normalize(raw))
    return e.value.messages


def test_defaults_and_model():
    cfg = normalize(tensor_input())
    validate(cfg)
    fit = cfg["model"]["fitting_net"]
    assert fit["sel_type"] == [0, 1] and fit["fit_diag"] is False
    assert "tensor_components" not in fit  # the default depends on the rank
    assert cfg["loss"]["type"] == "tensor"
    assert (cfg["loss"]["loss_func"], cfg["loss"]["huber_delta"]) == ("mse", 1.0)
    model = Model.from_config(cfg["model"])
    assert model.fitting.tensor_components == [0, 1, 2]
    assert model.output_def.name == "bec"
    rank1 = Model.from_config(normalize(tensor_input(rank=1, label="efield"))["model"])
    assert rank1.fitting.tensor_components == [1] and rank1.output_def.shape == (3,)


def test_atom_exclude_types_selects_the_other_types():
    raw = tensor_input()
    raw["model"]["atom_exclude_types"] = [1]
    assert normalize(raw)["model"]["fitting_net"]["sel_type"] == [0]


def test_huber_options_are_kept():
    cfg = normalize(tensor_input(loss={"pref": 0.0, "pref_atomic": 1.0, "loss_func": "huber",
                                       "huber_delta": 0.1}))
    assert (cfg["loss"]["loss_func"], cfg["loss"]["huber_delta"]) == ("huber", 0.1)


@pytest.mark.parametrize("fitting, message", [
    ({"rank": 1, "tensor_components": [0, 1]},
     "model.fitting_net.tensor_components: [0] not among the parts [1] of a rank-1 tensor"),
    ({"rank": 3}, "model.fitting_net.rank: 3 is not one of 1, 2"),
    ({"tensor_components": [3]}, "model.fitting_net.tensor_components[0]: 3 is not one of 0, 1, 2"),
    ({"tensor_components": []}, "model.fitting_net.tensor_components: [] must have at least 1"),
    ({"label": "2bec"}, "model.fitting_net.label: '2bec' is not a name of letters, digits"),
    ({"label": "force"}, "model.fitting_net.label: 'force' already names another data file"),
    ({"label": "dipole"}, "model.fitting_net.label: 'dipole' is the rank-1 label of DeePMD data"),
])
def test_bad_tensor_fittings(fitting, message):
    found = problems(tensor_input(**fitting))
    assert any(p.startswith(message) for p in found), found


def test_known_labels_with_their_own_rank_are_accepted():
    validate(normalize(tensor_input(label="dipole", rank=1)))
    validate(normalize(tensor_input(label="polarizability", rank=2)))


def test_label_and_rank_are_required():
    raw = tensor_input()
    del raw["model"]["fitting_net"]["label"], raw["model"]["fitting_net"]["rank"]
    assert problems(raw) == ["model.fitting_net.label: required key is missing",
                             "model.fitting_net.rank: required key is missing"]


def test_an_energy_loss_cannot_train_a_tensor_fitting():
    assert problems(tensor_input(loss={"type": "ener"})) == [
        "loss.type: 'ener' cannot train a 'tensor' fitting; use 'tensor'"]


def test_bad_huber_delta():
    found = problems(tensor_input(loss={"pref": 1.0, "pref_atomic": 1.0, "loss_func": "huber",
                                        "huber_delta": 0}))
    assert found == ["loss.huber_delta: 0 must be greater than 0"]
