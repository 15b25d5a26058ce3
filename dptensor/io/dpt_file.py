"""The neutral model file ``.dpt``: a ZIP archive holding a JSON tree and one ``.npy`` per array.

Layout (described for users in ``doc/model-format.md``)::

    model.json      {"header": {...}, "model": <model dict, each array replaced by a reference>}
    arrays/0.npy    one entry per numpy array, numbered in the order they occur in model.json
    arrays/1.npy
    ...

A reference is ``{"@array": "arrays/0.npy", "dtype": "<f8", "shape": [n_in, n_out]}``. Arrays keep
their dtype and bits exactly; JSON values (numbers, strings, bools, null, lists, dicts) round-trip,
tuples come back as lists.
"""

import datetime
import io
import json
import math
import os
import zipfile

import numpy as np

from dptensor import __version__
from dptensor.errors import ModelFileError
from dptensor.io.versions import FORMAT_VERSION, check_format_version, upgrade
from dptensor.utils.atomic import atomic_path

FORMAT_NAME = "dptensor-model"
MODEL_JSON = "model.json"
ARRAY_DIR = "arrays/"
ARRAY_KEY = "@array"
VARIABLES_KEY = "@variables"

# what reading a damaged archive member can raise
_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError)


def save_dpt(path, model_dict):
    """Write ``model_dict`` (a serialized model) to ``path`` atomically.

    Raises ``TypeError``/``ValueError`` naming the key for a value a model file cannot hold (the
    serializer's bug, found before anything is written) and ``ModelFileError`` if ``path`` cannot
    be written.
    """
    document, arrays = _encode(model_dict)
    text = json.dumps(document, indent=1, allow_nan=False)
    try:
        with atomic_path(path) as tmp:
            # arrays are mostly incompressible floats; storing keeps writing and reading fast
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(MODEL_JSON, text)
                for name, array in arrays:
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    archive.writestr(name, buffer.getvalue())
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot write the model file ({exc.strerror or exc})") from exc


def load_dpt(path):
    """Read a ``.dpt`` file and return the model dict, upgraded to the current versions."""
    with _open_archive(path) as archive:
        document = _read_document(archive, path)
        writer = document["header"].get("dptensor_version")
        try:
            check_format_version(document["header"].get("format_version"), writer)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        model = _decode(document["model"], archive, path, "model")
    try:
        return upgrade(model, writer)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def read_dpt_header(path):
    """Return the header of a ``.dpt`` file (format, format_version, dptensor_version, created)."""
    with _open_archive(path) as archive:
        return _read_document(archive, path)["header"]


def is_dpt_file(path):
    """True if ``path`` is a dptensor model file (of any format_version, readable or not)."""
    try:
        read_dpt_header(path)
    except ModelFileError:
        return False
    return True


# writing -----------------------------------------------------------------------------------
def _encode(model_dict):
    """Return (the JSON document, [(entry name, array), ...]) for ``model_dict``."""
    if not isinstance(model_dict, dict):
        raise TypeError(f"save_dpt needs a dict (a serialized model), got {type(model_dict).__name__}")
    arrays = []
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "dptensor_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return {"header": header, "model": _encode_node(model_dict, "model", arrays, False)}, arrays


def _encode_node(node, path, arrays, in_variables):
    if isinstance(node, np.generic):
        # a numpy scalar: under @variables it is data (keep its dtype as a 0-d array), elsewhere
        # a hyper-parameter (keep its value as a JSON number)
        node = np.asarray(node) if in_variables else node.item()
    if isinstance(node, np.ndarray):
        if node.dtype.hasobject:
            raise TypeError(f"{path}: an array of Python objects (dtype {node.dtype}) cannot be stored")
        name = f"{ARRAY_DIR}{len(arrays)}.npy"
        arrays.append((name, node))
        return {ARRAY_KEY: name, "dtype": node.dtype.str, "shape": list(node.shape)}
    if isinstance(node, dict):
        encoded = {}
        for key, value in node.items():
            if not isinstance(key, str) or key == ARRAY_KEY:
                raise TypeError(f"{path}: key {key!r} cannot be stored (keys are strings, not {ARRAY_KEY!r})")
            inside = in_variables or key == VARIABLES_KEY
            encoded[key] = _encode_node(value, f"{path}.{key}", arrays, inside)
        return encoded
    if isinstance(node, (list, tuple)):
        return [_encode_node(value, f"{path}[{i}]", arrays, in_variables) for i, value in enumerate(node)]
    if isinstance(node, float) and not math.isfinite(node):
        raise ValueError(f"{path}: {node} is not a JSON number; store it in an array under {VARIABLES_KEY}")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise TypeError(f"{path}: a {type(node).__name__} cannot be stored (JSON values and numpy arrays only)")


# reading -----------------------------------------------------------------------------------
def _open_archive(path):
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path}: not a dptensor model file (not a ZIP archive)") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None


def _read_document(archive, path):
    """Return model.json of an open archive, checked to be a dptensor model document."""
    try:
        document = json.loads(archive.read(MODEL_JSON))
    except KeyError:
        raise ModelFileError(f"{path}: not a dptensor model file (no {MODEL_JSON} inside)") from None
    except _READ_ERRORS as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFileError(f"{path}: damaged model file ({MODEL_JSON}: {exc})") from None
    header = document.get("header") if isinstance(document, dict) else None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a dptensor model file ({MODEL_JSON} has no "
                             f"\"format\": \"{FORMAT_NAME}\" header)")
    if not isinstance(document.get("model"), dict):
        raise ModelFileError(f"{path}: damaged model file ({MODEL_JSON} has no \"model\" object)")
    return document


def _decode(node, archive, path, where):
    if isinstance(node, dict):
        if ARRAY_KEY in node:
            return _read_array(node, archive, path, where)
        return {key: _decode(value, archive, path, f"{where}.{key}") for key, value in node.items()}
    if isinstance(node, list):
        return [_decode(value, archive, path, f"{where}[{i}]") for i, value in enumerate(node)]
    return node


def _read_array(ref, archive, path, where):
    name = ref[ARRAY_KEY]
    try:
        # read_array, unlike np.load, accepts only the .npy format (never pickles or .npz)
        array = np.lib.format.read_array(io.BytesIO(archive.read(name)), allow_pickle=False)
    except (KeyError, TypeError):
        raise ModelFileError(f"{path}: damaged model file ({where}: no entry {name!r})") from None
    except _READ_ERRORS as exc:
        raise ModelFileError(f"{path}: damaged model file ({where}: {name}: {exc})") from None
    if array.dtype.str != ref.get("dtype") or list(array.shape) != ref.get("shape"):
        raise ModelFileError(
            f"{path}: damaged model file ({where}: {name} holds {array.dtype.str} {list(array.shape)}, "
            f"model.json says {ref.get('dtype')} {ref.get('shape')})")
    return array
