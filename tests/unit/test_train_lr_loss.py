"""Learning rate, energy and tensor losses, and lcurve.out, on numpy arrays (no framework)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.model.ops import numpy_ops
from dptensor.model.output_def import DIPOLE, POLAR
from dptensor.train.lcurve import LCurve
from dptensor.train.loss import EnerLoss, TensorLoss, make_loss
from dptensor.train.lr import ExpDecayLR

NF, NAT = 2, 5


# ---------------------------------------------------------------- learning rate
@pytest.mark.parametrize("start, stop, decay, steps", [
    (1e-3, 3.51e-8, 5000, 1_000_000),
    (1e-3, 1e-8, 500, 10_000),
    (2e-3, 1e-5, 1, 7),
    (1e-3, 1e-5, 100, 100_000),
])
def test_lr_endpoints(start, stop, decay, steps):
    lr = ExpDecayLR(start, stop, decay, steps)
    assert lr(0) == start
    # decay divides steps here, so the staircase lands exactly on stop_lr
    assert lr(steps) == pytest.approx(stop, rel=1e-12)


def test_lr_staircase_constant_within_window_and_drops_by_rate():
    lr = ExpDecayLR(1e-3, 1e-7, 50, 1000)
    rate = (1e-7 / 1e-3) ** (50 / 1000)
    assert lr.decay_rate == pytest.approx(rate, rel=1e-14)
    for k in range(20):
        window = [lr(s) for s in range(50 * k, 50 * (k + 1))]
        assert len(set(window)) == 1, f"lr changes inside window {k}"
        assert window[0] == pytest.approx(1e-3 * rate**k, rel=1e-12)
    assert lr(49) > lr(50)
    assert lr(50) / lr(49) == pytest.approx(rate, rel=1e-12)


def test_lr_not_divisible_stays_on_the_last_stair():
    """floor(numb_steps / decay_steps) decays only: lr(numb_steps) is one stair above stop_lr at most."""
    lr = ExpDecayLR(1e-3, 1e-6, 300, 1000)
    assert lr(1000) == pytest.approx(1e-3 * lr.decay_rate**3, rel=1e-12)
    assert 1e-6 <= lr(1000) <= 1e-6 / lr.decay_rate


@pytest.mark.parametrize("decay, steps, expected", [
    (5000, 2000, 100),      # 2000 // 10 = 200 > 100
    (1010, 1010, 100),      # 101 > 100
    (1000, 1000, 11),       # 100 is not > 100: 1000 // 100 + 1
    (10**6, 1009, 11),
    (600, 500, 6),
    (50, 50, 1),
    (10, 7, 1),
    (999, 1000, 999),       # shorter than numb_steps: kept
])
def test_lr_decay_steps_rule_of_deepmd_kit_3(decay, steps, expected):
    lr = ExpDecayLR(1e-3, 1e-6, decay, steps)
    assert lr.decay_steps == expected
    assert lr.decay_rate == pytest.approx((1e-6 / 1e-3) ** (expected / steps), rel=1e-14)


def test_lr_from_config():
    lr = ExpDecayLR.from_config({"type": "exp", "start_lr": 1e-3, "stop_lr": 1e-5, "decay_steps": 10}, 100)
    assert (lr.start_lr, lr.stop_lr, lr.decay_steps) == (1e-3, 1e-5, 10)
    assert lr(100) == pytest.approx(1e-5, rel=1e-12)


# ---------------------------------------------------------------- energy loss
def ener_config(**prefs):
    cfg = {"type": "ener"}
    for t in ("e", "f", "v", "ae", "h"):
        cfg[f"start_pref_{t}"], cfg[f"limit_pref_{t}"] = prefs.get(t, (0.0, 0.0))
    return cfg


def ener_arrays(seed):
    rng = np.random.default_rng(seed)
    return {"e": rng.normal(size=NF) * 10, "f": rng.normal(size=(NF, NAT, 3)),
            "v": rng.normal(size=(NF, 3, 3)) * 5, "ae": rng.normal(size=(NF, NAT)),
            "h": rng.normal(size=(NF, 3 * NAT, 3 * NAT))}


PRED_KEY = {"e": keys.P_ENERGY, "f": keys.P_FORCE, "v": keys.P_VIRIAL, "ae": keys.P_ATOM_ENERGY,
            "h": keys.P_HESSIAN}
LABEL_KEY = {"e": keys.ENERGY, "f": keys.FORCE, "v": keys.VIRIAL, "ae": keys.ATOM_ENER, "h": keys.HESSIAN}
ALL_ON = {"e": (0.02, 1.0), "f": (1000.0, 1.0), "v": (0.5, 2.0), "ae": (3.0, 0.1), "h": (4.0, 0.5)}


def ener_pair(terms=tuple(ALL_ON)):
    p, lab = ener_arrays(1), ener_arrays(2)
    pred = {PRED_KEY[t]: p[t] for t in ALL_ON}
    batch = {LABEL_KEY[t]: lab[t] for t in terms}
    batch["natoms"] = NAT
    return pred, batch, p, lab


def expected_mse(p, lab):
    """The module docstring's formulas, written out independently."""
    return {"e": np.mean(((p["e"] - lab["e"]) / NAT) ** 2), "f": np.mean((p["f"] - lab["f"]) ** 2),
            "v": np.mean(((p["v"] - lab["v"]) / NAT) ** 2), "ae": np.mean((p["ae"] - lab["ae"]) ** 2),
            "h": np.mean((p["h"] - lab["h"]) ** 2)}


