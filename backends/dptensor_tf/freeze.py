"""``dpt freeze`` for TensorFlow: a SavedModel directory (``.savedmodel``) that TensorFlow runs
alone (``tf.saved_model.load``, no dptensor import), for any number of frames and atoms. The
exception is a compressed model (``dpt compress``): its tables run on dptensor's ``DptTabEval``
and ``DptTabContract`` ops, so its SavedModel loads only where their library
(``dptensor_tf.native``) is loaded first; ``load_frozen`` does that, and says so when the
library cannot be built.

The directory holds ``FrozenModel``:

    predict(coord nf x nat x 3 float64, atype nf x nat int64, nlist nf x nat x nnei int64 (-1
            empty), shift nf x nat x nnei x 3 float64) -> {keys.P_*: float64}
            (energy models: energy, atom_energy, force, virial; tensor models: the global and
            atomic tensor); also the ``serving_default`` signature
    hessian(same inputs) -> nf x 3nat x 3nat  (d2E/dx dx, atom-major; energy models frozen with
            the Hessian, see ``freeze_model``)
    metadata   string variable: JSON {format, version, type_map, model_type, rcut, sel,
               sel_type, has_hessian, hessian_available, atomic_name, outputs}
    model_dpt  string variable: the ``.dpt`` bytes of the reference model (exact weights)

The Hessian graph is the reference's written-out Hessian (``TFModel.hessian``,
``dptensor.model.hessian``): plain operations, so no autodiff is needed at run time. Its memory
grows as nat^2 per frame (the tangents dX/dx of every atom's descriptor): about 0.4 GB per
100-atom frame of the water model.
"""

import json
import os
import shutil
import tempfile

from dptensor.data import keys
from dptensor.errors import ModelFileError
from dptensor.model import Model
from dptensor.utils.atomic import output_error, temporary_path
from dptensor_tf import native
from dptensor_tf.env import tf
from dptensor_tf.model import TFModel
from dptensor_tf.serialization import model_from_bytes, model_to_bytes

FILE_FORMAT = "dptensor-frozen-tf"
FILE_VERSION = 1
NATIVE_OPS = ("DptTabEval", "DptTabContract")  # ops of dptensor's library that a frozen model may hold


def input_signature(model: Model):
    """coord, atype, nlist, shift with unknown frame and atom counts."""
    nnei = int(sum(model.sel))
    return [tf.TensorSpec([None, None, 3], tf.float64, name=keys.COORD),
            tf.TensorSpec([None, None], tf.int64, name=keys.ATYPE),
            tf.TensorSpec([None, None, nnei], tf.int64, name=keys.NLIST),
            tf.TensorSpec([None, None, nnei, 3], tf.float64, name=keys.SHIFT)]


class FrozenModel(tf.Module):
    """The graph functions of a model, with its weights as (non-trainable) variables. Also used
    in memory by the evaluators, where it gives graph speed without writing a file."""

    def __init__(self, model: Model, hessian=None):
        super().__init__(name="dptensor_model")
        with_graph, self.has_hessian = model.hessian_choice(hessian)
        self.hessian_available = with_graph
        self.net = TFModel(model, trainable=False)
        spec = input_signature(model)
        self.predict = tf.function(self._predict, input_signature=spec, autograph=False)
        if with_graph:
            self.hessian = tf.function(self._hessian, input_signature=spec, autograph=False)

    def _predict(self, coord, atype, nlist, shift):
        return self.net(coord, atype, nlist, shift, derivatives=True)

    def _hessian(self, coord, atype, nlist, shift):
        return self.net.hessian(coord, atype, nlist, shift)


