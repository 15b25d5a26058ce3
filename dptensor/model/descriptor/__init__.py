"""Descriptors: the se_e2_a (DeepPot-SE) descriptor."""

from dptensor.model.descriptor.se_e2_a import DescrptSeA

__all__ = ["DescrptSeA"]