def test_ener_pref_schedule():
    loss = EnerLoss(ener_config(e=(0.02, 1.0), f=(1000.0, 1.0)), start_lr=1e-3)
    assert loss.pref("e", 1e-3) == pytest.approx(0.02)
    assert loss.pref("f", 1e-3) == pytest.approx(1000.0)
    assert loss.pref("f", 0.0) == pytest.approx(1.0)
    lr = 2.5e-4
    assert loss.pref("f", lr) == pytest.approx(1.0 + 999.0 * 0.25, rel=1e-14)
    assert loss.pref("e", lr) == pytest.approx(1.0 - 0.98 * 0.25, rel=1e-14)


def test_ener_active_terms_and_columns():
    loss = EnerLoss(ener_config(e=(0.02, 1), f=(1000, 1), v=(0.0, 1.0), ae=(0, 0), h=(2.0, 0.0)), 1e-3)
    assert loss.active == ["e", "f", "v", "h"]
    assert loss.columns == ["e", "f", "v", "h"]
    assert loss.needs_hessian
    assert loss.label_keys() == [keys.ENERGY, keys.FORCE, keys.VIRIAL, keys.HESSIAN]
    plain = EnerLoss(ener_config(e=(0.02, 1), f=(1000, 1)), 1e-3)
    assert plain.columns == ["e", "f"] and not plain.needs_hessian
    # e and f columns stay even when off (DeePMD-kit's lcurve always shows them)
    assert EnerLoss(ener_config(e=(1, 1)), 1e-3).columns == ["e", "f"]


def test_ener_compute_matches_docstring():
    loss = EnerLoss(ener_config(**ALL_ON), start_lr=1e-3)
    pred, batch, p, lab = ener_pair()
    lr = 3e-4
    total, parts = loss.compute(numpy_ops, pred, batch, lr)
    want = expected_mse(p, lab)
    assert set(parts) == set(ALL_ON)
    for t in ALL_ON:
        assert parts[t] == pytest.approx(want[t], rel=1e-12), t
    pref = {t: ALL_ON[t][1] + (ALL_ON[t][0] - ALL_ON[t][1]) * lr / 1e-3 for t in ALL_ON}
    # energy and virial enter the loss as mean(diff^2) / N (DeePMD-kit's weighting); parts are per atom
    weight = {t: NAT if t in ("e", "v") else 1 for t in ALL_ON}
    assert total == pytest.approx(sum(pref[t] * want[t] * weight[t] for t in ALL_ON), rel=1e-12)
    assert loss.total_from_parts(parts, lr) == pytest.approx(
        math.sqrt(sum(pref[t] * want[t] for t in ALL_ON)), rel=1e-12)


