"""Fitting nets: energy, dipole, polarizability and general tensors. One registry maps a type
name to a class."""

from dptensor.model.fitting.dipole import DipoleFitting
from dptensor.model.fitting.ener import EnerFitting
from dptensor.model.fitting.polar import PolarFitting
from dptensor.model.fitting.tensor import TensorFitting

FITTINGS = {"ener": EnerFitting, "dipole": DipoleFitting, "polar": PolarFitting,
            "tensor": TensorFitting}

__all__ = ["FITTINGS", "DipoleFitting", "EnerFitting", "PolarFitting", "TensorFitting"]
