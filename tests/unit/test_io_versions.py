"""dptensor.io.versions: the upgrade chain, with fake upgrades registered only in these tests."""

import numpy as np
import pytest

from dptensor.errors import ModelFileError
from dptensor.io import load_dpt, save_dpt, upgrade
from dptensor.io import versions


@pytest.fixture
def registry(monkeypatch):
    """A private version table (every class at @version 1) and an empty upgrade registry, in
    place of the real ones until the test ends: these tests exercise the mechanism."""
    monkeypatch.setattr(versions, "UPGRADES", {})
    monkeypatch.setattr(versions, "CURRENT_VERSIONS", {k: 1 for k in versions.CURRENT_VERSIONS})
    return versions


def descriptor(version=1, **extra):
    return {"@class": "Descriptor", "@version": version, "type": "se_e2_a", "rcut": 6.0,
            "@variables": {"davg": np.arange(4.0)}, **extra}


def model(desc=None, fittings=None):
    return {"@class": "Model", "@version": 1, "type": "ener", "type_map": ["O", "H"],
            "descriptor": descriptor() if desc is None else desc,
            "fittings": [] if fittings is None else fittings, "@meta": {"steps": 10}}


def test_current_versions_pass_unchanged_without_mutation():
    original = model()
    result = upgrade(original)
    assert result == {**original, "descriptor": result["descriptor"]}
    assert result["descriptor"]["rcut"] == 6.0
    assert result is not original and result["descriptor"] is not original["descriptor"]
    assert result["descriptor"]["@variables"]["davg"] is original["descriptor"]["@variables"]["davg"]


def test_single_step_upgrade_of_nested_components(registry):
    registry.CURRENT_VERSIONS["Descriptor"] = 2

    @registry.register_upgrade("Descriptor", 1)
    def add_protection(d):
        d["env_protection"] = 0.0
        d["@variables"]["davg"] = d["@variables"]["davg"] * 2  # a new array, the input keeps its own
        return d

    original = model(fittings=[{"inner": descriptor()}])
    result = upgrade(original)
    for d in (result["descriptor"], result["fittings"][0]["inner"]):
        assert d["@version"] == 2 and d["env_protection"] == 0.0
        np.testing.assert_array_equal(d["@variables"]["davg"], [0.0, 2.0, 4.0, 6.0])
    assert original["descriptor"]["@version"] == 1
    assert "env_protection" not in original["descriptor"]
    np.testing.assert_array_equal(original["descriptor"]["@variables"]["davg"], np.arange(4.0))


def test_chain_of_steps_in_order_parent_before_child(registry):
    registry.CURRENT_VERSIONS["Widget"] = 3
    registry.CURRENT_VERSIONS["Model"] = 2
    calls = []

    @registry.register_upgrade("Widget", 1)
    def widget_1_to_2(d):
        calls.append(("Widget", 1))
        d["n"] = d.pop("count")
        return d

    @registry.register_upgrade("Widget", 2)
    def widget_2_to_3(d):
        calls.append(("Widget", 2))
        d["n"] = [d["n"]]
        return d

    @registry.register_upgrade("Model", 1)
    def model_1_to_2(d):
        calls.append(("Model", 1, d["widget"]["@version"]))  # sees its child as written
        d["widget"]["label"] = "moved"
        return d

    result = upgrade(model(desc=descriptor()) | {"widget": {"@class": "Widget", "@version": 1, "count": 4}})
    assert calls == [("Model", 1, 1), ("Widget", 1), ("Widget", 2)]
    assert result["@version"] == 2
    assert result["widget"] == {"@class": "Widget", "@version": 3, "label": "moved", "n": [4]}


def test_newer_version_asks_for_newer_dptensor():
    with pytest.raises(ModelFileError, match=r"^descriptor: Descriptor @version 5 was written by a "
                                             r"newer dptensor .*; upgrade dptensor$"):
        upgrade(model(desc=descriptor(version=5)))
    with pytest.raises(ModelFileError, match=r"upgrade dptensor to 2\.0\.0 or later"):
        upgrade(model(desc=descriptor(version=5)), writer_version="2.0.0")


def test_missing_step_and_bad_versions(registry):
    registry.CURRENT_VERSIONS["Descriptor"] = 3
    with pytest.raises(ModelFileError, match=r"Descriptor @version 1 is too old"):
        upgrade(model())
    for bad in (None, "1", 1.0, True):
        with pytest.raises(ModelFileError, match=r"fittings\[0\]: Descriptor has no integer @version"):
            upgrade(model(desc={"@class": "Other"}, fittings=[descriptor(version=bad)]))
    with pytest.raises(ModelFileError, match="@class must be a string"):
        upgrade({"@class": ["Model"], "@version": 1})


def test_unknown_class_passes_through():
    future = {"@class": "Future", "@version": 99, "x": [1]}
    assert upgrade(future) == future


def test_duplicate_registration_is_refused(registry):
    registry.register_upgrade("Fitting", 0)(lambda d: d)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_upgrade("Fitting", 0)(lambda d: d)


def test_load_dpt_applies_upgrades(tmp_path, registry):
    path = tmp_path / "old.dpt"
    save_dpt(path, model())
    registry.CURRENT_VERSIONS["Descriptor"] = 2
    registry.register_upgrade("Descriptor", 1)(lambda d: {**d, "type": "se_a_v2"})
    loaded = load_dpt(path)
    assert loaded["descriptor"]["@version"] == 2 and loaded["descriptor"]["type"] == "se_a_v2"
    np.testing.assert_array_equal(loaded["descriptor"]["@variables"]["davg"], np.arange(4.0))


def test_load_dpt_refuses_newer_component(tmp_path):
    path = tmp_path / "new.dpt"
    newer = versions.CURRENT_VERSIONS["Descriptor"] + 1
    save_dpt(path, model(desc=descriptor(version=newer)))
    with pytest.raises(ModelFileError, match=rf"new\.dpt: descriptor: Descriptor @version {newer} .*"
                                             r"upgrade dptensor to \S+ or later"):
        load_dpt(path)
