"""``dpt test``: metrics against labels, pooled totals, detail files, errors, the command line.

Models are tiny and untrained (saved as .dpt, evaluated through ``DeepModel``); the data systems
are written in tmp_path with the model's own predictions as labels, so an unperturbed label gives
RMSE 0 exactly and a perturbed one gives an RMSE known in closed form.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.errors import DataError, DptError, ModelFileError
from dptensor.testing import format_report, runner, system_paths
from dptensor.testing import (
    test_model as run_test,  # not named test_*: pytest would collect it
)

TYPE_MAP = ["O", "H"]
BOX = 6.0  # Angstrom, cubic: about 3 neighbors per atom within rcut 3, fewer than sel


def _config(kind):
    fitting = {"type": kind, "neuron": [8], "seed": 2}
    if kind != "ener":
        fitting["sel_type"] = [0]  # only O atoms carry atomic tensors
    return {"type_map": TYPE_MAP,
            "descriptor": {"type": "se_e2_a", "sel": [4, 8], "rcut": 3.0, "rcut_smth": 2.0,
                           "neuron": [4, 8], "axis_neuron": 2, "seed": 1},
            "fitting_net": fitting}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """model type -> DeepModel of a tiny .dpt file (evaluated by the installed backend)."""
    pytest.importorskip("dptensor_pt", reason="evaluating a .dpt file needs the PyTorch backend")
    from dptensor.infer import DeepModel
    from dptensor.io import save_dpt
    from dptensor.model import Model

    folder = tmp_path_factory.mktemp("models")
    out = {}
    for kind in ("ener", "dipole", "polar"):
        path = folder / f"{kind}.dpt"
        save_dpt(str(path), Model.from_config(_config(kind)).serialize())
        out[kind] = DeepModel(path)
    return out


def frames(seed, atype, nf):
    rng = np.random.default_rng(seed)
    coord = rng.uniform(0.0, BOX, (nf, len(atype), 3))
    box = np.tile(np.eye(3) * BOX, (nf, 1, 1))
    return coord, box


def write_system(path, atype, coord, box, labels, type_map=None):
    """A DeePMD npy system folder (one set); labels: data file stem -> nf x ... array."""
    set_dir = Path(path) / "set.000"
    set_dir.mkdir(parents=True)
    (Path(path) / "type.raw").write_text(" ".join(str(t) for t in atype) + "\n")
    if type_map is not None:
        (Path(path) / "type_map.raw").write_text("\n".join(type_map) + "\n")
    nf = coord.shape[0]
    np.save(set_dir / "coord.npy", coord.reshape(nf, -1))
    np.save(set_dir / "box.npy", box.reshape(nf, -1))
    for stem, arr in labels.items():
        np.save(set_dir / f"{stem}.npy", np.asarray(arr).reshape(nf, -1))
    return str(path)


def labeled(dm, path, atype, nf, seed, names, shift=None, hessian=False):
    """A system whose labels ``names`` (data stems) are dm's predictions plus ``shift[name]``."""
    coord, box = frames(seed, atype, nf)
    pred = dm.evaluate(coord, box, np.array(atype), atomic=True, hessian=hessian)
    p_key = {keys.ENERGY: keys.P_ENERGY, keys.FORCE: keys.P_FORCE, keys.VIRIAL: keys.P_VIRIAL,
             keys.HESSIAN: keys.P_HESSIAN, keys.ATOM_ENER: keys.P_ATOM_ENERGY,
             keys.DIPOLE: keys.P_DIPOLE, keys.ATOMIC_DIPOLE: keys.P_ATOMIC_DIPOLE,
             keys.POLARIZABILITY: keys.P_POLAR, keys.ATOMIC_POLARIZABILITY: keys.P_ATOMIC_POLAR}
    labels = {n: pred[p_key[n]] + (shift or {}).get(n, 0.0) for n in names}
    return write_system(path, atype, coord, box, labels)


ATYPE5 = [0, 1, 1, 0, 1]
ATYPE6 = [0, 1, 1, 0, 1, 1]


def read_detail(path):
    """Lines of a detail file split into comment lines and numeric rows."""
    lines = Path(path).read_text().splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    rows = np.loadtxt(path, ndmin=2)
    return lines, comments, rows


# energy models ----------------------------------------------------------------------------
def test_exact_labels_give_zero_errors(models, tmp_path):
    dm = models["ener"]
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, 3, 0, [keys.ENERGY, keys.FORCE, keys.VIRIAL])
    res = run_test(dm, [sys1])
    metrics = res["systems"][0]["metrics"]
    assert list(metrics) == ["energy", "energy_per_atom", "force", "virial", "virial_per_atom"]
    for name, m in metrics.items():
        assert m["rmse"] == pytest.approx(0.0, abs=1e-12), name
        assert m["nframes"] == 3
    assert metrics["force"]["count"] == 3 * 5 * 3
    assert metrics["energy"]["unit"] == "eV" and metrics["force"]["unit"] == "eV/A"


