"""dptensor.io.dpt_file: exact round trips, the archive layout, and clear errors for bad files."""

import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dptensor
from dptensor.errors import ModelFileError, OutputError
from dptensor.io import is_dpt_file, load_dpt, read_dpt_header, save_dpt
from dptensor.io.versions import CURRENT_VERSIONS

DOC = Path(__file__).resolve().parents[2] / "doc" / "model-format.md"


def make_model():
    """A serialized model in the shape the model components produce, with awkward arrays."""
    rng = np.random.default_rng(0)
    weird = rng.normal(size=(3, 4))
    weird[0, 0] = np.nan
    weird[0, 1] = -0.0
    return {
        "@class": "Model",
        "@version": 1,
        "type": "dipole",
        "type_map": ["O", "H"],
        "descriptor": {
            "@class": "Descriptor",
            "@version": CURRENT_VERSIONS["Descriptor"],  # a round trip leaves the current one as it is
            "type": "se_e2_a",
            "rcut": 6.0,
            "sel": [46, 92],
            "neuron": (25, 50, 100),
            "resnet_dt": False,
            "seed": None,
            "@variables": {
                "davg": rng.normal(size=(2, 138, 4)),
                "dstd": np.ones((2, 138, 4), dtype=np.float32),
                "weird": weird,
                "fortran": np.asfortranarray(rng.normal(size=(5, 3))),
                "empty": np.zeros((0, 7)),
                "count": np.int64(7),
            },
            "embedding": {
                "@class": "Network",
                "@version": 1,
                "type": "embedding",
                "layers": [
                    {"@variables": {"w": rng.normal(size=(1, 25)).astype(np.float32),
                                    "b": rng.normal(size=25).astype(np.float32)}},
                    {"@variables": {"w": rng.normal(size=(25, 50)), "b": np.float64(0.5) * np.ones(50)}},
                ],
            },
        },
        "fitting": {
            "@class": "Fitting",
            "@version": 1,
            "type": "dipole",
            "sel_type": [0],
            "@variables": {"mask": np.array([True, False]), "scalar": np.array(2.5)},
        },
        "@meta": {"steps": 1000, "note": "Å", "lr": np.float64(1e-3), "nested": [[1, 2], {"a": 1}]},
    }


def assert_identical(actual, expected, where="model"):
    """Same keys in the same order, same container and scalar types, arrays equal bit for bit."""
    if isinstance(expected, np.generic) and isinstance(actual, np.ndarray):
        expected = np.asarray(expected)  # numpy scalars under @variables come back as 0-d arrays
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), where
        assert actual.dtype == expected.dtype, where
        assert actual.shape == expected.shape, where
        assert actual.tobytes() == expected.tobytes(), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), where
        for key in expected:
            assert_identical(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{where}[{i}]")
    else:
        if isinstance(expected, np.generic):
            expected = expected.item()
        assert type(actual) is type(expected), where
        assert actual == expected, where


def test_round_trip_is_exact(tmp_path):
    model = make_model()
    path = tmp_path / "model.dpt"
    save_dpt(path, model)
    loaded = load_dpt(path)
    assert_identical(loaded, model)
    assert loaded["descriptor"]["neuron"] == [25, 50, 100]
    assert loaded["descriptor"]["@variables"]["dstd"].dtype == np.float32
    assert loaded["descriptor"]["@variables"]["count"].dtype == np.int64
    assert type(loaded["@meta"]["lr"]) is float
    assert loaded["descriptor"]["@variables"]["davg"].flags.writeable
    assert_identical(load_dpt(str(path)), model)  # str and Path both accepted


def test_save_does_not_modify_input(tmp_path):
    model = make_model()
    davg = model["descriptor"]["@variables"]["davg"]
    save_dpt(tmp_path / "m.dpt", model)
    assert model["descriptor"]["@variables"]["davg"] is davg
    assert model["descriptor"]["neuron"] == (25, 50, 100)


def test_archive_layout(tmp_path):
    path = tmp_path / "model.dpt"
    save_dpt(path, make_model())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("model.json"))
        assert names[0] == "model.json"
        header = document["header"]
        assert header["format"] == "dptensor-model"
        assert header["format_version"] == 1
        assert header["dptensor_version"] == dptensor.__version__
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", header["created"])
        ref = document["model"]["descriptor"]["@variables"]["dstd"]
        assert set(ref) == {"@array", "dtype", "shape"}
        assert ref["dtype"] == "<f4" and ref["shape"] == [2, 138, 4]
        assert ref["@array"] in names
        array = np.load(io.BytesIO(archive.read(ref["@array"])), allow_pickle=False)
        assert array.dtype == np.float32 and array.shape == (2, 138, 4)
        n_arrays = sum(name.endswith(".npy") for name in names)
    assert n_arrays == 12
    assert read_dpt_header(path) == header


