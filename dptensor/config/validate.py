"""Check a normalized config against the schema and against rules that span several keys.

Every problem is collected first and raised together in one ``InputError``, each as
``<json.path>: <plain sentence>``, e.g. ``model.fitting_net.type: 'foo' is not one of 'ener', ...``.
"""

from functools import lru_cache

from dptensor.config.fitting import TENSOR_FITTINGS, TENSOR_PARTS
from dptensor.config.schema import build_schema
from dptensor.config.walk import format_path, is_comment, show
from dptensor.data import keys
from dptensor.errors import InputError

# names a tensor label cannot take: other data files and the keys of a training batch
# (batch.NATOMS, batch.SYSTEM, keys.CENTERS and the loss's "nsel"); a known tensor label may be
# reused with its own rank, since its files then have the same layout
_RESERVED_LABELS = {keys.COORD, keys.BOX, keys.ATYPE, keys.NLIST, keys.SHIFT, "type", "natoms",
                    "system", keys.CENTERS, "nsel", keys.P_ATOM_ENERGY, *keys.LABELS}
_KNOWN_TENSOR_LABELS = {keys.DIPOLE: 1, keys.POLARIZABILITY: 2}

_TYPE_WORDS = {"object": "an object", "array": "a list", "string": "a string", "number": "a number",
               "integer": "an integer", "boolean": "true or false", "null": "null"}


def validate(cfg) -> None:
    """Raise InputError listing every problem of the normalized config ``cfg``; return None if none."""
    problems = find_problems(cfg)
    if problems:
        raise InputError(problems)