def test_perturbed_labels_give_known_errors(models, tmp_path):
    dm = models["ener"]
    nf, nat = 4, 5
    de = np.array([0.1, -0.3, 0.0, 0.2])
    df = np.zeros((nf, nat, 3))
    df[1, 2, 0] = 0.5
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, nf, 1, [keys.ENERGY, keys.FORCE],
                   shift={keys.ENERGY: de, keys.FORCE: df})
    m = run_test(dm, [sys1])["systems"][0]["metrics"]
    assert "virial" not in m  # the data has no virial
    assert m["energy"]["rmse"] == pytest.approx(np.sqrt(np.mean(de**2)), rel=1e-9)
    assert m["energy"]["mae"] == pytest.approx(np.mean(np.abs(de)), rel=1e-9)
    assert m["energy_per_atom"]["rmse"] == pytest.approx(np.sqrt(np.mean(de**2)) / nat, rel=1e-9)
    assert m["force"]["rmse"] == pytest.approx(0.5 / np.sqrt(nf * nat * 3), rel=1e-9)
    assert m["force"]["mae"] == pytest.approx(0.5 / (nf * nat * 3), rel=1e-9)


def test_two_systems_totals_and_appended_detail_files(models, tmp_path):
    dm = models["ener"]
    a, b = 0.2, -0.05
    sys1 = labeled(dm, tmp_path / "data" / "sys1", ATYPE5, 3, 2,
                   [keys.ENERGY, keys.FORCE, keys.VIRIAL],
                   shift={keys.ENERGY: a, keys.VIRIAL: 0.01})
    sys2 = labeled(dm, tmp_path / "data" / "sys2", ATYPE6, 2, 3, [keys.ENERGY, keys.FORCE],
                   shift={keys.ENERGY: b})
    prefix = tmp_path / "out" / "detail"
    prefix.parent.mkdir()
    # left over from an earlier run: must not survive (stale kind) or keep old rows
    Path(f"{prefix}.h.out").write_text("old\n")
    Path(f"{prefix}.e.out").write_text("# old\n1 2\n")

    res = run_test(dm, [sys1, sys2], detail_prefix=str(prefix))

    tot = res["total"]
    assert tot["energy"]["rmse"] == pytest.approx(np.sqrt((3 * a**2 + 2 * b**2) / 5), rel=1e-9)
    assert tot["energy_per_atom"]["rmse"] == pytest.approx(
        np.sqrt((3 * (a / 5) ** 2 + 2 * (b / 6) ** 2) / 5), rel=1e-9)
    assert tot["energy"]["nframes"] == 5 and tot["force"]["count"] == 3 * 15 + 2 * 18
    assert tot["virial"]["nframes"] == 3  # only sys1 has a virial
    assert tot["virial"]["rmse"] == pytest.approx(0.01, rel=1e-9)

    lines, comments, rows = read_detail(f"{prefix}.e.out")
    assert lines[0] == "# data_e pred_e"
    assert comments[1:] == [f"# {sys1}: data_e pred_e", f"# {sys2}: data_e pred_e"]
    assert rows.shape == (5, 2)
    np.testing.assert_allclose(rows[:, 0] - rows[:, 1], [a] * 3 + [b] * 2, atol=1e-8)
    _, comments, rows = read_detail(f"{prefix}.f.out")
    assert comments[0] == "# data_fx data_fy data_fz pred_fx pred_fy pred_fz"
    assert len(comments) == 3 and rows.shape == (3 * 5 + 2 * 6, 6)
    _, comments, rows = read_detail(f"{prefix}.e_peratom.out")
    np.testing.assert_allclose(rows[:, 0] - rows[:, 1], [a / 5] * 3 + [b / 6] * 2, atol=1e-9)
    _, comments, rows = read_detail(f"{prefix}.v.out")
    assert len(comments) == 2 and comments[1].startswith(f"# {sys1}:") and rows.shape == (3, 18)
    assert os.path.isfile(f"{prefix}.v_peratom.out")
    assert not os.path.exists(f"{prefix}.h.out")
    assert not [f for f in os.listdir(prefix.parent) if ".tmp-" in f]  # no temporary files left


