"""Render the input reference (``doc/input.md``, ``dpt doc-train-input``) from the schema fragments."""

import json

from dptensor.config.fragment import is_variant_family
from dptensor.config.schema import ROOT

REGENERATE = "dpt doc-train-input > doc/input.md"

_INTRO = f"""\
# Input reference (`input.json`)

<!-- generated from dptensor/config by `{REGENERATE}`; do not edit by hand -->

`dpt train input.json` reads a DeePMD-kit 3.2 style input. Before training, the input is
normalized: keys starting with `_` are comments and are dropped, aliases (DeePMD-kit's other
spellings) are replaced by the key names below, and every missing key gets its default. Keys that
DeePMD-kit knows but dptensor does not use are dropped with a warning, unless their value would
change the result, which is an error. Any other unknown key is an error. `dpt doc-train-input
--json-schema` prints the JSON schema (Draft 2020-12) of the normalized input.
"""

_HEADER = "| key | type | default | description |\n| --- | --- | --- | --- |"


def render_markdown() -> str:
    """The reference of every key: a section per component, a table row per key."""
    return "\n".join([_INTRO] + _sections(ROOT, [])).rstrip("\n") + "\n"


def _sections(node, parts, variant=None):
    """Markdown blocks of the component ``node`` at path ``parts`` and of its sub-components."""
    if is_variant_family(node):
        blocks = []
        for branch in node["allOf"]:
            name = branch["if"]["properties"]["type"]["const"]
            blocks += _sections(branch["then"], parts, variant=(name, node))
        return blocks
    title = ".".join(parts) or "top level"
    heading = f"## `{title}`" if parts else f"## {title}"
    if variant:
        heading += f" with `type` = `{variant[0]}`"
    rows, children = [], []
    for name, prop in node["properties"].items():
        if name == "type" and variant:
            prop = dict(variant[1]["properties"]["type"], **{"x-variant": variant[0]})
        rows.append(_row(name, prop, parts))
        if "properties" in prop:
            children += _sections(prop, parts + [name])
    notes = _notes(node)
    return [f"{heading}\n\n{node['description']}\n\n{_HEADER}\n" + "\n".join(rows) + "\n" + notes] \
        + children


def _row(name, prop, parts):
    default = _default(prop)
    doc = prop["description"]
    if "x-variant" in prop:
        doc += f" This section describes `{prop['x-variant']}`."
    if prop.get("x-aliases"):
        doc += " Aliases: " + ", ".join(f"`{a}`" for a in prop["x-aliases"]) + "."
    if prop.get("x-value-aliases"):
        doc += " Also accepts " + ", ".join(f"`{json.dumps(a)}` (= `{json.dumps(v)}`)"
                                            for a, v in prop["x-value-aliases"].items()) + "."
    if "properties" in prop:
        doc += f" See `{'.'.join(parts + [name])}` below."
    cells = [f"`{name}`", type_text(prop), default, doc]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _default(prop):
    if "default" in prop:
        return f"`{json.dumps(prop['default'])}`"
    if "x-optional" in prop:
        return f"*{prop['x-optional']}*"
    return "**required**"


def type_text(schema) -> str:
    """A short human type: ``list of int``, ``number or null``, ``one of "a", "b"``."""
    if "anyOf" in schema:
        return " or ".join(s.get("title") or type_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kinds = schema.get("type", "any")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    words = {"integer": "int", "number": "number", "boolean": "bool", "string": "str",
             "null": "null", "object": "object"}
    out = []
    for kind in kinds:
        if kind == "array":
            items = schema.get("items")
            inner = type_text(items) if items else ""
            out.append(f"list of ({inner})" if " or " in inner else f"list of {inner}".rstrip(" of"))
        else:
            out.append(words.get(kind, kind))
    text = " or ".join(out)
    if "minimum" in schema:
        text += f" >= {schema['minimum']}"
    if "exclusiveMinimum" in schema:
        text += f" > {schema['exclusiveMinimum']}"
    if schema.get("minItems") == schema.get("maxItems") is not None:
        text = f"{text} (length {schema['minItems']})"
    return text


def _notes(node):
    lines = []
    if node.get("x-ignored"):
        lines.append("Accepted for DeePMD-kit compatibility and ignored with a warning: "
                     + ", ".join(f"`{k}`" for k in node["x-ignored"]) + ".")
    if node.get("x-unsupported-unless"):
        lines.append("Accepted only with the value that has no effect (any other value is an "
                     "error): " + ", ".join(f"`{k}` = `{json.dumps(v)}`"
                                            for k, v in node["x-unsupported-unless"].items()) + ".")
    return "".join(f"\n{line}\n" for line in lines)
