"""normalize(): reference inputs, aliases, defaults, comments, ignored and unknown keys."""

import copy
import json
import warnings
from pathlib import Path

import pytest

from dptensor.config import InputWarning, normalize, validate
from dptensor.config.fragment import variant_of
from dptensor.config.schema import ROOT
from dptensor.errors import InputError

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference-inputs"
NAMES = sorted(p.name for p in REFERENCE.glob("*.json"))


def reference(name):
    return json.loads((REFERENCE / name).read_text())


def quiet_normalize(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference inputs have nothing to ignore
        return normalize(raw)


def given_values(tree, parts=()):
    """(path, value) of every leaf the user wrote, comments excluded."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if not k.startswith("_"):
                yield from given_values(v, parts + (k,))
    else:
        yield parts, tree


def lookup(tree, parts):
    for p in parts:
        tree = tree[p]
    return tree


def missing_defaults(value, node, parts=()):
    """Paths of keys with a schema default that are absent from ``value``."""
    frag = variant_of(node, value)
    if frag is None or not isinstance(value, dict):
        return []
    out = []
    for name, prop in frag["properties"].items():
        if name not in value:
            out += [parts + (name,)] if "default" in prop else []
        else:
            out += missing_defaults(value[name], prop, parts + (name,))
    return out


def test_five_reference_inputs_are_there():
    assert NAMES == ["dipole_input.json", "dipole_input_torch.json", "polar_input.json",
                     "polar_input_torch.json", "se_e2_a_input.json"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_input_normalizes_validates_and_keeps_given_values(name):
    raw = reference(name)
    before = copy.deepcopy(raw)
    cfg = quiet_normalize(raw)
    validate(cfg)
    assert raw == before, "normalize must not change its argument"
    for parts, value in given_values(raw):
        if parts != ("model", "atom_exclude_types"):
            assert lookup(cfg, parts) == value, parts
    assert missing_defaults(cfg, ROOT) == []
    assert "atom_exclude_types" not in cfg["model"]
    assert not any(k.startswith("_") for k in json.dumps(cfg).split('"')[1::2])


@pytest.mark.parametrize("kind", ["dipole", "polar"])
def test_torch_spelling_atom_exclude_types_equals_sel_type(kind):
    torch = quiet_normalize(reference(f"{kind}_input_torch.json"))
    plain = quiet_normalize(reference(f"{kind}_input.json"))
    assert torch["model"]["fitting_net"]["sel_type"] == [0]
    assert torch == plain


def test_defaults_are_filled_from_the_schema():
    raw = {"model": {"type_map": ["O", "H"], "descriptor": {"type": "se_e2_a", "sel": "auto"},
                     "fitting_net": {}},
           "training": {"training_data": {"systems": "data"}, "numb_steps": 10}}
    cfg = quiet_normalize(raw)
    validate(cfg)
    assert missing_defaults(cfg, ROOT) == []
    d, f = cfg["model"]["descriptor"], cfg["model"]["fitting_net"]
    assert (d["rcut"], d["rcut_smth"], d["neuron"], d["axis_neuron"]) == (6.0, 0.5, [10, 20, 40], 4)
    assert (d["precision"], d["activation_function"], d["seed"]) == ("float64", "tanh", None)
    assert f == {"type": "ener", "neuron": [120, 120, 120], "resnet_dt": True,
                 "activation_function": "tanh", "precision": "float64", "trainable": True,
                 "seed": None, "rcond": None, "atom_ener": [], "atom_exclude_types": []}
    assert cfg["learning_rate"] == {"type": "exp", "start_lr": 1e-3, "stop_lr": 1e-8,
                                    "decay_steps": 5000}
    assert cfg["loss"]["type"] == "ener" and cfg["loss"]["start_pref_f"] == 1000
    assert cfg["training"]["training_data"]["batch_size"] == "auto"
    assert cfg["training"]["validation_data"] is None
    assert cfg["training"]["save_ckpt"] == "model.ckpt"


def minimal(kind="ener", **fitting):
    return {"model": {"type_map": ["O", "H", "C"],
                      "descriptor": {"type": "se_e2_a", "sel": [1, 2, 3]},
                      "fitting_net": {"type": kind, **fitting}},
            "training": {"training_data": {"systems": ["a"]}, "numb_steps": 1}}


def test_aliases_are_normalized():
    raw = minimal("dipole", n_neuron=[8, 8], dipole_type=[1])
    raw["model"]["descriptor"].update(type="se_a", n_axis_neuron=7, activation_function="none",
                                      precision="default")
    raw["training"]["stop_batch"] = raw["training"].pop("numb_steps")
    raw["training"]["validation_data"] = {"systems": ["v"], "numb_batch": 2,
                                          "auto_prob_style": "prob_uniform"}
    raw["learning_rate"] = {"start_lr": 0.01, "stop_lr_ratio": 1e-3}
    raw["loss"] = {"pref": 1, "pref_atomic": 0}
    cfg = quiet_normalize(raw)
    validate(cfg)
    d, f = cfg["model"]["descriptor"], cfg["model"]["fitting_net"]
    assert (d["type"], d["axis_neuron"], d["activation_function"], d["precision"]) == \
        ("se_e2_a", 7, "linear", "float64")
    assert "n_axis_neuron" not in d
    assert f["neuron"] == [8, 8] and f["sel_type"] == [1] and "dipole_type" not in f
    assert cfg["training"]["numb_steps"] == 1 and "stop_batch" not in cfg["training"]
    assert cfg["training"]["validation_data"]["numb_btch"] == 2
    assert cfg["training"]["validation_data"]["auto_prob"] == "prob_uniform"
    assert cfg["learning_rate"]["stop_lr"] == pytest.approx(1e-5)
    assert "stop_lr_ratio" not in cfg["learning_rate"]
    assert cfg["loss"]["type"] == "tensor"


def test_pol_type_and_default_sel_type():
    assert quiet_normalize(minimal("polar", pol_type=[0, 2]))["model"]["fitting_net"]["sel_type"] \
        == [0, 2]
    assert quiet_normalize(minimal("polar"))["model"]["fitting_net"]["sel_type"] == [0, 1, 2]


def test_atom_exclude_types_complement_and_ener_move():
    raw = minimal("polar")
    raw["model"]["atom_exclude_types"] = [1]
    cfg = quiet_normalize(raw)
    assert cfg["model"]["fitting_net"]["sel_type"] == [0, 2]
    assert "atom_exclude_types" not in cfg["model"]
    raw = minimal("ener")
    raw["model"]["atom_exclude_types"] = [2]
    cfg = quiet_normalize(raw)
    assert cfg["model"]["fitting_net"]["atom_exclude_types"] == [2]
    assert "atom_exclude_types" not in cfg["model"]


def test_atom_exclude_types_inconsistent_with_sel_type_is_an_error():
    raw = minimal("dipole", sel_type=[0, 1])
    raw["model"]["atom_exclude_types"] = [1]
    with pytest.raises(InputError) as e:
        normalize(raw)
    assert e.value.messages == ["model.atom_exclude_types: [1] means sel_type [0, 2], but "
                                "model.fitting_net.sel_type is [0, 1]; give only one of them"]


def test_stop_lr_and_ratio_together_is_an_error():
    raw = minimal()
    raw["learning_rate"] = {"stop_lr": 1e-6, "stop_lr_ratio": 1e-3}
    with pytest.raises(InputError, match=r"learning_rate.stop_lr_ratio: give either stop_lr"):
        normalize(raw)


def test_comments_are_dropped_at_every_level():
    raw = minimal()
    raw["_c"] = 1
    raw["model"]["descriptor"]["_note"] = "x"
    raw["training"]["training_data"]["_x"] = None
    cfg = quiet_normalize(raw)
    assert "_c" not in cfg and "_note" not in cfg["model"]["descriptor"]
    assert "_x" not in cfg["training"]["training_data"]


def test_unused_deepmd_keys_are_dropped_with_one_warning():
    raw = minimal()
    raw["training"].update(tensorboard=True, numb_test=3, opt_type="Adam")
    raw["loss"] = {"start_pref_pf": 0, "relative_f": None}
    raw["learning_rate"] = {"scale_by_worker": "linear"}
    with pytest.warns(InputWarning) as record:
        cfg = normalize(raw)
    assert len(record) == 1
    text = str(record[0].message)
    for path in ("training.tensorboard", "training.numb_test", "training.opt_type",
                 "loss.start_pref_pf", "loss.relative_f", "learning_rate.scale_by_worker"):
        assert path in text
    assert "tensorboard" not in cfg["training"] and "start_pref_pf" not in cfg["loss"]


def test_unused_deepmd_key_that_changes_the_result_is_an_error():
    raw = minimal()
    raw["loss"] = {"start_pref_pf": 1.0}
    raw["model"]["pair_exclude_types"] = [[0, 1]]
    with pytest.raises(InputError) as e:
        normalize(raw)
    assert sorted(e.value.messages) == [
        "loss.start_pref_pf: 1.0 is not supported by dptensor (only 0 is); remove the key",
        "model.pair_exclude_types: [[0, 1]] is not supported by dptensor (only [] is); remove the key",
    ]


def test_unknown_key_suggests_the_closest_name():
    raw = minimal()
    raw["model"]["descriptor"]["rcutt"] = 5.0
    raw["training"]["numb_step"] = 5
    with pytest.raises(InputError) as e:
        normalize(raw)
    assert sorted(e.value.messages) == [
        "model.descriptor.rcutt: unknown key; did you mean 'rcut'?",
        "training.numb_step: unknown key; did you mean 'numb_steps'?",
    ]


def test_key_of_another_variant_names_its_type():
    raw = minimal("ener", fit_diag=False)
    with pytest.raises(InputError, match=r"model.fitting_net.fit_diag: is a key of type 'polar' "
                                         r"or 'tensor', not of type 'ener'"):
        normalize(raw)


def test_alias_and_name_together_is_an_error():
    raw = minimal("ener", neuron=[1], n_neuron=[2])
    with pytest.raises(InputError, match=r"model.fitting_net.n_neuron: 'n_neuron' and 'neuron' "
                                         r"are two names of the key 'neuron'"):
        normalize(raw)


def test_non_object_input_is_an_error():
    with pytest.raises(InputError, match=r"\(root\): the input must be a JSON object"):
        normalize([1, 2])


def test_whole_floats_become_ints_where_ints_are_expected():
    raw = minimal()
    raw["model"]["descriptor"].update(sel=[4.0, 8.0, 2.0], neuron=[8.0, 16.0], rcut=5.0)
    raw["training"]["numb_steps"] = 100.0
    cfg = quiet_normalize(raw)
    assert cfg["training"]["numb_steps"] == 100 and type(cfg["training"]["numb_steps"]) is int
    assert [type(x) for x in cfg["model"]["descriptor"]["neuron"]] == [int, int]
    assert [type(x) for x in cfg["model"]["descriptor"]["sel"]] == [int, int, int]
    assert type(cfg["model"]["descriptor"]["rcut"]) is float


def test_model_atom_exclude_types_out_of_range_or_conflicting():
    raw = minimal("ener", atom_exclude_types=[0])
    raw["model"]["atom_exclude_types"] = [1]
    with pytest.raises(InputError, match=r"model.atom_exclude_types: \[1\] means atom_exclude_types "
                                         r"\[1\], but model.fitting_net.atom_exclude_types is \[0\]"):
        normalize(raw)
    raw["model"]["atom_exclude_types"] = [3]
    with pytest.raises(InputError, match=r"model.atom_exclude_types: type index 3 is out of range "
                                         r"for type_map of 3 types"):
        normalize(raw)


# DeePMD-kit's written-out input (out.json: every key at its value or default) -----------------
DEEPMD_OUT = Path(__file__).parents[1] / "fixtures" / "deepmd-out"


@pytest.mark.parametrize("name", ["se_e2_a_out.json", "dipole_out.json", "polar_out.json"])
def test_deepmd_out_json_is_accepted(name):
    """``dp train`` writes out.json with every key DeePMD-kit 3.2 knows; a user who trains from it
    gets the same model, and one warning naming the keys dptensor leaves out."""
    raw = json.loads((DEEPMD_OUT / name).read_text())
    with pytest.warns(InputWarning, match="training.enable_ema") as caught:
        cfg = normalize(raw)
    validate(cfg)
    assert len(caught) == 1
    assert cfg["model"]["descriptor"]["sel"] == raw["model"]["descriptor"]["sel"]
    assert cfg["learning_rate"]["stop_lr"] == raw["learning_rate"]["stop_lr"]
    if raw["model"]["fitting_net"]["type"] != "ener":
        assert cfg["model"]["fitting_net"]["sel_type"] == raw["model"]["fitting_net"]["sel_type"]


@pytest.mark.parametrize("path, value", [(("training", "enable_ema"), True),
                                         (("optimizer", "adam_beta2"), 0.99),
                                         (("learning_rate", "warmup_steps"), 100),
                                         (("loss", "f_use_norm"), True)])
def test_deepmd_keys_that_change_the_result_are_errors(path, value):
    raw = json.loads((DEEPMD_OUT / "se_e2_a_out.json").read_text())
    raw[path[0]][path[1]] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        with pytest.raises(InputError, match=f"{path[0]}.{path[1]}: .* is not supported by dptensor"):
            validate(normalize(raw))
