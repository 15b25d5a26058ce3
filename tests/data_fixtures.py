"""A tiny DeePMD system on disk for the data tests: 5 atoms (types 0 1 1 0 1), 2 periodic frames."""

import numpy as np

from dptensor.data import keys

ATYPE = np.array([0, 1, 1, 0, 1])  # two type-0 atoms (the selected ones in tensor tests), three type-1
NF = 2


def make_system(root, **arrays):
    """A 5-atom, 2-frame periodic system with the given set.000/<name>.npy arrays."""
    root.mkdir()
    (root / "type.raw").write_text("\n".join(map(str, ATYPE)) + "\n")
    (root / "type_map.raw").write_text("O\nH\n")
    (root / "set.000").mkdir()
    rng = np.random.default_rng(0)
    arrays.setdefault(keys.COORD, rng.random((NF, 15)) * 5.0)
    arrays.setdefault(keys.BOX, np.tile(np.eye(3).ravel() * 5.0, (NF, 1)))
    for name, arr in arrays.items():
        np.save(root / "set.000" / f"{name}.npy", arr)
    return root
