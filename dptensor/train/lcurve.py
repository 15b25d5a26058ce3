"""The learning-curve file ``lcurve.out``: one row every ``disp_freq`` steps.

ener:   # step rmse_val rmse_trn rmse_e_val rmse_e_trn rmse_f_val rmse_f_trn [v] [ae] [h] lr
tensor: # step rmse_val rmse_trn rmse_lc_val rmse_lc_trn rmse_gl_val rmse_gl_trn lr

Without validation data only the ``_trn`` columns. Values are RMSEs (square roots of the mean
squared errors); ``nan`` marks a quantity that no system of that data set has a label for.
"""

import math
import os


class LCurve:
    def __init__(self, path, terms, has_validation, append=False):
        self.path = path
        self.terms = list(terms)
        self.has_validation = has_validation
        self.names = self._names()
        fresh = not (append and os.path.exists(path))
        self._fh = open(path, "a" if not fresh else "w", buffering=1)
        if fresh:
            self._fh.write("# " + " ".join(f"{n:>12s}" for n in self.names) + "\n")

    def _names(self):
        sets = ["val", "trn"] if self.has_validation else ["trn"]
        names = ["step"] + [f"rmse_{s}" for s in sets]
        for t in self.terms:
            names += [f"rmse_{t}_{s}" for s in sets]
        return names + ["lr"]

    def row(self, step, total_trn, parts_trn, lr, total_val=None, parts_val=None):
        """Write one row; parts are mean squared errors per term (missing -> nan)."""
        values = []
        if self.has_validation:
            values.append(total_val)
        values.append(total_trn)
        for t in self.terms:
            if self.has_validation:
                values.append(_rmse(parts_val, t))
            values.append(_rmse(parts_trn, t))
        text = f"  {step:>12d} " + " ".join(f"{v:12.4e}" for v in values) + f" {lr:12.4e}\n"
        self._fh.write(text)
        return dict(zip(self.names[1:-1], values))

    def close(self):
        self._fh.close()


def _rmse(parts, term):
    if not parts or term not in parts:
        return math.nan
    return math.sqrt(parts[term])
