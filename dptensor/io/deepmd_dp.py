"""Read DeePMD-kit 3's backend-neutral model file (``.dp``) as a dptensor Model.

``dp convert-backend frozen.pb model.dp`` (or ``model.pth model.dp``) writes it: an HDF5 file whose
attribute ``json`` holds the serialized model, with every array stored as a dataset that the JSON
names by path ("/variable_0012"). Supported: a standard model with an se_e2_a descriptor and an
energy fitting. The mapping, checked value by value against ``dp test`` predictions:

- descriptor davg/dstd: the same arrays (ntypes x nnei x 4);
- embedding nets: DeePMD-kit keys (center ti, neighbor tj) as index ti + tj * ntypes, ours
  ti * ntypes + tj (type_one_side: index tj in both);
- layers: w, b, and idt where DeePMD-kit stores one (layers with a shortcut);
- fitting nets: per type, hidden layers then the output layer;
- energy bias: the fitting's ``bias_atom_e`` plus the atomic model's ``out_bias``.
"""

import json

import numpy as np

from dptensor.errors import DptError


def load_deepmd_dp(path):
    """The Model stored in a DeePMD-kit ``.dp`` file (numpy reference)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            data = _resolve(json.loads(f.attrs["json"]), f)
    except (OSError, KeyError) as e:
        raise DptError(f"{path}: not a DeePMD-kit .dp model file ({e})") from e
    return model_from_deepmd(data["model"], str(path))


def _resolve(obj, f):
    """Replace every "/variable_*" string by the dataset it names."""
    if isinstance(obj, dict):
        return {k: _resolve(v, f) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, f) for v in obj]
    if isinstance(obj, str) and obj.startswith("/variable_"):
        return np.asarray(f[obj][()])
    return obj


def model_from_deepmd(m, where="model"):
    """Our Model from DeePMD-kit's serialized model dict (arrays resolved)."""
    from dptensor.model import Model
    from dptensor.model.descriptor import DescrptSeA
    from dptensor.model.fitting import FITTINGS

    d, fit = m.get("descriptor", {}), m.get("fitting", {})
    if m.get("type") != "standard" or d.get("type") not in ("se_e2_a", "se_a"):
        raise DptError(f"{where}: only standard models with an se_e2_a descriptor can be read "
                       f"(found model type {m.get('type')!r}, descriptor {d.get('type')!r})")
    if fit.get("type") != "ener":
        raise DptError(f"{where}: only energy fittings can be read (found {fit.get('type')!r})")
    for key in ("numb_fparam", "numb_aparam", "dim_case_embd"):
        if fit.get(key):
            raise DptError(f"{where}: fitting/{key} = {fit[key]} is not supported")
    type_map = list(m["type_map"])
    ntypes = len(type_map)
    descriptor = DescrptSeA(
        ntypes=ntypes, sel=d["sel"], rcut=d["rcut"], rcut_smth=d["rcut_smth"], neuron=d["neuron"],
        axis_neuron=d["axis_neuron"], resnet_dt=d["resnet_dt"], type_one_side=d["type_one_side"],
        exclude_types=d.get("exclude_types", []), activation_function=d["activation_function"],
        precision=d["precision"], trainable=bool(d.get("trainable", True)),
        set_davg_zero=d.get("set_davg_zero", False), env_protection=d.get("env_protection", 0.0))
    nets = d["embeddings"]["networks"]
    order = list(range(ntypes)) if d["type_one_side"] else \
        [ti + tj * ntypes for ti in range(ntypes) for tj in range(ntypes)]
    descriptor.variables.update({
        "davg": np.asarray(d["@variables"]["davg"], float).reshape(ntypes, -1, 4),
        "dstd": np.asarray(d["@variables"]["dstd"], float).reshape(ntypes, -1, 4),
        "embeddings": [_layers(nets[k]) for k in order],
    })
    fitting = FITTINGS["ener"](
        ntypes=ntypes, dim_descrpt=descriptor.dim_out, dim_emb=descriptor.dim_emb, neuron=fit["neuron"],
        resnet_dt=fit["resnet_dt"], activation_function=fit["activation_function"],
        precision=fit["precision"], rcond=fit.get("rcond"), atom_ener=fit.get("atom_ener") or [],
        atom_exclude_types=m.get("atom_exclude_types") or [])
    bias = np.asarray(fit["@variables"]["bias_atom_e"], float).reshape(ntypes)
    out_bias = (m.get("@variables") or {}).get("out_bias")
    if out_bias is not None:
        bias = bias + np.asarray(out_bias, float).reshape(-1, ntypes)[0]
    fitting.variables.update({"nets": [_layers(n) for n in fit["nets"]["networks"]],
                              "bias_atom_e": bias})
    model = Model(type_map, descriptor, fitting)
    model.set_variables(model.variables)
    return model


def _layers(net):
    """Our network variables from a DeePMD-kit EmbeddingNetwork / FittingNetwork dict."""
    layers = []
    for layer in net["layers"]:
        v = layer["@variables"]
        out = {"w": np.asarray(v["w"], float), "b": np.asarray(v["b"], float).reshape(-1)}
        if v.get("idt") is not None:
            out["idt"] = np.asarray(v["idt"], float).reshape(-1)
        layers.append(out)
    return {"layers": layers}
