"""Schema-driven passes over a raw input: ``clean`` (comments, aliases, unknown keys) and ``fill``
(defaults). Both follow the fragments, so a new key needs no change here."""

import copy
import difflib
import json
from dataclasses import dataclass, field

from dptensor.config.fragment import COMMENT_PREFIX, is_variant_family, variant_of


@dataclass
class Report:
    """What normalization found: ``problems`` (errors, each ``path: sentence``) and ``ignored``
    (JSON paths of DeePMD-kit keys dptensor dropped)."""

    problems: list = field(default_factory=list)
    ignored: list = field(default_factory=list)


def format_path(parts) -> str:
    """``['model', 'descriptor', 'sel', 1]`` -> ``model.descriptor.sel[1]``; ``[]`` -> ``(root)``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def show(value) -> str:
    """A value as the user wrote it: strings quoted ('foo'), everything else as JSON."""
    return repr(value) if isinstance(value, str) else json.dumps(value)


def is_comment(name) -> bool:
    return isinstance(name, str) and name.startswith(COMMENT_PREFIX)


def canonical_value(value, node):
    """Map an accepted alias value (``x-value-aliases``, e.g. ``'none'`` -> ``'linear'``), turn a
    whole float where an integer is expected into an int (JSON schema counts 2.0 as an integer,
    ``range(2.0)`` does not), and do the same for the items of a list."""
    if not isinstance(node, dict):
        return value
    if isinstance(value, str):
        return node.get("x-value-aliases", {}).get(value, value)
    alternatives = node.get("anyOf", [node])
    kinds = [k for alt in alternatives for k in _kinds(alt)]
    if isinstance(value, float) and value.is_integer() and "integer" in kinds \
            and "number" not in kinds:
        return int(value)
    items = [alt["items"] for alt in alternatives if "items" in alt]
    if isinstance(value, list) and items:
        return [canonical_value(v, items[0]) for v in value]
    return value


def _kinds(node):
    kinds = node.get("type", ())
    return [kinds] if isinstance(kinds, str) else list(kinds)


def _with_type(value, node):
    """Resolve the ``type`` of a variant family: alias values, else the family's default."""
    type_node = node["properties"]["type"]
    out = dict(value)
    if "type" in out:
        out["type"] = canonical_value(out["type"], type_node)
    elif "default" in type_node:
        out["type"] = type_node["default"]
    return out


def clean(value, node, parts, report):
    """A copy of ``value`` without comments, with canonical key names and values.

    Unknown keys are reported (with a suggestion) and dropped; DeePMD-kit keys that dptensor does
    not use are dropped and listed in ``report.ignored``, or reported when their value matters.
    Values of the wrong type are kept as they are: the schema validation reports them.
    """
    if is_variant_family(node) and isinstance(value, dict):
        value = _with_type(value, node)
    frag = variant_of(node, value)
    if not isinstance(value, dict):
        return canonical_value(value, node)
    if frag is None:  # unknown type: the schema reports it; nothing to check the keys against
        return {k: v for k, v in value.items() if not is_comment(k)}
    props = frag["properties"]
    aliases = {a: name for name, p in props.items() for a in p.get("x-aliases", ())}
    out, origin = {}, {}
    for raw_name, item in value.items():
        if is_comment(raw_name):
            continue
        name = aliases.get(raw_name, raw_name)
        here = format_path(parts + [raw_name])
        if name in props:
            if name in out:
                report.problems.append(f"{here}: {raw_name!r} and {origin[name]!r} are two names "
                                       f"of the key {name!r}; give only one of them")
            origin[name] = raw_name
            out[name] = clean(item, props[name], parts + [name], report)
        else:
            _outside(raw_name, item, frag, here, report, node)
    return out


def _outside(name, item, frag, here, report, node):
    """A key that is not in the fragment: ignored, unsupported, of another variant, or unknown."""
    harmless = frag.get("x-unsupported-unless", {})
    if name in frag.get("x-ignored", ()):
        report.ignored.append(here)
    elif name in harmless and item == harmless[name]:
        report.ignored.append(here)
    elif name in harmless:
        report.problems.append(f"{here}: {show(item)} is not supported by dptensor (only "
                               f"{show(harmless[name])} is); remove the key")
    elif _owners(name, node):
        report.problems.append(f"{here}: is a key of type {' or '.join(_owners(name, node))}, not "
                               f"of type {frag['properties']['type']['const']!r}")
    else:
        report.problems.append(f"{here}: unknown key{suggest(name, _known(frag))}")


def _owners(name, node):
    """Types of a variant family whose fragment has the key ``name`` (e.g. ``'tensor'``)."""
    if not is_variant_family(node):
        return []
    return [repr(b["if"]["properties"]["type"]["const"]) for b in node["allOf"]
            if name in _known(b["then"])]


def _known(frag):
    props = frag["properties"]
    return list(props) + [a for p in props.values() for a in p.get("x-aliases", ())]


def suggest(name, known) -> str:
    """``"; did you mean 'rcut'?"`` for the closest known key, else the list of known keys."""
    close = difflib.get_close_matches(str(name), known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; known keys: " + ", ".join(sorted(known))


def fill(value, node):
    """Add every missing key that has a default, recursively, in place; returns ``value``."""
    if is_variant_family(node) and isinstance(value, dict) and "type" not in value:
        value.update(_with_type(value, node))
    frag = variant_of(node, value)
    if frag is None or not isinstance(value, dict):
        return value
    for name, prop in frag["properties"].items():
        if name not in value and "default" in prop:
            value[name] = copy.deepcopy(prop["default"])
        if name in value:
            value[name] = fill(value[name], prop)
    return value
