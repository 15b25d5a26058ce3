"""Turn a raw DeePMD-kit style ``input.json`` into the canonical form every backend reads.

After ``normalize`` the config has no comments and no aliases, every key of the schema is present
(defaults filled), ``model.atom_exclude_types`` is folded into the fitting net, and the learning
rate has ``stop_lr`` only. Keys that need more than one component are handled here; everything
per-key comes from the schema fragments (see ``walk``).
"""

import copy
import warnings

from dptensor.config.fitting import FITTING, TENSOR_FITTINGS
from dptensor.config.learning_rate import EXP
from dptensor.config.schema import ROOT
from dptensor.config.walk import Report, clean, fill, show
from dptensor.errors import InputError


class InputWarning(UserWarning):
    """DeePMD-kit keys that dptensor accepts and ignores."""


def normalize(raw: dict) -> dict:
    """The canonical config of ``raw`` (not changed); raises InputError listing every problem found.

    Keys dptensor ignores are reported with one ``InputWarning``.
    """
    cfg, report = normalize_report(raw)
    if report.problems:
        raise InputError(report.problems)
    warn_ignored(report)
    return cfg


def normalize_report(raw):
    """``(config, Report)``: like ``normalize`` but returns the problems instead of raising, so the
    caller can report them together with the schema errors."""
    if not isinstance(raw, dict):
        raise InputError(f"(root): the input must be a JSON object {{...}}, not {show(raw)[:40]}")
    report = Report()
    cfg = clean(_with_loss_type(copy.deepcopy(raw)), ROOT, [], report)
    _fold_atom_exclude_types(cfg, report)
    _resolve_stop_lr(cfg, report)
    fill(cfg, ROOT)
    _default_sel_type(cfg)
    return cfg, report


def warn_ignored(report):
    if report.ignored:
        warnings.warn(InputWarning("ignoring keys dptensor does not use: " + ", ".join(report.ignored)),
                      stacklevel=3)


def _get(tree, *names):
    for name in names:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(name)
    return tree


def _is_type_list(value):
    return isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)


def _with_loss_type(raw):
    """A shallow copy of ``raw`` whose loss has a ``type``: the one matching the fitting's type."""
    loss = raw.get("loss", {})
    if not isinstance(loss, dict) or "type" in loss:
        return raw
    fitting_type = _get(raw, "model", "fitting_net", "type") or FITTING["properties"]["type"]["default"]
    return {**raw, "loss": {**loss, "type": "tensor" if fitting_type in TENSOR_FITTINGS else "ener"}}


def _fold_atom_exclude_types(cfg, report):
    """Move ``model.atom_exclude_types`` (DeePMD-kit's PyTorch spelling) into the fitting net.

    ener keeps it as ``atom_exclude_types``; dipole and polar select the complementary types,
    ``sel_type = [t for t in range(ntypes) if t not in atom_exclude_types]``.
    """
    model = cfg.get("model")
    excluded = _get(model, "atom_exclude_types")
    fitting = _get(model, "fitting_net")
    type_map = _get(model, "type_map")
    if not (_is_type_list(excluded) and isinstance(fitting, dict) and isinstance(type_map, list)):
        return  # nothing to fold, or a shape the schema validation reports
    ntypes = len(type_map)
    bad = [t for t in excluded if t >= ntypes]
    if bad:
        report.problems.append(f"model.atom_exclude_types: type index {bad[0]} is out of range "
                               f"for type_map of {ntypes} types")
        return
    kind = fitting.get("type")
    if kind in TENSOR_FITTINGS:
        target, value = "sel_type", [t for t in range(ntypes) if t not in excluded]
    elif kind == "ener":
        target, value = "atom_exclude_types", sorted(set(excluded))
    else:
        return
    given = fitting.get(target)
    if not excluded and given is not None:  # [] is DeePMD-kit's written-out "not given"
        del model["atom_exclude_types"]
        return
    if given is not None and (not _is_type_list(given) or set(given) != set(value)):
        report.problems.append(f"model.atom_exclude_types: {show(excluded)} means {target} "
                               f"{show(value)}, but model.fitting_net.{target} is {show(given)}; "
                               "give only one of them")
        return
    fitting[target] = value if given is None else given
    del model["atom_exclude_types"]


def _resolve_stop_lr(cfg, report):
    """Replace ``stop_lr_ratio`` by ``stop_lr = start_lr * stop_lr_ratio``."""
    lr = cfg.get("learning_rate")
    if isinstance(lr, dict) and lr.get("stop_lr_ratio", 0) is None:
        del lr["stop_lr_ratio"]  # DeePMD-kit writes null for "not given"
    if not isinstance(lr, dict) or "stop_lr_ratio" not in lr:
        return
    if "stop_lr" in lr:
        report.problems.append("learning_rate.stop_lr_ratio: give either stop_lr or stop_lr_ratio, "
                               "not both")
        return
    ratio = lr["stop_lr_ratio"]
    start = lr.get("start_lr", EXP["properties"]["start_lr"]["default"])
    if _positive_number(ratio) and _positive_number(start):  # else the schema reports it
        lr["stop_lr"] = start * ratio
        del lr["stop_lr_ratio"]


def _positive_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def _default_sel_type(cfg):
    """Dipole and polar fittings without ``sel_type`` fit every type."""
    fitting = _get(cfg, "model", "fitting_net")
    type_map = _get(cfg, "model", "type_map")
    if (isinstance(fitting, dict) and fitting.get("type") in TENSOR_FITTINGS
            and "sel_type" not in fitting and isinstance(type_map, list)):
        fitting["sel_type"] = list(range(len(type_map)))

