"""TrainingLoop with a fake session and fake data: rows, checkpoints, validation, restart, priming.

The fake session answers each term with ``err * WEIGHT[term] / (1 + updates)`` (``decay=True``)
or ``err * WEIGHT[term]``, where ``err`` is carried by the batch, so every number in lcurve.out
can be predicted; a term whose label the batch lacks is absent, as with the real losses.
"""

import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

from dptensor.data import keys
from dptensor.model.output_def import DIPOLE
from dptensor.train.checkpoint import CheckpointManager
from dptensor.train.lcurve import LCurve
from dptensor.train.loop import TrainingLoop
from dptensor.train.loss import EnerLoss, TensorLoss
from dptensor.train.lr import ExpDecayLR

NAT, NFRAMES = 3, 4
ATYPE = np.array([0, 1, 0])
TERM_LABEL = {"e": keys.ENERGY, "f": keys.FORCE, "v": keys.VIRIAL,
              "lc": keys.ATOMIC_DIPOLE, "gl": keys.DIPOLE}
WEIGHT = {"e": 1.0, "f": 2.0, "v": 3.0, "lc": 5.0, "gl": 7.0}
LABEL_SHAPE = {keys.ENERGY: (), keys.FORCE: (NAT, 3), keys.VIRIAL: (9,), keys.ATOMIC_DIPOLE: (NAT, 3),
               keys.DIPOLE: (3,)}


class FakeSystem:
    def __init__(self, labels, err):
        self.labels = {k: np.zeros((NFRAMES,) + LABEL_SHAPE[k]) for k in labels}
        self.err = float(err)


class FakeData:
    """next_batch cycles through ``schedule`` (system indices); records every call."""

    def __init__(self, systems, schedule=(0,)):
        self.systems, self.schedule = systems, list(schedule)
        self.n_next, self.batch_calls, self.n_validation_calls = 0, [], 0

    def batch(self, isys, frames, err=None):
        s = self.systems[isys]
        self.batch_calls.append((isys, list(frames)))
        nf = len(frames)
        out = {keys.ATYPE: np.tile(ATYPE, (nf, 1)), keys.NLIST: np.zeros((nf, NAT, 2), np.int64),
               keys.SHIFT: np.zeros((nf, NAT, 2, 3)), "natoms": NAT, "system": f"sys{isys}",
               "err": s.err if err is None else err}
        out.update({k: v[list(frames)] for k, v in s.labels.items()})
        return out

    def min_nbor_dist(self):
        return 0.93 if self.n_next else np.inf  # a distance once frames were used

    def next_batch(self):
        isys = self.schedule[self.n_next % len(self.schedule)]
        self.n_next += 1
        return self.batch(isys, [self.n_next % NFRAMES])

    def batches_for_validation(self, numb_btch):
        """Batch b of a system carries err = system err + b, so averages are checkable."""
        self.n_validation_calls += 1
        out = []
        for isys, s in enumerate(self.systems):
            for b in range(numb_btch):
                out.append(dict(self.batch(isys, [b % NFRAMES], err=s.err + b), valid=True))
        return out


class FakeSession:
    def __init__(self, decay=False):
        self.decay, self.updates = decay, 0
        self.train_lrs, self.n_evaluate = [], 0
        self.valid_updates = []  # updates done when each validation batch was evaluated
        self.saved = []  # (file name, step, updates done)
        self.saved_meta = []  # the meta of each saved model
        self.meta = {}  # the model's meta (e.g. from the checkpoint a run restarts from)
        self.weight = 1.0  # the model's only weight (nan: diverged)

    def _parts(self, batch):
        factor = 1.0 / (1 + self.updates) if self.decay else 1.0
        return {t: batch["err"] * WEIGHT[t] * factor for t, k in TERM_LABEL.items() if k in batch}

    def train_step(self, batch, lr):
        parts = self._parts(batch)  # loss with the current weights, then the update
        self.train_lrs.append(lr)
        self.updates += 1
        return parts

    def evaluate(self, batch, lr):
        self.n_evaluate += 1
        if batch.get("valid"):
            self.valid_updates.append(self.updates)
        return self._parts(batch)

    def reference_model(self):
        return SimpleNamespace(variables={"fitting": {"nets": [{"layers": [{"w": np.full(2, self.weight)}]}]}},
                               meta=dict(self.meta))

    def save_checkpoint(self, path, step, model=None):
        with open(path, "w") as fh:
            fh.write(f"{step} {self.updates}\n")
        self.saved.append((os.path.basename(path), step, self.updates))
        self.saved_meta.append(dict(model.meta))