def test_doc_reader_example_reads_the_file(tmp_path):
    """The zipfile+json+numpy reader printed in doc/model-format.md works on a real file."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    reader = next(block for block in blocks if "def read_dpt" in block)
    namespace = {}
    exec(compile(reader, str(DOC), "exec"), namespace)
    model = make_model()
    save_dpt(tmp_path / "model.dpt", model)
    header, loaded = namespace["read_dpt"](tmp_path / "model.dpt")
    assert header["format"] == "dptensor-model"
    assert_identical(loaded, model)


@pytest.mark.parametrize("bad, match", [
    ({"w": np.array([object()])}, r"model\.w: an array of Python objects"),
    ({1: "integer key"}, r"key 1 cannot be stored"),
    ({"@array": "x"}, r"key '@array' cannot be stored"),
    ({"a": {"b": float("inf")}}, r"model\.a\.b: inf is not a JSON number"),
    ({"a": [1, {1.5j}]}, r"model\.a\[1\]: a set cannot be stored"),
])
def test_unstorable_values_raise_and_write_nothing(tmp_path, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        save_dpt(tmp_path / "m.dpt", bad)
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.dpt"
    save_dpt(path, {"@class": "Model", "@version": 1, "x": 1})
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(ModelFileError, match=r"m\.dpt: cannot write the model file \(No space left"):
        save_dpt(path, {"@variables": {"w": np.zeros(3)}})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.dpt"]


def test_unwritable_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="no_dir"):
        save_dpt(tmp_path / "no_dir" / "m.dpt", {"x": 1})


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def doc_with(header=None, model=None):
    header = {"format": "dptensor-model", "format_version": 1, "dptensor_version": "9.9.9"} \
        if header is None else header
    return json.dumps({"header": header, "model": {"x": 1} if model is None else model})


def bad_files(tmp_path):
    """(file, expected message fragment) pairs, one per way a file can fail to be a model."""
    text = tmp_path / "input.json"
    text.write_text('{"model": {}}')
    ref = {"@array": "arrays/0.npy", "dtype": "<f8", "shape": [2]}
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return [
        (tmp_path / "missing.dpt", "no such model file"),
        (tmp_path, "cannot read the model file"),
        (text, "not a ZIP archive"),
        (write_zip(tmp_path / "a.zip", {"other.txt": "x"}), "no model.json inside"),
        (write_zip(tmp_path / "b.zip", {"model.json": "{not json"}), "damaged model file"),
        (write_zip(tmp_path / "c.zip", {"model.json": "[1, 2]"}), "not a dptensor model file"),
        (write_zip(tmp_path / "d.zip", {"model.json": doc_with({"format": "other"})}),
         "not a dptensor model file"),
        (write_zip(tmp_path / "e.zip", {"model.json": doc_with(model={"w": ref})}),
         "model.w: no entry 'arrays/0.npy'"),
        (write_zip(tmp_path / "f.zip", {"model.json": doc_with(model={"w": ref}),
                                        "arrays/0.npy": buffer.getvalue()}),
         "model.w: arrays/0.npy holds <f8 [3], model.json says <f8 [2]"),
        (write_zip(tmp_path / "g.zip", {"model.json": doc_with(model={"w": ref}),
                                        "arrays/0.npy": b"garbage"}),
         "damaged model file (model.w: arrays/0.npy:"),
    ]


def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path):
    for path, fragment in bad_files(tmp_path):
        with pytest.raises(ModelFileError) as info:
            load_dpt(path)
        message = str(info.value)
        assert message.startswith(f"{path}: "), message
        assert fragment in message, message
        assert "\n" not in message


def test_is_dpt_file(tmp_path):
    good = tmp_path / "good.dpt"
    save_dpt(good, make_model())
    assert is_dpt_file(good)
    header_only_bad = {"e.zip", "f.zip", "g.zip"}  # valid header, broken arrays: still a model file
    for path, _ in bad_files(tmp_path):
        assert is_dpt_file(path) == (path.name in header_only_bad), path


def test_newer_format_version_asks_for_upgrade(tmp_path):
    header = {"format": "dptensor-model", "format_version": 2, "dptensor_version": "7.0.0"}
    path = write_zip(tmp_path / "new.dpt", {"model.json": doc_with(header)})
    assert is_dpt_file(path)
    with pytest.raises(ModelFileError,
                       match=r"new\.dpt: file format_version 2 was written by a newer dptensor .*"
                             r"upgrade dptensor to 7\.0\.0 or later"):
        load_dpt(path)


@pytest.mark.parametrize("version", [0, "1", None, 1.0, True])
def test_invalid_format_version(tmp_path, version):
    header = {"format": "dptensor-model", "format_version": version}
    path = write_zip(tmp_path / "odd.dpt", {"model.json": doc_with(header)})
    with pytest.raises(ModelFileError, match=r"odd\.dpt: invalid format_version"):
        load_dpt(path)
