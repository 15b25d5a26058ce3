"""Fitting nets: energy, dipole and polarizability. One registry maps a type name to a class."""

from dptensor.model.fitting.dipole import DipoleFitting
from dptensor.model.fitting.ener import EnerFitting
from dptensor.model.fitting.polar import PolarFitting

FITTINGS = {"ener": EnerFitting, "dipole": DipoleFitting, "polar": PolarFitting}

__all__ = ["FITTINGS", "DipoleFitting", "EnerFitting", "PolarFitting"]