def ener_loss(v=False):
    cfg = {"start_pref_e": 1.0, "limit_pref_e": 1.0, "start_pref_f": 1.0, "limit_pref_f": 1.0,
           "start_pref_v": 0.0, "limit_pref_v": 1.0 if v else 0.0,
           "start_pref_ae": 0.0, "limit_pref_ae": 0.0, "start_pref_h": 0.0, "limit_pref_h": 0.0}
    return EnerLoss(cfg, start_lr=1e-3)


def make_loop(folder, loss, session, train, valid=None, numb_steps=10, disp_freq=1, save_freq=1000,
              start_step=0, numb_btch=1, append=False):
    lcurve = LCurve(os.path.join(folder, "lcurve.out"), loss.columns, valid is not None, append=append)
    manager = CheckpointManager(str(folder), "model.ckpt", ".fake", max_keep=100)
    lr = ExpDecayLR(1e-3, 1e-6, 2, numb_steps)
    return TrainingLoop(session, loss, lr, train, valid, lcurve, manager, numb_steps, disp_freq, save_freq,
                        numb_btch=numb_btch, start_step=start_step)


def read_lcurve(folder):
    path = os.path.join(folder, "lcurve.out")
    with open(path) as fh:
        text = fh.read()
    assert text.count("#") == 1, "one header line"
    return text.splitlines()[0][2:].split(), np.loadtxt(path, ndmin=2)


def ener_data(err=1.0):
    return FakeData([FakeSystem([keys.ENERGY, keys.FORCE], err)])


def test_rows_checkpoints_and_step_counts(tmp_path):
    session, data = FakeSession(), ener_data()
    loop = make_loop(tmp_path, ener_loss(), session, data, numb_steps=10, disp_freq=3, save_freq=4)
    result = loop.run()
    names, rows = read_lcurve(tmp_path)
    assert names == ["step", "rmse_trn", "rmse_e_trn", "rmse_f_trn", "lr"]
    assert rows[:, 0].tolist() == [0, 3, 6, 9, 10]
    np.testing.assert_allclose(rows[:, -1], [loop.lr(s) for s in (0, 3, 6, 9, 10)], rtol=1e-4)
    assert len(session.train_lrs) == 10 and result["steps"] == 10
    assert session.train_lrs == [loop.lr(s) for s in range(10)]
    assert session.n_evaluate == 2  # prime + the final step (no update at numb_steps)
    assert data.n_next == 11
    assert [step for _, step, _ in session.saved] == [4, 8, 10]
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".fake")) == \
        ["model.ckpt-10.fake", "model.ckpt-4.fake", "model.ckpt-8.fake"]
    assert (tmp_path / "checkpoint").read_text().strip() == "model.ckpt-10.fake"
    np.testing.assert_allclose(rows[:, 2], 1.0, rtol=1e-4)  # sqrt(err * WEIGHT["e"])
    np.testing.assert_allclose(rows[:, 3], math.sqrt(2.0), rtol=1e-4)
    np.testing.assert_allclose(rows[:, 1], math.sqrt(1.0 + 2.0), rtol=1e-4)  # both prefs are 1


def test_disp_and_save_freq_longer_than_the_run(tmp_path):
    session = FakeSession()
    make_loop(tmp_path, ener_loss(), session, ener_data(), numb_steps=5, disp_freq=100, save_freq=100).run()
    assert read_lcurve(tmp_path)[1][:, 0].tolist() == [0, 5]
    assert [s for _, s, _ in session.saved] == [5]
    assert len(session.train_lrs) == 5


def test_training_columns_describe_the_model_before_the_update(tmp_path):
    """Row s: training parts from train_step at s, i.e. computed after s updates."""
    make_loop(tmp_path, ener_loss(), FakeSession(decay=True), ener_data(), numb_steps=4).run()
    rows = read_lcurve(tmp_path)[1]
    steps = rows[:, 0]
    np.testing.assert_allclose(rows[:, 2], np.sqrt(1.0 / (1 + steps)), rtol=1e-3)