def test_ener_intensive_weighs_energy_and_virial_by_one_over_n_squared():
    config = {**ener_config(**ALL_ON), "intensive_ener_virial": True}
    pred, batch, p, lab = ener_pair()
    lr = 3e-4
    total, parts = EnerLoss(config, start_lr=1e-3).compute(numpy_ops, pred, batch, lr)
    want = expected_mse(p, lab)  # energy and virial already (diff / N)^2: weight 1 = 1/N^2
    pref = {t: ALL_ON[t][1] + (ALL_ON[t][0] - ALL_ON[t][1]) * lr / 1e-3 for t in ALL_ON}
    assert total == pytest.approx(sum(pref[t] * want[t] for t in ALL_ON), rel=1e-12)
    extensive, _ = EnerLoss(ener_config(**ALL_ON), start_lr=1e-3).compute(numpy_ops, pred, batch, lr)
    assert extensive - total == pytest.approx((NAT - 1) * (pref["e"] * want["e"] + pref["v"] * want["v"]),
                                              rel=1e-12)


def test_ener_energy_shape_nf_by_1_is_accepted():
    loss = EnerLoss(ener_config(e=(1, 1)), 1e-3)
    pred, batch, p, lab = ener_pair(terms=("e",))
    pred[keys.P_ENERGY] = p["e"][:, None]
    _, parts = loss.compute(numpy_ops, pred, batch, 1e-3)
    assert parts["e"] == pytest.approx(expected_mse(p, lab)["e"], rel=1e-12)


def test_ener_missing_and_inactive_terms_add_nothing():
    loss = EnerLoss(ener_config(e=(0.02, 1), f=(1000, 1), v=(1, 1), ae=(0, 0)), 1e-3)
    pred, batch, p, lab = ener_pair(terms=("e", "f", "ae"))  # no virial label; ae label but off
    total, parts = loss.compute(numpy_ops, pred, batch, 1e-3)
    assert set(parts) == {"e", "f"}
    want = expected_mse(p, lab)
    assert total == pytest.approx(0.02 * want["e"] * NAT + 1000 * want["f"], rel=1e-12)
    total, parts = loss.compute(numpy_ops, pred, {"natoms": NAT}, 1e-3)
    assert total is None and parts == {}


def test_ener_total_from_parts():
    loss = EnerLoss(ener_config(e=(2.0, 2.0), f=(10.0, 0.0)), start_lr=1.0)
    assert loss.total_from_parts({"e": 0.25, "f": 0.5}, 0.5) == pytest.approx(math.sqrt(2 * 0.25 + 5 * 0.5))
    assert loss.total_from_parts({"e": 0.25}, 0.5) == pytest.approx(math.sqrt(0.5))
    assert math.isnan(loss.total_from_parts({}, 0.5))
    assert math.isnan(loss.total_from_parts(None, 0.5))


# ---------------------------------------------------------------- tensor loss
ATYPE = np.array([0, 1, 0, 1, 1])
SELECTED = np.array([0, 2])


def tensor_batch(od, seed=0):
    rng = np.random.default_rng(seed)
    shape = od.shape
    return {
        keys.COORD: rng.normal(size=(NF, NAT, 3)),
        keys.ATYPE: np.tile(ATYPE, (NF, 1)),
        keys.NLIST: rng.integers(-1, NAT, size=(NF, NAT, 4)),
        keys.SHIFT: rng.normal(size=(NF, NAT, 4, 3)),
        od.atomic_label: rng.normal(size=(NF, NAT) + shape),
        od.label: rng.normal(size=(NF,) + shape),
        "natoms": NAT,
    }


@pytest.mark.parametrize("od", [DIPOLE, POLAR], ids=["dipole", "polar"])
def test_tensor_prepare_restricts_to_selected_atoms(od):
    loss = TensorLoss({"pref": 1.0, "pref_atomic": 1.0}, od, sel_type=[0])
    raw = tensor_batch(od)
    orig = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in raw.items()}
    batch = loss.prepare(raw)
    for key in (keys.NLIST, keys.SHIFT, keys.ATYPE, od.atomic_label):
        np.testing.assert_array_equal(batch[key], orig[key][:, SELECTED], err_msg=key)
        assert batch[key].flags.c_contiguous
    np.testing.assert_array_equal(batch[keys.COORD], orig[keys.COORD])  # neighbors need every atom
    np.testing.assert_array_equal(batch[od.label], orig[od.label])
    np.testing.assert_array_equal(batch["centers"], np.tile(SELECTED, (NF, 1)))
    assert batch["nsel"] == 2