def test_hessian_metric_and_detail_rows(models, tmp_path):
    dm = models["ener"]
    atype, nf = [0, 1, 1], 2
    sys1 = labeled(dm, tmp_path / "mol", atype, nf, 4, [keys.ENERGY, keys.HESSIAN],
                   shift={keys.HESSIAN: 1e-3}, hessian=True)
    res = run_test(dm, [sys1], detail_prefix=str(tmp_path / "d"))
    m = res["systems"][0]["metrics"]["hessian"]
    assert m["unit"] == "eV/A^2" and m["count"] == nf * 9 * 9
    assert m["rmse"] == pytest.approx(1e-3, rel=1e-6)
    _, comments, rows = read_detail(tmp_path / "d.h.out")
    assert comments == ["# data_h pred_h", f"# {sys1}: data_h pred_h"]
    assert rows.shape == (nf * (3 * len(atype)) ** 2, 2)
    assert not os.path.exists(tmp_path / "d.v.out")  # no virial in the data


def test_chunks_give_the_same_results(models, tmp_path, monkeypatch):
    dm = models["ener"]
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, 5, 5, [keys.ENERGY, keys.FORCE],
                   shift={keys.ENERGY: np.arange(5) * 0.1})
    whole = run_test(dm, [sys1], detail_prefix=str(tmp_path / "a"))
    monkeypatch.setattr(runner, "CHUNK_VALUES", 2 * 9 * 5)  # two frames per evaluate() call
    assert len(runner.frame_chunks(5, 5, False)) == 3
    parts = run_test(dm, [sys1], detail_prefix=str(tmp_path / "b"))
    for name, m in whole["total"].items():
        assert parts["total"][name]["rmse"] == pytest.approx(m["rmse"], rel=1e-12, abs=1e-15)
    assert (tmp_path / "a.f.out").read_text() == (tmp_path / "b.f.out").read_text()


def test_numb_test_and_system_without_labels(models, tmp_path):
    dm = models["ener"]
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, 4, 6, [keys.ENERGY], shift={keys.ENERGY: 0.1})
    coord, box = frames(7, ATYPE5, 2)
    bare = write_system(tmp_path / "bare", ATYPE5, coord, box, {})
    seen = []
    res = run_test(dm, [sys1, bare], numb_test=2, on_system=seen.append)
    assert [r["path"] for r in seen] == [sys1, bare]
    assert res["systems"][0]["nframes"] == 2 and res["total"]["energy"]["nframes"] == 2
    assert res["systems"][1]["metrics"] == {}
    assert "none of the labels" in res["systems"][1]["warning"]
    text = format_report(res)
    assert f"warning: {bare}: none of the labels the ener model" in text
    assert "1.000000e-01" in text and "eV" in text


# tensor models ----------------------------------------------------------------------------
def test_dipole_global_and_atomic(models, tmp_path):
    dm = models["dipole"]
    nf = 2
    nsel = ATYPE5.count(0)  # sel_type [0]
    glob = labeled(dm, tmp_path / "global", ATYPE5, nf, 8, [keys.DIPOLE],
                   shift={keys.DIPOLE: 0.3})
    # atomic labels stored for the selected atoms only (nf x nsel*3), as DeePMD-kit allows
    coord, box = frames(9, ATYPE5, nf)
    pred = dm.evaluate(coord, box, np.array(ATYPE5), atomic=True)
    sel_rows = pred[keys.P_ATOMIC_DIPOLE][:, np.array(ATYPE5) == 0] + 0.2
    atomic = write_system(tmp_path / "atomic", ATYPE5, coord, box,
                          {keys.ATOMIC_DIPOLE: sel_rows.reshape(nf, -1)})
    prefix = str(tmp_path / "dp")
    res = run_test(dm, [glob, atomic], detail_prefix=prefix, atomic=True)
    m1, m2 = (r["metrics"] for r in res["systems"])
    assert list(m1) == ["dipole"] and m1["dipole"]["rmse"] == pytest.approx(0.3, rel=1e-9)
    assert list(m2) == ["atomic_dipole"] and m2["atomic_dipole"]["count"] == nf * nsel * 3
    assert m2["atomic_dipole"]["rmse"] == pytest.approx(0.2, rel=1e-9)
    assert m1["dipole"]["unit"] == ""
    _, comments, rows = read_detail(prefix + ".dipole.out")
    assert comments[1] == f"# {glob}: data_x data_y data_z pred_x pred_y pred_z"
    assert rows.shape == (nf, 6)
    _, comments, rows = read_detail(prefix + ".atomic_dipole.out")
    assert len(comments) == 2 and rows.shape == (nf * nsel, 6)


