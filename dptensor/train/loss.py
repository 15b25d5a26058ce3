"""Losses, written once against ``ops`` so every backend computes the same numbers.

Energy loss (N atoms, lr(t) the learning rate):

    L = sum_x p_x(t) l_x,    p_x(t) = limit_pref_x + (start_pref_x - limit_pref_x) lr(t) / start_lr
    l_e  = mean_frames (E - E^)^2 / N            l_f  = mean (F - F^)^2 over atoms and components
    l_v  = mean (W - W^)^2 / N over 9 comps      l_ae = mean (E_i - E_i^)^2
    l_h  = mean (H - H^)^2 over the 3N x 3N entries

(the 1/N of the energy and virial terms is DeePMD-kit's, so the same prefactors weigh the terms the
same way; ``intensive_ener_virial: true`` makes it 1/N^2, as in DeePMD-kit). Reported errors are
per atom for energy and virial: rmse_e = sqrt(mean ((E - E^)/N)^2).

Tensor loss (n_s selected atoms, T the global tensor, T_i the atomic ones):

    L = pref l_gl + pref_atomic l_lc,   l_gl = mean f((T - T^)/n_s),
    l_lc = mean over selected atoms and components f(T_i - T_i^)

with f(d) = d^2 (``loss_func: "mse"``) or the Huber function (``"huber"``, delta = huber_delta):
f(d) = d^2/2 for |d| <= delta, delta (|d| - delta/2) beyond. The reported terms stay mean squared
errors whatever f is, so lcurve.out shows RMSEs in both cases.

A term is on when either of its prefactors is non-zero (a ramp from 0 is on); a term whose label
the batch lacks contributes nothing to that batch. Reported RMSEs are sqrt of the per-term mean
squared errors (energy and virial per atom); ``rmse`` is sqrt(sum_x p_x mse_x) of those.
"""

import numpy as np

from dptensor.data import keys

# term -> (prediction key, label key, normalized by atom count)
ENER_TERMS = {
    "e": (keys.P_ENERGY, keys.ENERGY, True),
    "f": (keys.P_FORCE, keys.FORCE, False),
    "v": (keys.P_VIRIAL, keys.VIRIAL, True),
    "ae": (keys.P_ATOM_ENERGY, keys.ATOM_ENER, False),
    "h": (keys.P_HESSIAN, keys.HESSIAN, False),
}


def _mse(ops, diff):
    return ops.sum(diff * diff) / float(np.prod(ops.shape(diff)))


def _huber(ops, diff, delta):
    """mean Huber(d): with a = |d| and q = min(a, delta), 0.5 q^2 + delta (a - q) is d^2/2 up
    to delta and delta (a - delta/2) beyond, continuous with its first derivative."""
    a = ops.abs(diff)
    q = ops.minimum(a, delta)
    return ops.sum(0.5 * q * q + delta * (a - q)) / float(np.prod(ops.shape(diff)))


class EnerLoss:
    kind = "ener"

    def __init__(self, config, start_lr):
        self.start_lr = float(start_lr)
        self.prefs = {t: (float(config[f"start_pref_{t}"]), float(config[f"limit_pref_{t}"]))
                      for t in ENER_TERMS}
        self.active = [t for t, (s, l) in self.prefs.items() if s != 0.0 or l != 0.0]
        self.intensive = bool(config.get("intensive_ener_virial", False))

    @property
    def columns(self):
        """Per-term lcurve columns: e and f always, the others when on."""
        return ["e", "f"] + [t for t in ("v", "ae", "h") if t in self.active]

    @property
    def needs_hessian(self):
        return "h" in self.active

    def label_keys(self):
        return [ENER_TERMS[t][1] for t in self.active]

    def prepare(self, batch):
        return batch

    def pref(self, term, lr):
        start, limit = self.prefs[term]
        return limit + (start - limit) * lr / self.start_lr

    def compute(self, ops, pred, batch, lr):
        """(loss, {term: mse}) for one batch; terms without labels in the batch are absent.
        The mse of energy and virial is per atom; their loss term is N times it (see above),
        or the mse itself with ``intensive_ener_virial``."""
        natoms = float(batch["natoms"])
        loss, parts = None, {}
        for term in self.active:
            pkey, lkey, per_atom = ENER_TERMS[term]
            if lkey not in batch:
                continue
            diff = ops.reshape(pred[pkey], (-1,)) - ops.reshape(batch[lkey], (-1,))
            mse = _mse(ops, diff / natoms if per_atom else diff)
            parts[term] = mse
            contrib = self.pref(term, lr) * (mse * natoms if per_atom and not self.intensive else mse)
            loss = contrib if loss is None else loss + contrib
        return loss, parts

    def total_from_parts(self, parts, lr):
        """sqrt(sum p_x l_x) from mean-squared parts (numpy floats), for validation rows."""
        return float(np.sqrt(sum(self.pref(t, lr) * v for t, v in parts.items()))) if parts else float("nan")