def test_tensor_prepare_without_selected_atoms():
    loss = TensorLoss({"pref": 1.0, "pref_atomic": 1.0}, DIPOLE, sel_type=[7])
    batch = loss.prepare(tensor_batch(DIPOLE))
    assert batch["centers"].shape == (NF, 0)
    assert batch[keys.NLIST].shape == (NF, 0, 4)
    assert batch["nsel"] == 1  # no division by zero in the global term


@pytest.mark.parametrize("od", [DIPOLE, POLAR], ids=["dipole", "polar"])
def test_tensor_compute_matches_docstring(od):
    loss = TensorLoss({"pref": 0.7, "pref_atomic": 3.0}, od, sel_type=[0])
    batch = loss.prepare(tensor_batch(od, seed=1))
    rng = np.random.default_rng(5)
    pred = {od.atomic_name: rng.normal(size=(NF, 2) + od.shape), od.name: rng.normal(size=(NF,) + od.shape)}
    total, parts = loss.compute(numpy_ops, pred, batch, lr=1e-3)
    lc = np.mean((pred[od.atomic_name] - batch[od.atomic_label]) ** 2)
    gl = np.mean(((pred[od.name] - batch[od.label]) / 2.0) ** 2)
    assert parts["lc"] == pytest.approx(lc, rel=1e-12)
    assert parts["gl"] == pytest.approx(gl, rel=1e-12)
    assert total == pytest.approx(3.0 * lc + 0.7 * gl, rel=1e-12)
    assert loss.total_from_parts(parts, 1e-3) == pytest.approx(math.sqrt(total), rel=1e-12)
    assert loss.pref("lc", 0.0) == 3.0 and loss.pref("gl", 123.0) == 0.7  # constant in lr


def test_tensor_pref_zero_switches_a_term_off():
    od = DIPOLE
    pred = {od.atomic_name: np.ones((NF, 2, 3)), od.name: np.ones((NF, 3))}
    only_global = TensorLoss({"pref": 1.0, "pref_atomic": 0.0}, od, [0])
    assert only_global.label_keys() == [keys.DIPOLE]
    _, parts = only_global.compute(numpy_ops, pred, only_global.prepare(tensor_batch(od)), 1e-3)
    assert set(parts) == {"gl"}
    only_atomic = TensorLoss({"pref": 0.0, "pref_atomic": 1.0}, od, [0])
    assert only_atomic.label_keys() == [keys.ATOMIC_DIPOLE]
    _, parts = only_atomic.compute(numpy_ops, pred, only_atomic.prepare(tensor_batch(od)), 1e-3)
    assert set(parts) == {"lc"}
    both = TensorLoss({"pref": 1.0, "pref_atomic": 1.0}, POLAR, [0])
    assert both.label_keys() == [keys.ATOMIC_POLARIZABILITY, keys.POLARIZABILITY]
    assert both.columns == ["lc", "gl"] and not both.needs_hessian


def test_tensor_missing_label_adds_nothing():
    od = DIPOLE
    loss = TensorLoss({"pref": 2.0, "pref_atomic": 1.0}, od, [0])
    batch = tensor_batch(od)
    del batch[od.atomic_label]
    batch = loss.prepare(batch)
    pred = {od.atomic_name: np.zeros((NF, 2, 3)), od.name: np.zeros((NF, 3))}
    total, parts = loss.compute(numpy_ops, pred, batch, 1e-3)
    assert set(parts) == {"gl"}
    assert total == pytest.approx(2.0 * np.mean((batch[od.label] / 2.0) ** 2), rel=1e-12)
    assert math.isnan(loss.total_from_parts({}, 1e-3))


