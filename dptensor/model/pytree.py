"""Nested dicts/lists of arrays (a model's ``variables``) flattened to path -> array and back.

Paths join keys and list indices with '/', e.g. ``descriptor/embeddings/0/layers/1/w``.
"""

SEP = "/"


def flatten(tree, prefix=""):
    """dict path -> leaf, in a deterministic order (dict insertion order, list order)."""
    out = {}
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    for k, v in items:
        out.update(flatten(v, f"{prefix}{SEP}{k}" if prefix else str(k)))
    return out


def unflatten(flat, template):
    """Rebuild ``template``'s nesting with leaves taken from ``flat`` (same paths)."""

    def build(node, prefix):
        if isinstance(node, dict):
            return {k: build(v, f"{prefix}{SEP}{k}" if prefix else str(k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [build(v, f"{prefix}{SEP}{i}" if prefix else str(i)) for i, v in enumerate(node)]
        return flat[prefix]

    return build(template, "")


def map_leaves(fn, tree):
    if isinstance(tree, dict):
        return {k: map_leaves(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [map_leaves(fn, v) for v in tree]
    return fn(tree)


def copy_arrays(tree):
    """A deep copy of a tree of numpy arrays (serialized dicts never alias a live model)."""
    import numpy as np

    return map_leaves(lambda x: np.array(x, copy=True), tree)


def is_trainable_path(path):
    """Network weights, biases and timesteps are trained; statistics (davg, dstd, biases per type,
    shifts) are set from data."""
    return f"{SEP}layers{SEP}" in path
