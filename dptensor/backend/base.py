"""The interface every backend implements. Frameworks are imported lazily inside the hooks,
so that listing backends or running ``dpt --help`` never imports torch or tensorflow."""

import abc
import importlib.util

from dptensor.errors import BackendUnavailable


class Backend(abc.ABC):
    """A training/inference backend.

    Subclasses set the class attributes and implement the hooks; every hook may import its
    framework. ``suffixes`` are the model-file endings the backend owns (checkpoints and frozen
    models), used to pick a backend from a file name.
    """

    name = ""  # canonical name, e.g. "pt"
    full_name = ""  # e.g. "PyTorch"
    module = ""  # the framework's import name, e.g. "torch"
    extra = ""  # the pip extra that installs the framework
    suffixes = ()  # e.g. (".pt", ".pth")
    frozen_suffix = ""  # default suffix of `dpt freeze` output
    ckpt_suffix = ""  # suffix of training checkpoints

    @classmethod
    def is_available(cls):
        return importlib.util.find_spec(cls.module) is not None

    @classmethod
    def require(cls):
        if not cls.is_available():
            raise BackendUnavailable(
                f"the {cls.full_name} backend needs {cls.module}, which is not installed: "
                f"pip install 'dptensor[{cls.extra}]'"
            )

    # hooks -------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_session(self, model, loss, config, checkpoint=None):
        """A training session (see ``dptensor.train.loop``) for a reference ``Model``;
        ``checkpoint`` (from ``read_checkpoint``) restores the optimizer state."""

    @abc.abstractmethod
    def read_checkpoint(self, path):
        """{"model": Model, "step": int, "config": dict, "optimizer": backend state} of a checkpoint."""

    @abc.abstractmethod
    def freeze(self, model, output, hessian=None):
        """Write a deployable model file for a reference ``Model``."""

    @abc.abstractmethod
    def load_model(self, path):
        """The reference ``Model`` (same weights) of any file this backend owns."""

    @abc.abstractmethod
    def evaluator(self, path):
        """An object with ``evaluate(coord, box, atype, atomic=False, hessian=False) -> dict``
        and the attributes ``type_map``, ``model_type``, ``sel_type``, ``rcut``."""

    @abc.abstractmethod
    def model_evaluator(self, model):
        """Like ``evaluator`` for a reference ``Model`` held in memory."""

    @abc.abstractmethod
    def write_checkpoint(self, model, path):
        """Write a reference ``Model`` as a checkpoint of this backend (no optimizer state)."""
