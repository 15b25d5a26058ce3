"""``dpt train --finetune MODEL``: start from a pretrained model on new data.

The input's ``type_map`` may be a subset, a re-ordering or a superset of the pretrained one: nets and
statistics are carried over per element name; elements the pretrained model never saw get fresh nets
(from the input's seed) and statistics from the new data. An energy model may be fine-tuned into an
energy model (with any loss, e.g. adding the Hessian) or seed the descriptor of a dipole/polar model
(whose fitting starts fresh).
"""

import logging

import numpy as np

from dptensor.errors import ModelFileError
from dptensor.model import Model

log = logging.getLogger("dptensor.train")

# descriptor settings that must agree for the pretrained embedding nets to mean the same thing
DESCRIPTOR_KEYS = ("rcut", "rcut_smth", "neuron", "axis_neuron", "resnet_dt", "type_one_side",
                   "activation_function", "precision")
FITTING_KEYS = ("neuron", "resnet_dt", "activation_function", "precision")


def config_differences(old, new, where, label, keys):
    """``where.key: <label> old, input new`` for each of ``keys`` whose value differs between two
    components' ``config()`` dicts (a key missing from one side reads as None)."""
    return [f"{where}.{k}: {label} {old.get(k)!r}, input {new.get(k)!r}"
            for k in keys if old.get(k) != new.get(k)]


def check_compatible(pre, new, path):
    problems = config_differences(pre.descriptor.config(), new.descriptor.config(), "model.descriptor",
                                  "pretrained", DESCRIPTOR_KEYS)
    same_type = pre.model_type == new.model_type
    if not same_type and not (pre.model_type == "ener" and new.model_type in ("dipole", "polar", "tensor")):
        problems.append(f"model.fitting_net.type: the pretrained model is a {pre.model_type} model and "
                        f"the input asks for {new.model_type}; only an energy model's descriptor can "
                        "seed a dipole, polar or tensor model")
    elif same_type:
        problems += config_differences(pre.fitting.config(), new.fitting.config(), "model.fitting_net",
                                       "pretrained", FITTING_KEYS)
    if problems:
        raise ModelFileError(f"{path}: cannot fine-tune from this model: " + "; ".join(problems))
    return same_type


def _copy_descriptor(pre, new, mapping):
    nt_new, nt_old = new.ntypes, pre.ntypes
    pv, nv = pre.descriptor.variables, new.descriptor.variables
    for tn, to in enumerate(mapping):
        if to is None:
            continue
        nv["davg"][tn] = pv["davg"][to, :1]  # statistics are per center type, the same in every slot
        nv["dstd"][tn] = pv["dstd"][to, :1]
        if new.descriptor.type_one_side:
            nv["embeddings"][tn] = pv["embeddings"][to]
            continue
        for sn, so in enumerate(mapping):
            if so is not None:
                nv["embeddings"][tn * nt_new + sn] = pv["embeddings"][to * nt_old + so]


def _copy_fitting(pre, new, mapping):
    pv, nv = pre.fitting.variables, new.fitting.variables
    for tn, to in enumerate(mapping):
        if to is None:
            continue
        nv["nets"][tn] = pv["nets"][to]
        for key, value in pv.items():
            if key != "nets" and isinstance(value, np.ndarray) and value.shape[:1] == (pre.ntypes,):
                nv[key][tn] = value[to]


def finetune_model(pretrained, config, path="pretrained model"):
    """A new Model for ``config`` carrying ``pretrained``'s weights per element.

    ``model.meta["finetune_new_types"]`` lists the input's type indices the pretrained model
    never saw; their descriptor statistics are to be computed from the new data."""
    new = Model.from_config(config["model"])
    same_type = check_compatible(pretrained, new, path)
    mapping = [pretrained.type_map.index(n) if n in pretrained.type_map else None for n in new.type_map]
    _copy_descriptor(pretrained, new, mapping)
    if same_type:
        _copy_fitting(pretrained, new, mapping)
    new.set_variables(new.variables)
    fresh = [new.type_map[t] for t, m in enumerate(mapping) if m is None]
    log.info("fine-tuning from %s: types %s carried over%s%s", path,
             [n for n, m in zip(new.type_map, mapping) if m is not None],
             f"; new types {fresh} start from fresh nets and statistics of the new data" if fresh else "",
             "" if same_type else f"; the {new.model_type} fitting starts fresh")
    new.meta["finetune_new_types"] = [t for t, m in enumerate(mapping) if m is None]
    return new
