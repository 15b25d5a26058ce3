"""``dpt train --init-model`` and ``--restart``: the checkpoint must hold the model the input describes.

Both take the checkpoint's weights as they are, so every setting that shapes the networks or the
math (type_map, fitting type, sel, rcut, neuron, ...) must agree with the input; a model of
another type_map or size is fine-tuned instead (``--finetune``). Settings that do not change the
weights' meaning are not compared: seeds, ``set_davg_zero`` and ``rcond`` (statistics come from the
checkpoint). ``trainable`` is compared for ``--restart``, which resumes the optimizer of the same
weights; ``--init-model`` takes the input's.
"""

from dptensor.errors import ModelFileError
from dptensor.model import Model

IGNORED = frozenset({"seed", "set_davg_zero", "rcond"})


def _differences(old, new, where, ignored):
    return [f"{where}.{k}: checkpoint {old.get(k)!r}, input {new.get(k)!r}"
            for k in sorted(set(old) | set(new)) if k not in ignored and old.get(k) != new.get(k)]


def check_same_model(pre, model_config, path, option):
    """``pre`` (the checkpoint's Model) after checking it against the input's ``model`` section
    (normalized, sel resolved); ModelFileError listing every difference with its JSON path."""
    new = Model.from_config(model_config)
    ignored = IGNORED | ({"trainable"} if option == "--init-model" else set())
    problems = []
    if list(pre.type_map) != list(new.type_map):
        problems.append(f"model.type_map: checkpoint {list(pre.type_map)!r}, input {list(new.type_map)!r}")
    if pre.model_type != new.model_type:
        problems.append(f"model.fitting_net.type: checkpoint {pre.model_type!r}, input {new.model_type!r}")
    else:
        problems += _differences(pre.descriptor.config(), new.descriptor.config(), "model.descriptor", ignored)
        problems += _differences(pre.fitting.config(), new.fitting.config(), "model.fitting_net", ignored)
    if problems:
        raise ModelFileError(f"{path}: {option} needs the model that the input describes, and they differ: "
                             + "; ".join(problems)
                             + f". Make the input's model section match the checkpoint's (`dpt show {path} "
                             "type-map descriptor fitting-net` prints it); --finetune starts from a "
                             "model of another type_map")
    if option == "--init-model":
        pre.descriptor.trainable, pre.fitting.trainable = new.descriptor.trainable, new.fitting.trainable
    return pre