class TensorLoss:
    kind = "tensor"
    columns = ["lc", "gl"]
    needs_hessian = False

    def __init__(self, config, output_def, sel_type):
        self.pref_global = float(config["pref"])
        self.pref_atomic = float(config["pref_atomic"])
        self.loss_func = config.get("loss_func", "mse")
        self.huber_delta = float(config.get("huber_delta", 1.0))
        self.output_def = output_def
        self.sel_type = list(sel_type)

    def label_keys(self):
        out = []
        if self.pref_atomic:
            out.append(self.output_def.atomic_label)
        if self.pref_global:
            out.append(self.output_def.label)
        return out

    def pref(self, term, lr):
        return self.pref_atomic if term == "lc" else self.pref_global

    def prepare(self, batch):
        """Evaluate only the selected atoms (the others contribute exact zeros): restrict
        nlist, shift, atype and atomic labels of a numpy batch to them, and record their
        indices (``centers``, nf x nsel) and count (``nsel``). A batch whose neighbor lists are
        already those of the selected atoms (it has ``centers``) keeps them."""
        nf = batch[keys.ATYPE].shape[0]
        restrict = [keys.ATYPE, self.output_def.atomic_label]
        if keys.CENTERS in batch:
            idx = batch[keys.CENTERS][0]
        else:
            idx = np.nonzero(np.isin(batch[keys.ATYPE][0], self.sel_type))[0]
            restrict += [keys.NLIST, keys.SHIFT]
        for key in restrict:
            if key in batch:
                batch[key] = np.ascontiguousarray(batch[key][:, idx])
        batch[keys.CENTERS] = np.broadcast_to(idx, (nf, idx.size)).copy()
        batch["nsel"] = max(int(idx.size), 1)
        return batch

    def residuals(self, ops, pred, batch):
        """{term: flat residual} of the terms that are on and labelled in the batch: "lc" over
        the selected atoms' components, "gl" of the frame tensors divided by n_sel."""
        od = self.output_def
        out = {}
        if self.pref_atomic and od.atomic_label in batch:
            out["lc"] = ops.reshape(pred[od.atomic_name] - batch[od.atomic_label], (-1,))
        if self.pref_global and od.label in batch:
            out["gl"] = ops.reshape(pred[od.name] - batch[od.label], (-1,)) / float(batch["nsel"])
        return out

    def compute(self, ops, pred, batch, lr):
        """(loss, {term: mse}); the loss weighs f of each residual (mse or huber, see above)."""
        loss, parts = None, {}
        for term, diff in self.residuals(ops, pred, batch).items():
            parts[term] = _mse(ops, diff)
            if self.loss_func == "huber":
                penalty = _huber(ops, diff, self.huber_delta)
            else:
                penalty = parts[term]
            contrib = self.pref(term, lr) * penalty
            loss = contrib if loss is None else loss + contrib
        return loss, parts

    def total_from_parts(self, parts, lr):
        return float(np.sqrt(sum(self.pref(t, lr) * v for t, v in parts.items()))) if parts else float("nan")


def make_loss(loss_config, lr_config, model):
    if loss_config["type"] == "ener":
        return EnerLoss(loss_config, lr_config["start_lr"])
    return TensorLoss(loss_config, model.output_def, model.sel_type)
