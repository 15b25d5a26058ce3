"""Error metrics as plain dicts that can be pooled over systems.

A metric dict holds the sums it was made from: ``sum_sq`` = sum (pred - data)^2, ``sum_abs`` =
sum |pred - data|, ``count`` = number of values, ``nframes``; and the derived ``rmse`` =
sqrt(sum_sq / count), ``mae`` = sum_abs / count, in ``unit``. Pooling adds the sums, so a total
is weighted by the number of values (the RMSE of all values of all systems together).
"""

import math

import numpy as np


def empty_metric(unit):
    return {"sum_sq": 0.0, "sum_abs": 0.0, "count": 0, "nframes": 0, "unit": unit,
            "rmse": math.nan, "mae": math.nan}


def add_errors(metric, pred_rows, data_rows, nframes):
    """Accumulate the errors of one chunk of frames into ``metric`` (in place) and return it."""
    diff = np.asarray(pred_rows, dtype=np.float64) - np.asarray(data_rows, dtype=np.float64)
    metric["sum_sq"] += float(np.sum(diff * diff))
    metric["sum_abs"] += float(np.sum(np.abs(diff)))
    metric["count"] += int(diff.size)
    metric["nframes"] += int(nframes)
    return finish(metric)


def finish(metric):
    """Fill ``rmse`` and ``mae`` from the sums (NaN when there are no values)."""
    n = metric["count"]
    metric["rmse"] = math.sqrt(metric["sum_sq"] / n) if n else math.nan
    metric["mae"] = metric["sum_abs"] / n if n else math.nan
    return metric


def pool(metrics):
    """Several metric dicts of one quantity (same unit) -> their pooled metric dict."""
    metrics = list(metrics)
    out = empty_metric(metrics[0]["unit"] if metrics else "")
    for m in metrics:
        for k in ("sum_sq", "sum_abs", "count", "nframes"):
            out[k] += m[k]
    return finish(out)


def pool_systems(system_results, names):
    """Per-system results -> {name: pooled metric} over the systems that have the quantity,
    in the order of ``names``."""
    total = {}
    for name in names:
        found = [r["metrics"][name] for r in system_results if name in r["metrics"]]
        if found:
            total[name] = pool(found)
    return total
