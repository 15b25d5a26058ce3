"""validate() and load_input(): every problem with its JSON path, all reported at once."""

import json
import warnings

import pytest

from dptensor.config import InputWarning, load_input, normalize, validate
from dptensor.errors import InputError


def minimal(kind="ener", **fitting):
    loss = {"pref": 1.0, "pref_atomic": 1.0} if kind != "ener" else {}
    return {"model": {"type_map": ["O", "H"],
                      "descriptor": {"type": "se_e2_a", "sel": [4, 8], "rcut": 4.0},
                      "fitting_net": {"type": kind, **fitting}},
            "loss": loss,
            "training": {"training_data": {"systems": ["a", "b"]}, "numb_steps": 1}}


def problems(raw):
    with pytest.raises(InputError) as e:
        validate(normalize(raw))
    return e.value.messages


@pytest.mark.parametrize("kind", ["ener", "dipole", "polar"])
def test_minimal_inputs_are_valid(kind):
    validate(normalize(minimal(kind)))


def test_unknown_fitting_type_lists_the_accepted_ones():
    raw = minimal()
    raw["model"]["fitting_net"]["type"] = "foo"
    assert problems(raw) == [
        "model.fitting_net.type: 'foo' is not one of 'ener', 'dipole', 'polar', 'tensor'"]


def test_tensor_loss_on_ener_fitting():
    raw = minimal("ener")
    raw["loss"] = {"type": "tensor", "pref": 1, "pref_atomic": 1}
    assert problems(raw) == ["loss.type: 'tensor' cannot train a 'ener' fitting; use 'ener'"]


def test_ener_loss_on_dipole_fitting():
    raw = minimal("dipole")
    raw["loss"] = {"type": "ener"}
    assert problems(raw) == ["loss.type: 'ener' cannot train a 'dipole' fitting; use 'tensor'"]


def test_sel_type_out_of_range():
    assert problems(minimal("polar", sel_type=[0, 2])) == [
        "model.fitting_net.sel_type[1]: type index 2 is out of range for type_map of 2 types"]


def test_sel_length_must_match_type_map():
    raw = minimal()
    raw["model"]["descriptor"]["sel"] = [4, 8, 12]
    assert problems(raw) == ["model.descriptor.sel: has 3 entries but type_map has 2 types"]


@pytest.mark.parametrize("sel", ["auto", "auto:1.5"])
def test_sel_auto_is_valid(sel):
    raw = minimal()
    raw["model"]["descriptor"]["sel"] = sel
    validate(normalize(raw))


def test_sel_of_wrong_form():
    raw = minimal()
    raw["model"]["descriptor"]["sel"] = "automatic"
    assert problems(raw) == ["model.descriptor.sel: 'automatic' is not a list of int (one per "
                             "type) or 'auto' or 'auto:<factor>'"]
    raw["model"]["descriptor"]["sel"] = [4, "x"]
    assert problems(raw) == ["model.descriptor.sel[1]: 'x' is not an integer"]


def test_rcut_smth_must_be_below_rcut():
    raw = minimal()
    raw["model"]["descriptor"]["rcut_smth"] = 4.0
    assert problems(raw) == ["model.descriptor.rcut_smth: 4.0 must be smaller than rcut (4.0)"]


def test_exclude_types_out_of_range_and_malformed():
    raw = minimal()
    raw["model"]["descriptor"]["exclude_types"] = [[0, 1], [1, 3], [0]]
    assert problems(raw) == [
        "model.descriptor.exclude_types[2]: [0] must have at least 2 item(s)",
        "model.descriptor.exclude_types[1][1]: type index 3 is out of range for type_map of 2 types",
    ]


def test_per_type_lists_must_have_one_entry_per_type():
    assert problems(minimal("polar", scale=[1.0, 2.0, 3.0])) == [
        "model.fitting_net.scale: has 3 entries but type_map has 2 types"]
    validate(normalize(minimal("polar", scale=2.0)))
    assert problems(minimal("ener", atom_ener=[0.0])) == [
        "model.fitting_net.atom_ener: has 1 entries but type_map has 2 types"]
    validate(normalize(minimal("ener", atom_ener=[None, -1.5])))


