"""Building blocks of the input schema: one key, one component, a family of typed variants.

Every fragment is a plain JSON-schema (Draft 2020-12) dict, so the same object is used to
validate, to fill defaults (``normalize``) and to render the reference (``doc``). Information
JSON schema has no keyword for is stored under ``x-`` annotations, which validators ignore:

``x-aliases``              other names accepted for a key (DeePMD-kit spellings)
``x-value-aliases``        other values accepted for a key, mapped to the canonical value
``x-optional``             a key with no static default; the text says what happens if it is absent
``x-ignored``              keys DeePMD-kit knows that dptensor accepts and drops with a warning
``x-unsupported-unless``   keys dropped only when they hold this harmless value, otherwise an error
"""

import copy

REQUIRED = object()  # sentinel: the key has no default and must be given
OPTIONAL = object()  # sentinel: the key has no default and may be absent

COMMENT_PREFIX = "_"  # keys starting with "_" are comments (DeePMD-kit convention)
COMMENT_PATTERN = "^" + COMMENT_PREFIX


def key(schema, default, doc, aliases=(), optional_note=None):
    """One key: its JSON ``schema``, ``default`` (or REQUIRED / OPTIONAL) and a one-sentence ``doc``."""
    out = dict(schema)
    out["description"] = doc
    if default is OPTIONAL:
        out["x-optional"] = optional_note or "absent"
    elif default is not REQUIRED:
        out["default"] = copy.deepcopy(default)
    if aliases:
        out["x-aliases"] = list(aliases)
    return out


def component(doc, keys, default=REQUIRED, nullable=False, ignored=(), unsupported_unless=None):
    """An object whose properties are ``keys`` (name -> ``key(...)``); unknown keys are not allowed.

    ``ignored`` lists DeePMD-kit keys dropped with a warning; ``unsupported_unless`` maps DeePMD-kit
    keys to the only value dptensor can honour (any other value changes the result, so it is an error).
    """
    node = {
        "type": ["object", "null"] if nullable else "object",
        "description": doc,
        "properties": dict(keys),
        "patternProperties": {COMMENT_PATTERN: {}},
        "additionalProperties": False,
    }
    required = [n for n, p in keys.items() if "default" not in p and "x-optional" not in p]
    if required:
        node["required"] = required
    if default is not REQUIRED:
        node["default"] = copy.deepcopy(default)
    if ignored:
        node["x-ignored"] = sorted(ignored)
    if unsupported_unless:
        node["x-unsupported-unless"] = dict(unsupported_unless)
    return node


def variants(doc, family, type_doc, type_default=REQUIRED, type_aliases=None, default=REQUIRED,
             type_note=None):
    """A component chosen by its ``type`` key among ``family`` (type name -> ``component(...)``).

    Each variant is applied with ``if type == name then variant``, so errors point into the variant
    and an unknown ``type`` gives one enum error instead of one error per variant.
    """
    names = list(family)
    type_schema = {"type": "string", "enum": names}
    if type_aliases:
        type_schema["x-value-aliases"] = dict(type_aliases)
    type_key = key(type_schema, type_default, type_doc, optional_note=type_note)
    node = component(doc, {"type": type_key}, default=default)
    node.pop("additionalProperties")  # each variant closes its own key set
    node["allOf"] = [
        {"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
         "then": _with_type(frag, name)}
        for name, frag in family.items()
    ]
    return node


def _with_type(frag, name):
    out = dict(frag)
    out["properties"] = {"type": {"const": name, "default": name, "description": frag["description"]},
                         **frag["properties"]}
    return out


def variant_of(node, value):
    """The object schema that applies to ``value`` under ``node``: the node itself, the variant
    selected by ``value['type']``, or None when the node is not an object or the type is unknown."""
    if not isinstance(node, dict) or "properties" not in node:
        return None
    if "allOf" not in node:
        return node
    kind = value.get("type") if isinstance(value, dict) else None
    for branch in node["allOf"]:
        if branch["if"]["properties"]["type"]["const"] == kind:
            return branch["then"]
    return None


def is_variant_family(node):
    return isinstance(node, dict) and "allOf" in node


# ---- schemas of values shared by several components ------------------------------------------

NUMBER = {"type": "number"}
NUMBER_GE0 = {"type": "number", "minimum": 0}
NUMBER_GT0 = {"type": "number", "exclusiveMinimum": 0}
INT_GE0 = {"type": "integer", "minimum": 0}
INT_GE1 = {"type": "integer", "minimum": 1}
BOOL = {"type": "boolean"}
STRING = {"type": "string"}
TYPE_INDICES = {"type": "array", "items": INT_GE0}
LAYER_WIDTHS = {"type": "array", "items": INT_GE1}
SEED = {"type": ["integer", "null"]}

ACTIVATION = {"type": "string", "enum": ["tanh", "gelu", "relu", "softplus", "sigmoid", "linear"],
              "x-value-aliases": {"none": "linear"}}
PRECISION = {"type": "string", "enum": ["float32", "float64"],
             "x-value-aliases": {"default": "float64"}}


def network_keys(neuron_default, resnet_default, trainable_doc, neuron_aliases=()):
    """Keys shared by every neural network (embedding and fitting): widths, activation, precision."""
    return {
        "neuron": key(LAYER_WIDTHS, neuron_default, "Widths of the hidden layers, from input to output.",
                      aliases=neuron_aliases),
        "resnet_dt": key(BOOL, resnet_default, "Whether each residual connection is scaled by a "
                         "trainable per-neuron time step."),
        "activation_function": key(ACTIVATION, "tanh", "Activation function of the hidden layers."),
        "precision": key(PRECISION, "float64", "Floating-point precision of the parameters and of "
                         "the computation."),
        "trainable": key(BOOL, True, trainable_doc),
        "seed": key(SEED, None, "Random seed of the parameter initialization; null draws one at "
                    "random."),
    }