def find_problems(cfg) -> list:
    """Schema errors, then cross-key errors (only where the schema found the keys well-formed)."""
    errors = sorted(_validator().iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    problems = []
    for error in errors:
        problems += [p for p in _format(error) if p not in problems]
    if isinstance(cfg, dict):
        problems += [p for p in semantic_problems(cfg) if p not in problems]
    return problems


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # imported on first use so that `dpt --help` stays fast

    return jsonschema.Draft202012Validator(build_schema())


def _format(error) -> list:
    """``path: sentence`` lines for one jsonschema error; anyOf errors point at the deepest
    sub-error, key-set errors give one line per key."""
    if error.validator in ("anyOf", "oneOf"):
        deeper = [e for e in error.context if len(e.absolute_path) > len(error.absolute_path)]
        if deeper:
            return _format(max(deeper, key=lambda e: len(e.absolute_path)))
        titles = [s.get("title", "valid") for s in error.validator_value]
        return [f"{format_path(error.absolute_path)}: {show(error.instance)} is not "
                + " or ".join(titles)]
    parts = list(error.absolute_path)
    rule, value, inst = error.validator, error.validator_value, error.instance
    if rule == "required":
        return [f"{format_path(parts + [k])}: required key is missing" for k in value if k not in inst]
    if rule == "additionalProperties":
        known = error.schema.get("properties", {})
        return [f"{format_path(parts + [k])}: unknown key" for k in inst
                if k not in known and not is_comment(k)]
    return [f"{format_path(parts)}: {_sentence(rule, value, inst, error)}"]


def _sentence(rule, value, inst, error) -> str:
    what = show(inst)
    if rule == "enum":
        return f"{what} is not one of " + ", ".join(show(v) for v in value)
    if rule == "const":
        return f"{what} is not {show(value)}"
    if rule == "type":
        kinds = [value] if isinstance(value, str) else value
        return f"{what} is not " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    if rule == "minimum":
        return f"{what} is less than the minimum {value}"
    if rule == "exclusiveMinimum":
        return f"{what} must be greater than {value}"
    if rule == "minItems":
        return f"{what} must have at least {value} item(s)"
    if rule == "maxItems":
        return f"{what} must have at most {value} item(s)"
    if rule == "pattern":
        return f"{what} is not {error.schema.get('title', 'of the form ' + value)}"
    return error.message


def semantic_problems(cfg) -> list:
    """Rules the schema cannot express: lengths and indices tied to ``type_map``, loss vs fitting,
    ``rcut_smth < rcut``, per-system lists. Keys of the wrong shape are skipped (the schema says so)."""
    model = _dict(cfg.get("model"))
    ntypes = len(model["type_map"]) if isinstance(model.get("type_map"), list) else None
    desc, fit = _dict(model.get("descriptor")), _dict(model.get("fitting_net"))
    out = _loss_matches_fitting(_dict(cfg.get("loss")).get("type"), fit.get("type"))
    if fit.get("type") == "tensor":
        out += _tensor_fitting(fit)
    if _num(desc.get("rcut_smth")) and _num(desc.get("rcut")) and desc["rcut_smth"] >= desc["rcut"]:
        out.append(f"model.descriptor.rcut_smth: {desc['rcut_smth']} must be smaller than "
                   f"rcut ({desc['rcut']})")
    if ntypes is not None:
        out += _duplicates(model["type_map"], "model.type_map") + _per_type(desc, fit, ntypes)
    training = _dict(cfg.get("training"))
    for name in ("training_data", "validation_data"):
        out += _per_system(_dict(training.get(name)), f"training.{name}")
    return out


def _loss_matches_fitting(loss_type, fitting_type):
    want = {"ener": "ener", **{t: "tensor" for t in TENSOR_FITTINGS}}.get(fitting_type)
    if loss_type in ("ener", "tensor") and want and loss_type != want:
        return [f"loss.type: {show(loss_type)} cannot train a {show(fitting_type)} fitting; "
                f"use {show(want)}"]
    return []


def _tensor_fitting(fit):
    """tensor_components must be parts of the given rank; the label must not name another file."""
    out, rank, label = [], fit.get("rank"), fit.get("label")
    parts = TENSOR_PARTS.get(rank) if isinstance(rank, int) else None
    comps = fit.get("tensor_components")
    if parts and isinstance(comps, list):
        bad = [c for c in comps if isinstance(c, int) and c not in parts]
        if bad:
            out.append(f"model.fitting_net.tensor_components: {show(bad)} not among the parts "
                       f"{show(list(parts))} of a rank-{rank} tensor (0: isotropic, 1: "
                       f"{'vector' if rank == 1 else 'antisymmetric'}, 2: symmetric traceless)")
    if isinstance(label, str) and parts:
        atomic = "atomic_" + label
        if _KNOWN_TENSOR_LABELS.get(label, rank) != rank:
            out.append(f"model.fitting_net.label: {show(label)} is the rank-"
                       f"{_KNOWN_TENSOR_LABELS[label]} label of DeePMD data; use another name "
                       f"for a rank-{rank} tensor")
        elif label not in _KNOWN_TENSOR_LABELS and (label in _RESERVED_LABELS
                                                     or atomic in _RESERVED_LABELS):
            out.append(f"model.fitting_net.label: {show(label)} already names another data "
                       f"file or batch entry{'' if label in _RESERVED_LABELS else f' ({atomic})'}"
                       "; choose another name")
    return out


def _duplicates(names, path):
    """Element names that appear more than once (each type needs its own name)."""
    seen, out = {}, []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name in seen:
            out.append(f"{path}[{i}]: {show(name)} appears twice (also at [{seen[name]}]); each type "
                       f"needs its own name (e.g. {show(name + '1')} for a second kind of {name})")
        seen.setdefault(name, i)
    return out


def _per_type(desc, fit, ntypes):
    out = []
    sel = desc.get("sel")
    if isinstance(sel, list) and len(sel) != ntypes:
        out.append(f"model.descriptor.sel: has {len(sel)} entries but type_map has {ntypes} types")
    for i, pair in enumerate(_list(desc.get("exclude_types"))):
        out += _indices(pair, ntypes, f"model.descriptor.exclude_types[{i}]")
    for name in ("sel_type", "atom_exclude_types"):
        out += _indices(fit.get(name), ntypes, f"model.fitting_net.{name}")
    for name in ("scale", "atom_ener"):
        values = fit.get(name)
        # an empty atom_ener fixes no type; scale has no such short form
        if isinstance(values, list) and (values or name == "scale") and len(values) != ntypes:
            out.append(f"model.fitting_net.{name}: has {len(values)} entries but type_map has "
                       f"{ntypes} types")
    return out


def _indices(values, ntypes, path):
    return [f"{path}[{i}]: type index {t} is out of range for type_map of {ntypes} types"
            for i, t in enumerate(_list(values)) if isinstance(t, int) and t >= ntypes]


def _per_system(data, path):
    systems = data.get("systems")
    if not isinstance(systems, list):
        return []  # one folder searched for systems: their number is known only when reading data
    out = []
    for name in ("batch_size", "sys_probs"):
        values = data.get(name)
        if isinstance(values, list) and len(values) != len(systems):
            out.append(f"{path}.{name}: has {len(values)} entries but systems has {len(systems)}")
    return out


def _dict(x):
    return x if isinstance(x, dict) else {}


def _list(x):
    return x if isinstance(x, list) else []


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)
