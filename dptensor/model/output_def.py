"""Declared outputs: what a fitting predicts per atom, and what follows from it.

A fitting declares one ``OutputDef``; reductions (global = sum over atoms) and derivatives
(force = -dE/dx, virial, Hessian) are derived from the flags, not from the fitting's type.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputDef:
    name: str  # global prediction key (keys.P_*), e.g. "energy", "dipole", "polar"
    atomic_name: str  # per-atom prediction key, e.g. "atom_energy"
    shape: tuple  # per-atom shape: () scalar, (3,) vector, (3, 3) rank-2 tensor
    reducible: bool = True  # global value = sum of atomic values
    r_differentiable: bool = False  # forces (and Hessian) from -d/dx
    c_differentiable: bool = False  # virial from the cell (strain) derivative
    label: str = ""  # the data label of the global value (set.*/<label>.npy)
    atomic_label: str = ""  # the data label of the atomic value


ENERGY = OutputDef("energy", "atom_energy", (), True, True, True, "energy", "atom_ener")
DIPOLE = OutputDef("dipole", "atomic_dipole", (3,), True, False, False, "dipole", "atomic_dipole")
POLAR = OutputDef("polar", "atomic_polar", (3, 3), True, False, False, "polarizability",
                  "atomic_polarizability")

ATOMIC_PREFIX = "atomic_"  # the atomic quantity of a tensor label "<label>" is "atomic_<label>"


def tensor_output(label, rank):
    """The output of a ``tensor`` fitting: global ``<label>`` (sum over atoms) and atomic
    ``atomic_<label>``, of shape (3,) for rank 1 and (3, 3) for rank 2; the same names serve as
    prediction keys and as data-file stems (``<label>.npy``, ``atomic_<label>.npy``)."""
    atomic = ATOMIC_PREFIX + label
    return OutputDef(label, atomic, (3,) * int(rank), True, False, False, label, atomic)
