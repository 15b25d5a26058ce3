"""``test_model``: evaluate a model on data systems and measure its errors against the labels.

For each system only the labels the system has are compared (see ``quantities.py``); frames are
evaluated in chunks so that long trajectories and Hessians stay within memory. Results are plain
dicts (see ``test_model``), formatted by ``report.py``.
"""

import contextlib
import os

import numpy as np

from dptensor.data.shapes import tensor_labels_of
from dptensor.data.system import load_system
from dptensor.testing.detail import DetailFiles
from dptensor.testing.metrics import add_errors, empty_metric, pool_systems
from dptensor.testing.quantities import label_names, quantities_for

# frames per evaluate() call: about this many predicted float64 values (8 MB) per chunk
CHUNK_VALUES = 1 << 20


def test_model(deep_model, systems, numb_test=None, detail_prefix=None, atomic=False, fmt=None,
               on_system=None, keep_values=False):
    """Errors of ``deep_model`` on ``systems``.

    deep_model: a ``DeepModel`` (or any object with type_map, model_type, sel_type, path and
    evaluate); systems: system paths (read one at a time with ``load_system``, ``fmt`` passed on)
    or loaded ``DeepmdSystem`` objects in the model's type_map; numb_test: test the first
    ``numb_test`` frames of each system (None or 0: all); detail_prefix: write detail files
    ``PREFIX.*.out`` (see detail.py); atomic: also write the atomic detail files; on_system:
    called with each system's result as soon as it is done (progress output); keep_values: also
    keep the compared values (for parity plots).

    Returns {"model": path, "model_type": str, "systems": [system result ...],
    "total": {quantity name: metric}} where a system result is {"path", "natoms", "nframes",
    "metrics": {quantity name: metric}, "warning": str or None} and a metric is the dict of
    ``metrics.py`` (rmse, mae, count, nframes, unit, sum_sq, sum_abs). With keep_values a system
    result also has "values": {quantity name: (data rows, prediction rows)} (float64, the rows of
    ``Quantity.to_rows``, every tested frame).
    """
    quantities = quantities_for(deep_model.model_type, getattr(deep_model, "output_def", None))
    files = (DetailFiles(detail_prefix, [q.detail for q in quantities])
             if detail_prefix else contextlib.nullcontext())
    results = []
    with files:
        for item in systems:
            system = _as_system(item, deep_model, fmt)
            result = test_system(deep_model, system, quantities, numb_test,
                                 files if detail_prefix else None, atomic, keep_values)
            results.append(result)
            if on_system is not None:
                on_system(result)
    return {"model": str(getattr(deep_model, "path", "")), "model_type": deep_model.model_type,
            "systems": results, "total": pool_systems(results, [q.name for q in quantities])}


test_model.__test__ = False  # its name starts with "test": keep pytest from collecting it


def _as_system(item, deep_model, fmt):
    """A path -> the system read in the model's type_map; a loaded system passes through."""
    if not isinstance(item, (str, os.PathLike)):
        return item
    # atomic tensor labels stored for the selected atoms only are expanded by sel_type
    sel_type = deep_model.sel_type if deep_model.model_type != "ener" else None
    return load_system(item, deep_model.type_map, sel_type=sel_type, fmt=fmt,
                       tensor_labels=tensor_labels_of(getattr(deep_model, "output_def", None)))


def frame_chunks(nframes, natoms, hessian):
    """Slices of frames, each predicting about CHUNK_VALUES values (at least one frame)."""
    per_frame = 9 * natoms + (9 * natoms * natoms if hessian else 0)
    step = max(1, CHUNK_VALUES // max(per_frame, 1))
    return [slice(i, min(i + step, nframes)) for i in range(0, nframes, step)]


def test_system(deep_model, system, quantities, numb_test=None, files=None, atomic=False,
                keep_values=False):
    """One system's result dict (see ``test_model``); ``files`` a DetailFiles or None."""
    nframes = system.nframes if not numb_test else min(int(numb_test), system.nframes)
    result = {"path": system.path, "natoms": system.natoms, "nframes": nframes, "metrics": {},
              "warning": None}
    active = [q for q in quantities if q.label in system.labels]
    if not active:
        names = ", ".join(label_names(quantities))
        result["warning"] = (f"{system.path}: none of the labels the {deep_model.model_type} "
                             f"model predicts ({names}); nothing compared")
        return result
    sel_mask = np.isin(system.atype, list(deep_model.sel_type))
    # an atomic tensor over a system without selected atoms has no values to compare
    active = [q for q in active if not q.selected or sel_mask.any()]
    detailed = [q for q in active if files is not None and (atomic or not q.atomic_detail)]
    for q in detailed:
        files.begin(q.detail, system.path, q.header())
    metrics = {q.name: empty_metric(q.unit) for q in active}
    kept = {q.name: ([], []) for q in active}
    want_atomic = any(q.needs_atomic for q in active)
    want_hessian = any(q.needs_hessian for q in active)
    for sl in frame_chunks(nframes, system.natoms, want_hessian):
        box = None if system.box is None else system.box[sl]
        pred = deep_model.evaluate(system.coord[sl], box, system.atype, atomic=want_atomic,
                                   hessian=want_hessian)
        nf = sl.stop - sl.start
        for q in active:
            p = q.to_rows(pred[q.pred], system.natoms, sel_mask)
            d = q.to_rows(system.labels[q.label][sl], system.natoms, sel_mask)
            add_errors(metrics[q.name], p, d, nf)
            if q in detailed:
                files.write(q.detail, np.hstack([d, p]))
            if keep_values:
                kept[q.name][0].append(d)
                kept[q.name][1].append(p)
    result["metrics"] = metrics
    if keep_values:
        result["values"] = {k: (np.concatenate(d), np.concatenate(p)) for k, (d, p) in kept.items()}
    return result


test_system.__test__ = False
