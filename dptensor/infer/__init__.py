"""Evaluate any model file: frozen models, checkpoints and ``.dpt`` files, through their backend."""

from dptensor.infer.deep_model import DeepModel

__all__ = ["DeepModel"]
