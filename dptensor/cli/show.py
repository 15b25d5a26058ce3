"""``dpt show MODEL ATTRIBUTE...``: what a model file holds, for the files of every backend.

    dpt show frozen_model.pth type-map descriptor fitting-net size steps
"""

import json
import os

ATTRIBUTES = ("type-map", "descriptor", "fitting-net", "size", "steps")


def add_parser(subparsers):
    """Register the ``show`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "show", help="print what a model file holds (type map, networks, size, steps)",
        description="Print the chosen attributes of a model file of any kind: .dpt, PyTorch "
        "(.pt checkpoint, .pth frozen), TensorFlow (.tfckpt checkpoint, .savedmodel frozen), or "
        "a training folder (its latest checkpoint).")
    p.add_argument("model", help="model file, or a training folder with a 'checkpoint' file")
    p.add_argument("attributes", nargs="+", choices=ATTRIBUTES, metavar="ATTRIBUTE",
                   help=f"one or more of: {', '.join(ATTRIBUTES)}")
    p.set_defaults(func=run)
    return p


def load(path):
    """(reference Model, training step or None, kind of file, the file read) of any model file,
    or of the latest checkpoint of a training folder."""
    from dptensor.errors import ModelFileError

    path = str(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file or folder")
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "checkpoint")):
        from dptensor.train.checkpoint import resolve_checkpoint

        path = resolve_checkpoint(path)
    if path.endswith(".dpt"):
        from dptensor.cli.model_files import read_model

        return read_model(path), None, "neutral .dpt file", path
    from dptensor.backend import backend_for_file

    backend = backend_for_file(path)
    if path.endswith(backend.ckpt_suffix) and backend.ckpt_suffix != backend.frozen_suffix:
        ckpt = backend.read_checkpoint(path)
        return ckpt["model"], int(ckpt["step"]), f"{backend.full_name} checkpoint", path
    return backend.load_model(path), None, f"{backend.full_name} frozen model", path


def component_config(component):
    """A descriptor's or fitting's settings as they would read in input.json (type first)."""
    from dptensor.model.model import DERIVED_KEYS

    kind = component.serialize().get("type")
    cfg = {k: v for k, v in component.config().items() if k not in DERIVED_KEYS}
    return {"type": kind, **cfg} if kind else cfg


def count_values(tree):
    """(trained values, statistics values) of a variables tree (see ``pytree``)."""
    import numpy as np

    from dptensor.model.pytree import flatten, is_trainable_path

    trained = stats = 0
    for path, leaf in flatten(tree).items():
        if is_trainable_path(path):
            trained += int(np.size(leaf))
        else:
            stats += int(np.size(leaf))
    return trained, stats


def file_bytes(path):
    """Size on disk of a file, or of every file under a folder (a SavedModel)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def describe_size(model, path):
    d_trained, d_stats = count_values(model.descriptor.variables)
    f_trained, f_stats = count_values(model.fitting.variables)
    return (f"{d_trained + f_trained:,} trained parameters (descriptor {d_trained:,}, fitting net "
            f"{f_trained:,}) and {d_stats + f_stats:,} statistics values; "
            f"file {file_bytes(path) / 1024:.1f} KiB")


def settings_block(cfg):
    """{key: value} -> one indented ``key: value`` line per key, values as JSON (``null``,
    ``[8, 16]``), keys aligned."""
    width = max((len(k) for k in cfg), default=0)
    return "\n".join(f"  {k + ':':<{width + 1}} {json.dumps(v, default=str)}"
                     for k, v in cfg.items())


def show_lines(model, step, kind, path, attributes):
    """The printed text: a title line, then one entry per attribute, in the order asked."""
    lines = [f"{path}: {kind}, {model.model_type} model"]
    for attr in attributes:
        if attr == "type-map":
            lines.append(f"type-map: {' '.join(model.type_map)}")
        elif attr == "descriptor":
            lines.append(f"descriptor:\n{settings_block(component_config(model.descriptor))}")
        elif attr == "fitting-net":
            lines.append(f"fitting-net:\n{settings_block(component_config(model.fitting))}")
        elif attr == "size":
            lines.append(f"size: {describe_size(model, path)}")
        elif attr == "steps":
            lines.append(f"steps: {step}" if step is not None else
                         f"steps: not recorded (a {kind} keeps no training step; the "
                         "checkpoint it was made from does)")
    return lines


def run(args) -> int:
    model, step, kind, path = load(args.model)
    print("\n".join(show_lines(model, step, kind, path, args.attributes)))
    return 0
