"""Names of the arrays that flow between data, model, loss and tests.

One constant per quantity, with its shape. ``nf`` frames, ``nat`` atoms, ``nnei = sum(sel)``.
Data-file labels keep DeePMD-kit's file names; model predictions use the short names that
``dptensor.infer.DeepModel.evaluate`` returns.
"""

# inputs of a frame
COORD = "coord"  # nf x nat x 3, Angstrom
BOX = "box"  # nf x 3 x 3 (rows are cell vectors), absent for non-periodic systems
ATYPE = "atype"  # nf x nat, int, indices into the model's type_map
NLIST = "nlist"  # nf x nat x nnei, int, neighbor index or -1; type blocks in `sel` order
SHIFT = "shift"  # nf x nat x nnei x 3, Cartesian periodic-image shift: r_ij = coord[j] + shift - coord[i]
# nf x nc int: the atoms whose neighbor lists NLIST and SHIFT hold, when not every atom is a center
# (a dipole or polar model evaluates its atoms of sel_type only)
CENTERS = "centers"
# nf x nc x nnei int: per slot, -1 or the position inside its type block of the mirror slot whose
# embedding it shares (same-type pairs, see dptensor.data.mirror)
MIRROR = "mirror"
# tuple of ntypes int: the slots kept of each type block when NLIST, SHIFT and MIRROR were cut to
# the widths the batch uses (dptensor.data.trim); absent when every block has its sel slots
WIDTHS = "widths"

# labels, named after their data files (set.*/<name>.npy)
ENERGY = "energy"  # nf
FORCE = "force"  # nf x nat x 3
VIRIAL = "virial"  # nf x 3 x 3
ATOM_ENER = "atom_ener"  # nf x nat
HESSIAN = "hessian"  # nf x 3nat x 3nat, d2E/dx2, rows/cols ordered atom-major (x0 y0 z0 x1 ...)
DIPOLE = "dipole"  # nf x 3, sum over selected atoms
ATOMIC_DIPOLE = "atomic_dipole"  # nf x nat x 3, rows of non-selected atoms are zero
POLARIZABILITY = "polarizability"  # nf x 3 x 3
ATOMIC_POLARIZABILITY = "atomic_polarizability"  # nf x nat x 3 x 3

LABELS = (ENERGY, FORCE, VIRIAL, ATOM_ENER, HESSIAN, DIPOLE, ATOMIC_DIPOLE, POLARIZABILITY,
          ATOMIC_POLARIZABILITY)

# model predictions (DeepModel.evaluate)
P_ENERGY = "energy"  # nf
P_FORCE = "force"  # nf x nat x 3
P_VIRIAL = "virial"  # nf x 3 x 3
P_ATOM_ENERGY = "atom_energy"  # nf x nat
P_HESSIAN = "hessian"  # nf x 3nat x 3nat
P_DIPOLE = "dipole"  # nf x 3
P_ATOMIC_DIPOLE = "atomic_dipole"  # nf x nat x 3
P_POLAR = "polar"  # nf x 3 x 3
P_ATOMIC_POLAR = "atomic_polar"  # nf x nat x 3 x 3
