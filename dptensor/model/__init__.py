"""The reference model, written once against an array namespace (``ops``), in numpy."""

from dptensor.model.model import Model

__all__ = ["Model"]