def test_restart_appends_rows_from_start_step(tmp_path):
    first = FakeSession()
    make_loop(tmp_path, ener_loss(), first, ener_data(), numb_steps=4, disp_freq=2, save_freq=2).run()
    again = FakeSession()
    loop = make_loop(tmp_path, ener_loss(), again, ener_data(), numb_steps=8, disp_freq=2, save_freq=2,
                     start_step=4, append=True)
    result = loop.run()
    rows = read_lcurve(tmp_path)[1]
    assert rows[:, 0].tolist() == [0, 2, 4, 4, 6, 8]
    np.testing.assert_allclose(rows[3:, -1], [loop.lr(s) for s in (4, 6, 8)], rtol=1e-4)
    assert len(again.train_lrs) == 4 and result["steps"] == 4
    assert again.train_lrs == [loop.lr(s) for s in range(4, 8)]
    assert [s for _, s, _ in first.saved] == [2, 4]
    assert [s for _, s, _ in again.saved] == [6, 8]  # the starting checkpoint is not written again


def tensor_loss():
    return TensorLoss({"pref": 1.0, "pref_atomic": 1.0}, DIPOLE, sel_type=[0])


def global_and_atomic_systems(err_global=1.0, err_atomic=4.0):
    return [FakeSystem([keys.DIPOLE], err_global), FakeSystem([keys.ATOMIC_DIPOLE], err_atomic)]


def test_validation_averages_each_term_over_batches_that_have_it(tmp_path):
    valid = FakeData(global_and_atomic_systems())
    train = FakeData(global_and_atomic_systems(), schedule=(0, 1))
    loop = make_loop(tmp_path, tensor_loss(), FakeSession(), train, valid, numb_steps=4, numb_btch=2)
    parts = loop.validation_parts(1e-3)
    # global batches carry err 1 and 2, atomic ones 4 and 5: averages of 2 batches each, not of 4
    assert parts == pytest.approx({"gl": 1.5 * WEIGHT["gl"], "lc": 4.5 * WEIGHT["lc"]}, rel=1e-14)
    loop.run()
    names, rows = read_lcurve(tmp_path)
    assert names == ["step", "rmse_val", "rmse_trn", "rmse_lc_val", "rmse_lc_trn", "rmse_gl_val",
                     "rmse_gl_trn", "lr"]
    assert not np.isnan(rows).any()
    np.testing.assert_allclose(rows[:, 3], math.sqrt(4.5 * WEIGHT["lc"]), rtol=1e-4)
    np.testing.assert_allclose(rows[:, 5], math.sqrt(1.5 * WEIGHT["gl"]), rtol=1e-4)
    np.testing.assert_allclose(rows[:, 1], math.sqrt(4.5 * WEIGHT["lc"] + 1.5 * WEIGHT["gl"]), rtol=1e-4)
    assert valid.n_validation_calls == 1  # the validation batches are built (and prepared) once


def test_validation_energy_terms_and_a_term_no_batch_has(tmp_path):
    valid = FakeData([FakeSystem([keys.ENERGY, keys.FORCE], 1.0), FakeSystem([keys.ENERGY], 3.0)])
    loop = make_loop(tmp_path, ener_loss(v=True), FakeSession(), ener_data(), valid, numb_steps=2)
    assert loop.validation_parts(1e-3) == pytest.approx({"e": 2.0 * WEIGHT["e"], "f": 1.0 * WEIGHT["f"]})
    loop.run()
    names, rows = read_lcurve(tmp_path)
    col = {n: rows[:, i] for i, n in enumerate(names)}
    assert np.isnan(col["rmse_v_val"]).all() and np.isnan(col["rmse_v_trn"]).all()
    for name in ("rmse_val", "rmse_trn", "rmse_e_val", "rmse_e_trn", "rmse_f_val", "rmse_f_trn"):
        assert np.isfinite(col[name]).all(), name


def test_no_validation_data_gives_no_val_columns(tmp_path):
    loop = make_loop(tmp_path, ener_loss(), FakeSession(), ener_data(), None, numb_steps=1)
    assert loop.validation_parts(1e-3) is None
    loop.run()
    assert "rmse_val" not in read_lcurve(tmp_path)[0]


