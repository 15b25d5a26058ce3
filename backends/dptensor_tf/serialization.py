"""TensorFlow checkpoints (``.tfckpt``) and the reference model as bytes.

A ``.tfckpt`` is one ZIP file: a complete ``.dpt`` model file (``model.json`` + ``arrays/``,
written by ``dptensor.io.save_dpt``, so any dptensor reader takes it as a model) with the
training state added::

    tf_checkpoint.json      {"format", "version", "step", "config", "optimizer": {"step",
                             "slots": [{"path", "m", "v"}]} or null}
    optimizer/m/<i>.npy     Adam's first moment of the trainable variable ``slots[i].path``
    optimizer/v/<i>.npy     its second moment

Optimizer moments are keyed by variable path (``descriptor/embeddings/0/layers/1/w``), not by
position, so a checkpoint stays readable when the set of trainable variables changes.
"""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from dptensor.errors import ModelFileError
from dptensor.io import load_dpt, save_dpt
from dptensor.model import Model
from dptensor.utils.atomic import atomic_path

FORMAT = "dptensor-tf-checkpoint"
VERSION = 1
STATE_JSON = "tf_checkpoint.json"
SLOT_DIR = "optimizer/"


def _json_default(obj):
    """numpy scalars and arrays in a config (rare) become plain JSON values."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_checkpoint(path, model: Model, step=0, config=None, optimizer=None):
    """Write a checkpoint atomically; ``optimizer`` is ``Adam.state()`` or None."""
    slots, arrays = [], []
    if optimizer is not None:
        for i, name in enumerate(optimizer["m"]):
            entry = {"path": name, "m": f"{SLOT_DIR}m/{i}.npy", "v": f"{SLOT_DIR}v/{i}.npy"}
            slots.append(entry)
            arrays += [(entry["m"], optimizer["m"][name]), (entry["v"], optimizer["v"][name])]
    state = {"format": FORMAT, "version": VERSION, "step": int(step), "config": config or {},
             "optimizer": None if optimizer is None else {"step": int(optimizer["step"]), "slots": slots}}
    text = json.dumps(state, indent=1, default=_json_default)
    with atomic_path(path) as tmp:
        save_dpt(tmp, model.serialize())
        with zipfile.ZipFile(tmp, "a", zipfile.ZIP_STORED) as archive:
            archive.writestr(STATE_JSON, text)
            for name, array in arrays:
                archive.writestr(name, _npy_bytes(array))


def read_checkpoint(path):
    """{"model": Model, "step": int, "config": dict, "optimizer": state or None} of a
    ``.tfckpt``; ModelFileError for a missing, foreign or damaged file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such checkpoint file")
    try:
        with zipfile.ZipFile(path) as archive:
            state = json.loads(archive.read(STATE_JSON))
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ModelFileError(f"{path}: not a dptensor TensorFlow checkpoint ({STATE_JSON} "
                                     f"has no \"format\": \"{FORMAT}\")")
            optimizer = _read_optimizer(archive, state.get("optimizer"))
    except (KeyError, zipfile.BadZipFile, ValueError):
        raise ModelFileError(f"{path}: not a dptensor TensorFlow checkpoint (no readable "
                             f"{STATE_JSON})") from None
    model = Model.deserialize(load_dpt(path))
    return {"model": model, "step": int(state.get("step", 0)), "config": state.get("config") or {},
            "optimizer": optimizer}


def _read_optimizer(archive, saved):
    if saved is None:
        return None

    def array(name):
        return np.lib.format.read_array(io.BytesIO(archive.read(name)), allow_pickle=False)

    return {"step": int(saved["step"]),
            "m": {s["path"]: array(s["m"]) for s in saved["slots"]},
            "v": {s["path"]: array(s["v"]) for s in saved["slots"]}}


# the model as bytes (stored inside a SavedModel) -----------------------------------------------
def model_to_bytes(model: Model) -> bytes:
    """The ``.dpt`` file of ``model`` as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "model.dpt")
        save_dpt(target, model.serialize())
        with open(target, "rb") as handle:
            return handle.read()


def model_from_bytes(data: bytes, origin) -> Model:
    """The Model of ``model_to_bytes``' output; ``origin`` names the file in errors."""
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "model.dpt")
        with open(target, "wb") as handle:
            handle.write(data)
        try:
            return Model.deserialize(load_dpt(target))
        except ModelFileError as exc:
            raise ModelFileError(f"{origin}: the stored model is unreadable ({exc})") from None
