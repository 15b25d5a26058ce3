"""The training loop, shared by every backend: batch, loss, step, log, save.

A backend supplies a *session* with
    train_step(batch, lr) -> {term: mse}   (loss on the batch with the current weights, then one update)
    evaluate(batch, lr)   -> {term: mse}   (no update)
    reference_model()                      (the current weights as a reference Model)
    save_checkpoint(path, step, model)     (write a checkpoint of ``model``, the reference_model(),
                                            to ``path``)
Batches are numpy dicts from ``dptensor.data.batch``; the session converts them.

Row ``s`` of lcurve.out describes the model after ``s`` updates: step 0 is the untrained model.
"""

import logging
import time

import numpy as np

from dptensor.errors import TrainingError
from dptensor.model.pytree import flatten
from dptensor.train.progress import Progress, format_duration

log = logging.getLogger("dptensor.train")


class TrainingLoop:
    def __init__(self, session, loss, lr_schedule, train_data, valid_data, lcurve, checkpoints,
                 numb_steps, disp_freq, save_freq, numb_btch=1, start_step=0, resumed_from=None):
        self.session, self.loss, self.lr = session, loss, lr_schedule
        self.train_data, self.valid_data = train_data, valid_data
        self.lcurve, self.checkpoints = lcurve, checkpoints
        self.numb_steps, self.disp_freq, self.save_freq = int(numb_steps), max(int(disp_freq), 1), int(save_freq)
        self.numb_btch = int(numb_btch)
        self.start_step = int(start_step)
        self.latest_trn = {}  # term -> mse of the latest batch that had the label
        self._valid_batches = None
        # (path, step) of the latest checkpoint: this run's, else the one a restart started from
        self.last_saved = None if resumed_from is None else (resumed_from, self.start_step)

    def prime(self, lr):
        """Before the first row: one evaluated batch from a system of each label kind, so that no
        training column starts as nan just because the first batch came from another kind."""
        seen = set()
        for isys, system in enumerate(self.train_data.systems):
            kinds = frozenset(system.labels)
            if kinds in seen:
                continue
            seen.add(kinds)
            batch = self.loss.prepare(self.train_data.batch(isys, [0]))
            self.latest_trn.update(self.session.evaluate(batch, lr))

    def run(self):
        """Iteration ``s`` first saves and validates the model as it is after ``s`` updates, then
        makes update ``s + 1`` (none in the last iteration) on a fresh batch."""
        t0 = time.perf_counter()
        self.prime(self.lr(self.start_step))
        busy, n_window = 0.0, 0  # time in training steps since the last row, and their number
        # a live progress line in a terminal; log lines only elsewhere (see progress.py)
        with Progress(self.start_step, self.numb_steps) as self.progress:
            for step in range(self.start_step, self.numb_steps + 1):
                lr = self.lr(step)
                # the last step is always saved: numb_steps 0 writes the starting model
                if step == self.numb_steps or (step > self.start_step and step % self.save_freq == 0):
                    self.save(step)
                shown = step % self.disp_freq == 0 or step == self.numb_steps
                parts_val = self.validation_parts(lr) if shown else None
                batch = self.next_batch()
                t_step = time.perf_counter()
                if step < self.numb_steps:
                    parts = self.session.train_step(batch, lr)
                    self.check_finite(step, parts)
                    busy, n_window = busy + time.perf_counter() - t_step, n_window + 1
                else:
                    parts = self.session.evaluate(batch, lr)
                self.latest_trn.update(parts)
                if shown:
                    self.display(step, lr, busy / max(n_window, 1), parts_val)
                    busy, n_window = 0.0, 0
                self.progress.update(step, lr)
        total = time.perf_counter() - t0
        steps = max(self.numb_steps - self.start_step, 0)
        log.info("training finished: %d steps in %.1f s (%.4f s/step)", steps, total, total / max(steps, 1))
        self.lcurve.close()
        return {"seconds": total, "steps": steps}

    def next_batch(self):
        return self.loss.prepare(self.train_data.next_batch())

    def validation_parts(self, lr):
        """Mean of each term's mse over numb_btch batches from each validation system that has it."""
        if self.valid_data is None:
            return None
        if self._valid_batches is None:
            self._valid_batches = [self.loss.prepare(b)
                                   for b in self.valid_data.batches_for_validation(self.numb_btch)]
        sums, counts = {}, {}
        for b in self._valid_batches:
            for term, value in self.session.evaluate(b, lr).items():
                sums[term] = sums.get(term, 0.0) + value
                counts[term] = counts.get(term, 0) + 1
        return {t: sums[t] / counts[t] for t in sums}

    def display(self, step, lr, per_step, parts_val):
        total_trn = self.loss.total_from_parts(self.latest_trn, lr)
        total_val = self.loss.total_from_parts(parts_val, lr) if parts_val is not None else None
        values = self.lcurve.row(step, total_trn, self.latest_trn, lr, total_val, parts_val)
        shown = " ".join(f"{k}={v:.3e}" for k, v in values.items() if not np.isnan(v))
        progress = getattr(self, "progress", None)
        eta = f", ETA {format_duration(progress.eta(step))}" if progress is not None else ""
        log.info("step %d: %s lr=%.2e (%.4f s/step%s)", step, shown, lr, per_step, eta)
        if progress is not None:
            progress.set_row(lr, values)

    def check_finite(self, step, parts):
        """TrainingError when a training loss term is nan or inf: the update it makes leaves
        useless weights, so training stops before saving any more."""
        bad = {k: v for k, v in parts.items() if not np.isfinite(v)}
        if bad:
            shown = ", ".join(f"{k}={v}" for k, v in bad.items())
            raise TrainingError(f"step {step}: the training loss is not finite ({shown}); training "
                                f"stopped{self._last_saved()}. A loss that grows to inf or nan "
                                "usually means too large a learning rate (learning_rate.start_lr)")

    def save(self, step):
        model = self.session.reference_model()
        self._record_min_nbor_dist(model)
        bad = [path for path, a in flatten(model.variables).items() if not np.all(np.isfinite(a))]
        if bad:
            raise TrainingError(f"step {step}: the model's weights are not finite ({', '.join(bad[:3])}"
                                f"{' ...' if len(bad) > 3 else ''}); stopped without saving "
                                f"them{self._last_saved()}. Lower the learning rate (learning_rate.start_lr)")
        path = self.checkpoints.save(step, lambda tmp: self.session.save_checkpoint(tmp, step, model))
        self.last_saved = (path, step)
        log.info("saved checkpoint %s", path)

    def _record_min_nbor_dist(self, model):
        """The smallest neighbor distance of the training frames seen (in this run and, after a
        restart, before it), which ``dpt compress`` spans its tables to."""
        seen = min(float(model.meta.get("min_nbor_dist", np.inf)), self.train_data.min_nbor_dist())
        if np.isfinite(seen):
            model.meta["min_nbor_dist"] = seen

    def _last_saved(self):
        if self.last_saved is None:
            return " (no checkpoint was written)"
        return " (the latest checkpoint is {}, of step {})".format(*self.last_saved)