def test_prime_fills_training_columns_of_every_label_kind(tmp_path):
    systems = global_and_atomic_systems() + [FakeSystem([keys.DIPOLE], 9.0)]
    train = FakeData(systems, schedule=(0,))  # training batches only ever come from the global system
    session = FakeSession()
    loop = make_loop(tmp_path, tensor_loss(), session, train, numb_steps=3)
    loop.prime(1e-3)
    assert set(loop.latest_trn) == {"gl", "lc"}
    assert train.batch_calls == [(0, [0]), (1, [0])]  # one batch per label kind, system 2 repeats kind 0
    assert session.n_evaluate == 2 and session.train_lrs == []
    loop.run()
    names, rows = read_lcurve(tmp_path)
    assert names == ["step", "rmse_trn", "rmse_lc_trn", "rmse_gl_trn", "lr"]
    assert not np.isnan(rows).any()
    np.testing.assert_allclose(rows[:, 2], math.sqrt(4.0 * WEIGHT["lc"]), rtol=1e-4)


def test_tensor_batches_are_prepared_before_the_session_sees_them(tmp_path):
    seen = []

    class Recording(FakeSession):
        def train_step(self, batch, lr):
            seen.append(batch)
            return super().train_step(batch, lr)

    train = FakeData(global_and_atomic_systems(), schedule=(1,))
    make_loop(tmp_path, tensor_loss(), Recording(), train, numb_steps=2).run()
    assert len(seen) == 2
    for batch in seen:
        np.testing.assert_array_equal(batch["centers"], [[0, 2]])
        assert batch[keys.ATOMIC_DIPOLE].shape == (1, 2, 3) and batch["nsel"] == 2


def test_validation_row_describes_the_model_after_s_updates(tmp_path):
    session = FakeSession(decay=True)
    valid = ener_data()
    make_loop(tmp_path, ener_loss(), session, ener_data(), valid, numb_steps=3, disp_freq=1).run()
    assert session.valid_updates == [0, 1, 2, 3]


def test_checkpoint_of_step_s_holds_s_updates(tmp_path):
    session = FakeSession()
    make_loop(tmp_path, ener_loss(), session, ener_data(), numb_steps=6, save_freq=2).run()
    assert [(step, done) for _, step, done in session.saved] == [(2, 2), (4, 4), (6, 6)]


def test_zero_steps_saves_the_starting_model(tmp_path):
    session = FakeSession()
    result = make_loop(tmp_path, ener_loss(), session, ener_data(), numb_steps=0).run()
    assert [(step, done) for _, step, done in session.saved] == [(0, 0)]
    assert result["steps"] == 0 and session.train_lrs == []
    assert read_lcurve(tmp_path)[1][:, 0].tolist() == [0]


class DivergingSession(FakeSession):
    """The loss turns nan at update ``at`` (its weights were already nan when ``weights_first``)."""

    def __init__(self, at, weights_first=False):
        super().__init__()
        self.at, self.weights_first = at, weights_first

    def train_step(self, batch, lr):
        parts = super().train_step(batch, lr)
        if self.updates >= self.at:
            self.weight = float("nan")
            if not self.weights_first:
                return {k: float("nan") for k in parts}
        return parts


@pytest.mark.parametrize("weights_first", [False, True])
def test_training_that_turns_nan_stops_without_saving_nan(tmp_path, weights_first):
    from dptensor.errors import TrainingError

    session = DivergingSession(at=5, weights_first=weights_first)
    loop = make_loop(tmp_path, ener_loss(), session, ener_data(), numb_steps=10, save_freq=2)
    with pytest.raises(TrainingError, match="not finite") as err:
        loop.run()
    assert "model.ckpt-4.fake" in str(err.value)  # the latest good checkpoint is named
    assert [step for _, step, _ in session.saved] == [2, 4]
    assert (tmp_path / "checkpoint").read_text().strip() == "model.ckpt-4.fake"
    assert [f for f in os.listdir(tmp_path) if ".tmp-" in f] == []



@pytest.mark.parametrize("recorded, expected", [(None, 0.93), (1.1, 0.93), (0.5, 0.5)])
def test_checkpoints_record_the_smallest_neighbor_distance_seen(tmp_path, recorded, expected):
    session = FakeSession()
    if recorded is not None:  # the distance a restarted run's checkpoint carries
        session.meta["min_nbor_dist"] = recorded
    make_loop(tmp_path, ener_loss(), session, ener_data(), numb_steps=4, save_freq=2).run()
    assert [m["min_nbor_dist"] for m in session.saved_meta] == [expected, expected]