def test_atomic_flag_without_atomic_labels(models, tmp_path):
    dm = models["polar"]
    nf = 3
    dpol = np.zeros((nf, 3, 3))
    dpol[0, 1, 2] = 0.6
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, nf, 10, [keys.POLARIZABILITY],
                   shift={keys.POLARIZABILITY: dpol})
    prefix = str(tmp_path / "pp")
    res = run_test(dm, [sys1], detail_prefix=prefix, atomic=True)
    m = res["systems"][0]["metrics"]
    assert list(m) == ["polar"] and m["polar"]["count"] == nf * 9
    assert m["polar"]["rmse"] == pytest.approx(0.6 / np.sqrt(nf * 9), rel=1e-9)
    lines, _, rows = read_detail(prefix + ".polar.out")
    assert lines[0].split()[1:3] == ["data_xx", "data_xy"] and rows.shape == (nf, 18)
    assert not os.path.exists(prefix + ".atomic_polar.out")


# errors and command line ------------------------------------------------------------------
def test_errors_are_dpt_errors(models, tmp_path):
    from dptensor.infer import DeepModel

    with pytest.raises(ModelFileError, match="no such model file"):
        DeepModel(tmp_path / "missing.pth")
    (tmp_path / "empty" / "set.000").mkdir(parents=True)
    with pytest.raises(DataError, match="no DeePMD system"):
        system_paths([str(tmp_path / "empty")])
    with pytest.raises(DptError, match="no system to test"):
        system_paths([])
    coord, box = frames(11, [0, 1], 1)
    carbon = write_system(tmp_path / "carbon", [0, 1], coord, box, {keys.ENERGY: np.zeros(1)},
                          type_map=["C", "H"])
    with pytest.raises(DataError, match=r"\['C'\].*not in the model's type_map"):
        run_test(models["ener"], [carbon])


def test_system_list_and_parent_folder(tmp_path):
    coord, box = frames(12, ATYPE5, 1)
    for name in ("b", "a"):
        write_system(tmp_path / "data" / name, ATYPE5, coord, box, {})
    listing = tmp_path / "list.txt"
    listing.write_text("# systems\ndata/b\n\n  data/a  \n")
    found = system_paths([str(tmp_path / "data")], str(listing))
    assert [Path(p).name for p in found] == ["a", "b", "b", "a"]  # -s folder sorted, then the list


def test_command_line(models, tmp_path):
    main = Path(__file__).resolve().parents[2] / "dptensor" / "cli" / "main.py"
    if not main.exists():
        pytest.skip("dptensor/cli/main.py is not written yet")
    dm = models["ener"]
    labeled(dm, tmp_path / "data" / "sys1", ATYPE5, 2, 13, [keys.ENERGY, keys.FORCE],
            shift={keys.ENERGY: 0.25})
    labeled(dm, tmp_path / "data" / "sys2", ATYPE6, 1, 14, [keys.ENERGY])
    cmd = [sys.executable, "-m", "dptensor.cli.main", "test", "-m", dm.path, "-s", "data",
           "-d", "out", "-a"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "System data/sys1" in out.stdout and "Total over 2 systems" in out.stdout
    total = out.stdout.split("Total over")[1]
    assert f"{math.sqrt(2 * 0.25**2 / 3):.6e}" in total  # pooled energy RMSE over 3 frames
    assert len(read_detail(tmp_path / "out.e.out")[1]) == 3
    bad = subprocess.run(cmd[:5] + [str(tmp_path / "nope.dpt"), "-s", "data"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         check=False)
    assert bad.returncode != 0 and "no such model file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_atom_energy_detail_only_with_atomic_flag(models, tmp_path):
    dm = models["ener"]
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, 2, 15, [keys.ENERGY, keys.ATOM_ENER],
                   shift={keys.ATOM_ENER: 0.05})
    res = run_test(dm, [sys1], detail_prefix=str(tmp_path / "x"))
    assert res["total"]["atom_energy"]["rmse"] == pytest.approx(0.05, rel=1e-9)
    assert not os.path.exists(tmp_path / "x.ae.out")
    run_test(dm, [sys1], detail_prefix=str(tmp_path / "x"), atomic=True)
    assert read_detail(tmp_path / "x.ae.out")[2].shape == (2 * 5, 2)


def test_dpdata_format_is_passed_on(models, tmp_path):
    pytest.importorskip("dpdata")
    dm = models["ener"]
    sys1 = labeled(dm, tmp_path / "sys1", ATYPE5, 2, 16, [keys.ENERGY, keys.FORCE],
                   shift={keys.ENERGY: 0.4})
    (tmp_path / "sys1" / "type_map.raw").write_text("O\nH\n")
    paths = system_paths([sys1], fmt="deepmd/npy")
    res = run_test(dm, paths, fmt="deepmd/npy")
    assert res["total"]["energy"]["rmse"] == pytest.approx(0.4, rel=1e-6)