def metadata(model: Model, frozen: FrozenModel):
    od = model.output_def
    outputs = [od.name, od.atomic_name] + ([keys.P_FORCE, keys.P_VIRIAL] if od.r_differentiable else [])
    return {"format": FILE_FORMAT, "version": FILE_VERSION, "type_map": list(model.type_map),
            "model_type": model.model_type, "rcut": float(model.rcut), "sel": list(model.sel),
            "sel_type": list(model.sel_type), "has_hessian": bool(frozen.has_hessian),
            "hessian_available": bool(frozen.hessian_available), "atomic_name": od.atomic_name,
            "outputs": outputs}


def freeze_model(model: Model, output_path, hessian=None) -> None:
    """Write ``model`` as a SavedModel directory at ``output_path``.

    hessian: None (default) includes the Hessian graph for every energy model, ``has_hessian``
    follows ``model.meta["hessian"]`` (trained on Hessians); True also sets ``has_hessian``
    (error for dipole/polar models); False leaves the Hessian out.

    The directory is written beside the target under a temporary name and renamed into place;
    an existing target is moved aside first and removed after the rename."""
    frozen = FrozenModel(model, hessian)
    frozen.metadata = tf.Variable(json.dumps(metadata(model, frozen)), trainable=False, name="metadata")
    frozen.model_dpt = tf.Variable(model_to_bytes(model), trainable=False, name="model_dpt")
    output_path = os.path.abspath(os.fspath(output_path))
    folder, name = os.path.split(output_path)
    tmp = temporary_path(folder, f".{name}.tmp-", "", output_path, directory=True)
    try:
        tf.saved_model.save(frozen, tmp, signatures={"serving_default": frozen.predict})
        try:
            _replace_dir(tmp, output_path)
        except OSError as exc:  # e.g. a file of that name is in the way
            raise output_error(output_path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(src, dst):
    """Rename directory ``src`` onto ``dst`` (a directory or file may exist there)."""
    old = None
    if os.path.lexists(dst):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.old-", dir=os.path.dirname(dst))
        os.rmdir(old)
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)


def is_frozen_path(path):
    """A SavedModel path (by its suffix, or an existing directory), as opposed to a checkpoint."""
    path = os.fspath(path)
    return path.rstrip("/" + os.sep).endswith(".savedmodel") or os.path.isdir(path)


def load_frozen(path):
    """(the loaded SavedModel object, the reference Model with the exact weights)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ModelFileError(f"{path}: no such SavedModel directory")
    loaded = _load_saved_model(path)
    meta_var = getattr(loaded, "metadata", None)
    try:
        info = json.loads(meta_var.numpy()) if meta_var is not None else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{path}: not a dptensor frozen model (no \"format\": \"{FILE_FORMAT}\" "
                             f"metadata)")
    model = model_from_bytes(loaded.model_dpt.numpy(), path)
    return loaded, model


def _uses_native_ops(path):
    """Whether the SavedModel's graph holds an op of dptensor's library (a compressed model)."""
    try:
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            graph = f.read()
    except OSError:
        return False
    return any(name.encode() in graph for name in NATIVE_OPS)


def _load_saved_model(path):
    if _uses_native_ops(path):
        native.load()
    try:
        return tf.saved_model.load(path)
    except (OSError, ValueError, RuntimeError, tf.errors.OpError) as exc:
        if any(name in str(exc) for name in NATIVE_OPS):  # "Op type not registered 'DptTabEval'"
            raise _compressed_model_error(path) from None
        raise ModelFileError(f"{path}: not a TensorFlow SavedModel ({str(exc).splitlines()[0]})") from None


def _compressed_model_error(path):
    return ModelFileError(
        f"{path}: a compressed model (dpt compress) needs dptensor's TensorFlow kernels (DptTabEval, "
        f"DptTabContract), which are not available: {native.why_unavailable()}. The kernels are "
        f"compiled at first use from source/tf_ops/ of a dptensor repository clone (pip install -e .) "
        f"with a C++ compiler ($CXX or g++); or freeze the uncompressed model instead.")


def read_metadata(loaded):
    """The metadata dict of a loaded frozen model."""
    return json.loads(loaded.metadata.numpy())
