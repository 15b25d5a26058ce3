"""The ASE calculator: NVE energy conservation, derivatives against finite differences, tensors
that rotate with the molecule, outputs on request, and clear errors.

Models are tiny, untrained and float64 (``ecosystem_helpers``): energy conservation and the
symmetry rules hold for any smooth model, trained or not.
"""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.md.verlet import VelocityVerlet
from ecosystem_helpers import one_torch_thread, save_model  # noqa: F401 (fixture)
from model_fixtures import ORTHO_BOX, random_frame, random_rotation

from dptensor.errors import DataError

pytest.importorskip("dptensor_pt", reason="the calculator tests evaluate through PyTorch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

WATER3 = [0, 1, 1, 0, 1, 1, 0, 1, 1]  # O H H x 3 in type_map ["O", "H"]
TIMESTEP_FS = 0.5
NVE_STEPS = 400  # 200 fs
# bound on max |E_tot(t) - E_tot(0)| (eV, 9 atoms): Verlet at 0.5 fs keeps a consistent model
# near 4e-5 eV here, while forces 5 % off -dE/dx drift by about 3e-3 eV (checked below), and the
# potential energy itself spans about 0.06 eV
DRIFT_BOUND = 5e-4


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calc_models")
    return {kind: save_model(folder, kind) for kind in ("ener", "dipole", "polar")}


@pytest.fixture(scope="module")
def calcs(paths):
    from dptensor.calculator import DPTCalculator

    return {kind: DPTCalculator(path) for kind, path in paths.items()}


def water(periodic, seed=3):
    box = ORTHO_BOX if periodic else None
    coord, atype = random_frame(seed, WATER3, box=box, span=3.0)
    return Atoms(["OH"[t] for t in atype], positions=coord, cell=box, pbc=periodic)


def nve_energies(atoms, calc, steps, seed=0):
    """Total and potential energy at every step of a VelocityVerlet run from 300 K."""
    rng = np.random.default_rng(seed)
    # Maxwell-Boltzmann momenta at 300 K, without the centre-of-mass drift
    masses = atoms.get_masses()[:, None]
    p = rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * units.kB * 300.0)
    atoms.set_momenta(p - masses * p.sum(0) / masses.sum())
    atoms.calc = calc
    total, potential = [], []

    def record():
        total.append(atoms.get_total_energy())
        potential.append(atoms.get_potential_energy())

    dyn = VelocityVerlet(atoms, TIMESTEP_FS * units.fs)
    dyn.attach(record, interval=1)
    dyn.run(steps)
    return np.array(total), np.array(potential)


def test_nve_conserves_energy(calcs):
    """200 fs of NVE in a periodic box of three water-like molecules (atoms see images)."""
    total, potential = nve_energies(water(True), calcs["ener"], NVE_STEPS)
    assert len(total) == NVE_STEPS + 1
    # the potential energy really moves: conservation is not trivial
    assert np.ptp(potential) > 20 * DRIFT_BOUND
    assert np.abs(total - total[0]).max() < DRIFT_BOUND


