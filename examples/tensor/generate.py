"""Born effective charges of bent XYZ molecules in a point-charge-plus-induced-dipole model, as
DeePMD data.

Physical model (units: e, Angstrom), within each molecule. Atom i of type t carries a fixed
charge q_t and an induced dipole p_i = alpha_i E_i, with

    E_i     = sum_{k != i} q_k (r_i - r_k) / r_ik^3              (field of the other charges)
    alpha_i = a_t (1 + BETA n_i),  n_i = sum_{k != i} exp(-(r_ik / R0)^2)   (bond-dependent)

The dipole of a molecule is M = sum_i q_i r_i + sum_i p_i and the Born effective charges (atomic
polar tensors) are its derivatives, Z*_i[a, b] = dM_a / dr_i[b] (3 x 3, not symmetric):

    Z*_i = q_i I + sum_j (alpha_j dE_j/dr_i + E_j (d alpha_j/dr_i)^T)

The last term, an outer product of two different vectors, gives Z* an antisymmetric part. A
neutral molecule obeys the acoustic sum rule sum_i Z*_i = 0 (M does not change under a uniform
translation), which is the per-frame label ``bec.npy``.

Each frame holds MOLECULES molecules of random shape and orientation, SPACING apart, so that a
model with rcut < SPACING - 2 * BOND_MAX sees exactly one molecule around each atom, and the
Born charges are an exact function of what it sees.

Run ``python generate.py [output folder]`` (default: ``data`` beside this file) to write the
``train/`` and ``valid/`` systems (``coord.npy``, ``atomic_bec.npy``, ``bec.npy``, ``nopbc``); the
output is the same on every run (fixed seed).
"""

import os
import sys

import numpy as np

TYPE_MAP = ["X", "Y", "Z"]  # a bent molecule Y-X-Z: X in the middle
CHARGE = np.array([-0.7, 0.45, 0.25])  # q_t, e (a neutral molecule)
ALPHA = np.array([0.6, 0.15, 0.3])  # a_t, Angstrom^3
BETA = 0.8  # bond dependence of the polarizability
R0 = 1.2  # Angstrom, range of the bond weight in n_i
BONDS = ((0.9, 1.2), (1.1, 1.4))  # Angstrom, X-Y and X-Z bond lengths are uniform in these
ANGLE = (95.0, 135.0)  # degrees, Y-X-Z angle uniform in this range
BOND_MAX = BONDS[1][1]
MOLECULE_TYPES = np.array([0, 1, 2])  # X, Y, Z
MOLECULES = 4  # per frame, at the corners of a tetrahedron
SPACING = 8.0  # Angstrom, between the X atoms of two molecules
SPLITS = {"train": 40, "valid": 10}  # frames per system
SEED = 2024


def pair_geometry(coord):
    """d[i, k] = r_i - r_k (n x n x 3), r[i, k] = |d| with r[i, i] = inf."""
    d = coord[:, None, :] - coord[None, :, :]
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    return d, r


def fields(coord, atype):
    """E_i (n x 3), alpha_i (n) and the pair terms of one molecule."""
    d, r = pair_geometry(coord)
    q = CHARGE[atype]
    field = np.einsum("ik,k,ikc->ic", r**-3.0, q, d)
    w = np.exp(-(r / R0) ** 2)  # zero on the diagonal (r = inf)
    alpha = ALPHA[atype] * (1.0 + BETA * w.sum(axis=1))
    return field, alpha, (d, r, q, w)


def dipole(coord, atype):
    """M = sum_i q_i r_i + sum_i alpha_i E_i (3,) of one molecule."""
    field, alpha, _ = fields(coord, atype)
    return CHARGE[atype] @ coord + alpha @ field


def born_charges(coord, atype):
    """Z*_i = dM/dr_i of one molecule, n x 3 x 3 ([i, a, b] = dM_a / dr_i[b]), analytically."""
    field, alpha, (d, r, q, w) = fields(coord, atype)
    n = len(atype)
    diag = np.arange(n)
    # Jacobian of the unit-charge field g(x) = x / |x|^3: J = (I - 3 x x^T / r^2) / r^3
    jac = (np.eye(3) - 3.0 * d[..., :, None] * d[..., None, :] / (r**2)[..., None, None]) \
        / (r**3)[..., None, None]  # n x n x 3 x 3, zero on the diagonal
    de = -q[None, :, None, None] * jac  # [j, i] = dE_j / dr_i for i != j
    de[diag, diag] = np.einsum("k,jkab->jab", q, jac)
    # d w(r_ji) / d r_j = -2 w d_ji / R0^2; alpha_j moves with r_j and against r_i
    dw = (-2.0 * w / R0**2)[..., None] * d
    scale = (ALPHA[atype] * BETA)[:, None, None]
    dalpha = -scale * dw  # [j, i] = d alpha_j / d r_i for i != j
    dalpha[diag, diag] = scale[:, 0] * dw.sum(axis=1)
    induced = np.einsum("j,jiab->iab", alpha, de) + np.einsum("ja,jib->iab", field, dalpha)
    return q[:, None, None] * np.eye(3) + induced


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def random_molecule(rng):
    """X at the origin, Y and Z at random bond lengths and angle, randomly rotated: 3 x 3."""
    b1, b2 = rng.uniform(*BONDS[0]), rng.uniform(*BONDS[1])
    theta = np.radians(rng.uniform(*ANGLE))
    local = np.array([[0.0, 0.0, 0.0], [b1, 0.0, 0.0],
                      [b2 * np.cos(theta), b2 * np.sin(theta), 0.0]])
    return local @ random_rotation(rng).T


def random_frame(rng):
    """MOLECULES molecules at the corners of a tetrahedron of edge SPACING: coord (3m x 3) and
    Born charges (3m x 3 x 3); atoms ordered X Y Z per molecule."""
    corners = SPACING / np.sqrt(8.0) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    coords, becs = [], []
    for corner in corners[:MOLECULES]:
        mol = random_molecule(rng)
        coords.append(mol + corner)
        becs.append(born_charges(mol, MOLECULE_TYPES))
    return np.concatenate(coords), np.concatenate(becs)


def write_system(folder, coords, becs):
    """A DeePMD system folder with one set: coord, atomic_bec, bec (per frame) and nopbc."""
    nf = len(coords)
    os.makedirs(os.path.join(folder, "set.000"), exist_ok=True)
    arrays = {"coord": coords.reshape(nf, -1), "atomic_bec": becs.reshape(nf, -1),
              "bec": becs.sum(axis=1).reshape(nf, 9)}
    for name, value in arrays.items():
        np.save(os.path.join(folder, "set.000", f"{name}.npy"), value)
    atype = np.tile(MOLECULE_TYPES, MOLECULES)
    np.savetxt(os.path.join(folder, "type.raw"), atype, fmt="%d")
    with open(os.path.join(folder, "type_map.raw"), "w") as fh:
        fh.write("\n".join(TYPE_MAP) + "\n")
    open(os.path.join(folder, "nopbc"), "w").close()


def generate(out_dir, splits=None):
    rng = np.random.default_rng(SEED)
    for name, nframes in (splits or SPLITS).items():
        frames = [random_frame(rng) for _ in range(nframes)]
        write_system(os.path.join(out_dir, name), np.stack([f[0] for f in frames]),
                     np.stack([f[1] for f in frames]))


if __name__ == "__main__":
    generate(sys.argv[1] if len(sys.argv) > 1 else
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