def test_per_system_lists_must_have_one_entry_per_system():
    raw = minimal()
    raw["training"]["training_data"].update(batch_size=[1, 2, 3], sys_probs=[0.5, 0.5])
    assert problems(raw) == [
        "training.training_data.batch_size: has 3 entries but systems has 2"]


def test_wrong_types_and_ranges_read_as_sentences():
    raw = minimal()
    raw["model"]["descriptor"]["activation_function"] = "swish"
    raw["model"]["fitting_net"]["resnet_dt"] = "yes"
    raw["learning_rate"] = {"start_lr": 0}
    raw["training"]["disp_freq"] = 0
    raw["training"]["gradient_max_norm"] = -1
    del raw["training"]["numb_steps"]
    assert problems(raw) == [
        "learning_rate.start_lr: 0 must be greater than 0",
        "model.descriptor.activation_function: 'swish' is not one of 'tanh', 'gelu', 'relu', "
        "'softplus', 'sigmoid', 'linear'",
        "model.fitting_net.resnet_dt: 'yes' is not true or false",
        "training.numb_steps: required key is missing",
        "training.disp_freq: 0 is less than the minimum 1",
        "training.gradient_max_norm: -1 is not a number > 0 or null",
    ]


def test_tensor_loss_prefactors_are_required():
    raw = minimal("dipole")
    raw["loss"] = {}
    assert problems(raw) == ["loss.pref: required key is missing",
                             "loss.pref_atomic: required key is missing"]


def test_several_schema_and_semantic_errors_come_together():
    raw = minimal("dipole", sel_type=[5])
    raw["model"]["descriptor"]["rcut_smth"] = 9.0
    raw["model"]["descriptor"]["precision"] = "float16"
    raw["loss"]["pref"] = -1
    found = problems(raw)
    assert len(found) == 4
    assert {p.split(":")[0] for p in found} == {
        "model.fitting_net.sel_type[0]", "model.descriptor.rcut_smth",
        "model.descriptor.precision", "loss.pref"}


def write(tmp_path, text, name="input.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_input_reports_normalization_and_schema_problems_with_the_file(tmp_path):
    raw = minimal()
    raw["model"]["descriptor"]["axis_neurons"] = 4
    raw["model"]["fitting_net"]["precision"] = "half"
    path = write(tmp_path, json.dumps(raw))
    with pytest.raises(InputError) as e:
        load_input(path)
    assert e.value.source == str(path)
    assert e.value.messages == [
        "model.descriptor.axis_neurons: unknown key; did you mean 'axis_neuron'?",
        "model.fitting_net.precision: 'half' is not one of 'float32', 'float64'",
    ]
    assert str(path) in str(e.value)


def test_load_input_returns_the_normalized_config(tmp_path):
    raw = minimal()
    raw["training"]["profiling"] = False
    path = write(tmp_path, json.dumps(raw))
    with pytest.warns(InputWarning, match="training.profiling"):
        cfg = load_input(path)
    assert cfg == normalize(minimal())


def test_invalid_json_names_file_and_line(tmp_path):
    path = write(tmp_path, '{\n  "model": {},\n  "training": {,}\n}\n')
    with pytest.raises(InputError) as e:
        load_input(path)
    assert str(e.value).startswith(f"{path}: (root): invalid JSON at line 3, column 16")


def test_top_level_must_be_an_object(tmp_path):
    path = write(tmp_path, "\n[1, 2]\n")
    with pytest.raises(InputError, match=r"input.json: \(root\): line 2: the input must be a JSON "
                                         r"object \{...\}, not a list"):
        load_input(path)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the file"):
        load_input(tmp_path / "nope.json")


def test_reference_inputs_load_without_warnings():
    from pathlib import Path

    folder = Path(__file__).parents[1] / "fixtures" / "reference-inputs"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in sorted(folder.glob("*.json")):
            assert load_input(path)["model"]["type_map"] == ["O", "H"]


def test_type_map_names_must_differ():
    raw = minimal()
    raw["model"]["type_map"] = ["O", "H", "O"]
    raw["model"]["descriptor"]["sel"] = [4, 8, 2]
    assert problems(raw) == ["model.type_map[2]: 'O' appears twice (also at [0]); each type needs its "
                             "own name (e.g. 'O1' for a second kind of O)"]