def test_nve_check_catches_inconsistent_forces(paths):
    """The same check fails when the forces are not -dE/dx (5 % too large; a molecule, where
    100 fs suffice to show it)."""
    from dptensor.calculator import DPTCalculator

    class Skewed(DPTCalculator):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["forces"] = 1.05 * self.results["forces"]

    total, _ = nve_energies(water(False), Skewed(paths["ener"]), NVE_STEPS // 2)
    assert np.abs(total - total[0]).max() > DRIFT_BOUND


def test_forces_and_stress_are_derivatives(calcs):
    atoms = water(True)
    atoms.calc = calcs["ener"]
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert forces.shape == (9, 3) and stress.shape == (6,)
    np.testing.assert_allclose(forces, calculate_numerical_forces(atoms, eps=1e-4), atol=1e-7)
    np.testing.assert_allclose(stress, calculate_numerical_stress(atoms, eps=1e-5), atol=1e-8)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()


def test_molecule_has_no_stress(calcs):
    atoms = water(False)
    atoms.calc = calcs["ener"]
    atoms.get_potential_energy()
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_atoms_are_mapped_by_element_not_by_order(calcs):
    """Listing the atoms in another order permutes the forces and keeps the energy."""
    atoms = water(True)
    atoms.calc = calcs["ener"]
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    order = np.random.default_rng(1).permutation(len(atoms))
    shuffled = atoms[order]
    shuffled.calc = calcs["ener"]
    assert shuffled.get_potential_energy() == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(shuffled.get_forces(), forces[order], atol=1e-10)


def test_hessian_and_atom_energies_on_request(calcs):
    calc = calcs["ener"]
    atoms = water(False)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert "hessian" not in calc.results and "energies" not in calc.results
    hessian = calc.get_hessian(atoms)
    assert hessian.shape == (27, 27)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)
    # row k of the Hessian is -d(force)/dx_k; central differences on the forces
    x0, h = atoms.positions.copy(), 1e-5
    for k in (4, 22):
        shifted = []
        for sign in (1, -1):
            atoms.positions = x0
            atoms.positions[k // 3, k % 3] += sign * h
            shifted.append(calc.get_forces(atoms).ravel())
        np.testing.assert_allclose(hessian[k], -(shifted[0] - shifted[1]) / (2 * h), atol=1e-6)
    atoms.positions = x0
    assert atoms.get_potential_energies().sum() == pytest.approx(energy, abs=1e-10)


def test_calculator_keeps_atomic_outputs_when_asked(paths):
    from dptensor.calculator import DPTCalculator

    calc = DPTCalculator(paths["ener"], atomic=True, hessian=True)
    atoms = water(True)
    atoms.calc = calc
    atoms.get_potential_energy()
    assert calc.results["energies"].shape == (9,) and calc.results["hessian"].shape == (27, 27)


@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "periodic"])
def test_dipole_rotates_with_the_molecule(calcs, periodic):
    calc = calcs["dipole"]
    atoms = water(periodic)
    atoms.calc = calc
    dipole = atoms.get_dipole_moment()
    atomic = calc.get_property("atomic_dipole", atoms)
    assert np.linalg.norm(dipole) > 1e-3
    np.testing.assert_allclose(atomic.sum(0), dipole, atol=1e-10)
    assert np.all(atomic[atoms.numbers == 1] == 0.0)  # H is not in sel_type
    rot = random_rotation(5)
    turned = atoms.copy()
    turned.positions = atoms.positions @ rot.T
    if periodic:
        turned.cell = atoms.cell.array @ rot.T
    turned.calc = calc
    np.testing.assert_allclose(turned.get_dipole_moment(), rot @ dipole, atol=1e-9)


def test_polarizability_rotates_as_a_tensor(calcs):
    calc = calcs["polar"]
    atoms = water(False)
    alpha = calc.get_polarizability(atoms)
    assert alpha.shape == (3, 3) and np.abs(alpha).max() > 1e-3
    rot = random_rotation(8)
    turned = atoms.copy()
    turned.positions = atoms.positions @ rot.T
    np.testing.assert_allclose(calc.get_polarizability(turned), rot @ alpha @ rot.T, atol=1e-9)
    atomic = calc.get_property("atomic_polarizability", atoms)
    np.testing.assert_allclose(atomic.sum(0), alpha, atol=1e-10)


def test_unknown_element_is_a_clear_error(calcs):
    atoms = water(False)
    atoms[0].symbol = "Cl"
    atoms.calc = calcs["ener"]
    with pytest.raises(DataError, match=r"\['Cl'\].*type_map \['O', 'H'\]"):
        atoms.get_potential_energy()


def test_mixed_periodicity_is_a_clear_error(calcs):
    atoms = water(True)
    atoms.pbc = [True, True, False]
    atoms.calc = calcs["ener"]
    with pytest.raises(DataError, match="all\\s+three directions or in none"):
        atoms.get_potential_energy()


def test_properties_follow_the_model_type(calcs):
    assert "dipole" not in calcs["ener"].implemented_properties
    assert "energy" not in calcs["dipole"].implemented_properties
    atoms = water(False)
    atoms.calc = calcs["ener"]
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_dipole_moment()
    with pytest.raises(PropertyNotImplementedError):
        calcs["dipole"].get_hessian(atoms)