def test_make_loss_dispatches_on_type():
    model = SimpleNamespace(output_def=DIPOLE, sel_type=[0])
    ener = make_loss(ener_config(e=(1, 1)), {"start_lr": 1e-3}, model)
    assert isinstance(ener, EnerLoss) and ener.start_lr == 1e-3
    tensor = make_loss({"type": "dipole", "pref": 1.0, "pref_atomic": 0.0}, {"start_lr": 1e-3}, model)
    assert isinstance(tensor, TensorLoss) and tensor.sel_type == [0]


# ---------------------------------------------------------------- lcurve.out
def read_header(path):
    with open(path) as fh:
        lines = fh.read().splitlines()
    assert lines[0].startswith("# ")
    return lines[0][2:].split(), lines[1:]


@pytest.mark.parametrize("terms, valid, header", [
    (["e", "f"], False, "step rmse_trn rmse_e_trn rmse_f_trn lr"),
    (["e", "f"], True, "step rmse_val rmse_trn rmse_e_val rmse_e_trn rmse_f_val rmse_f_trn lr"),
    (["e", "f", "v", "ae", "h"], True,
     ("step rmse_val rmse_trn rmse_e_val rmse_e_trn rmse_f_val rmse_f_trn rmse_v_val rmse_v_trn "
      "rmse_ae_val rmse_ae_trn rmse_h_val rmse_h_trn lr")),
    (["e", "f", "v"], False, "step rmse_trn rmse_e_trn rmse_f_trn rmse_v_trn lr"),
    (["lc", "gl"], True, "step rmse_val rmse_trn rmse_lc_val rmse_lc_trn rmse_gl_val rmse_gl_trn lr"),
    (["lc", "gl"], False, "step rmse_trn rmse_lc_trn rmse_gl_trn lr"),
])
def test_lcurve_header(tmp_path, terms, valid, header):
    curve = LCurve(tmp_path / "lcurve.out", terms, valid)
    curve.close()
    names, rows = read_header(tmp_path / "lcurve.out")
    assert names == header.split() == curve.names
    assert rows == []


def test_lcurve_columns_follow_the_loss(tmp_path):
    loss = EnerLoss(ener_config(e=(1, 1), f=(1, 1), ae=(0, 1)), 1e-3)
    curve = LCurve(tmp_path / "lc", loss.columns, has_validation=False)
    curve.close()
    assert curve.names == ["step", "rmse_trn", "rmse_e_trn", "rmse_f_trn", "rmse_ae_trn", "lr"]


def test_lcurve_row_values_and_nan(tmp_path):
    path = tmp_path / "lcurve.out"
    curve = LCurve(path, ["e", "f", "v"], has_validation=True)
    shown = curve.row(7, 2.0, {"e": 0.04, "f": 0.25}, 1e-4, total_val=3.0, parts_val={"e": 0.09, "v": 1.0})
    curve.close()
    assert shown["rmse_val"] == 3.0 and shown["rmse_trn"] == 2.0
    assert shown["rmse_e_val"] == pytest.approx(0.3) and shown["rmse_e_trn"] == pytest.approx(0.2)
    assert math.isnan(shown["rmse_f_val"]) and shown["rmse_f_trn"] == pytest.approx(0.5)
    assert shown["rmse_v_val"] == pytest.approx(1.0) and math.isnan(shown["rmse_v_trn"])
    data = np.loadtxt(path, ndmin=2)
    want = [7, 3.0, 2.0, 0.3, 0.2, np.nan, 0.5, 1.0, np.nan, 1e-4]
    np.testing.assert_allclose(data[0], want, rtol=1e-4, equal_nan=True)


def test_lcurve_append_keeps_one_header(tmp_path):
    path = tmp_path / "lcurve.out"
    first = LCurve(path, ["e", "f"], False, append=True)  # append to nothing: a fresh file
    first.row(0, 1.0, {"e": 1.0, "f": 1.0}, 1e-3)
    first.close()
    again = LCurve(path, ["e", "f"], False, append=True)
    again.row(5, 0.5, {"e": 0.25, "f": 0.25}, 1e-4)
    again.close()
    text = path.read_text()
    assert text.count("#") == 1
    np.testing.assert_allclose(np.loadtxt(path)[:, 0], [0, 5])
    LCurve(path, ["e", "f"], False, append=False).close()  # a new run starts over
    assert path.read_text().splitlines()[1:] == []
