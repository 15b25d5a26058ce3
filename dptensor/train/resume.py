"""``dpt train --init-model`` and ``--restart``: the checkpoint must hold the model the input describes.

Both take the checkpoint's weights as they are, so every setting that shapes the networks or the
math (type_map, fitting type, sel, rcut, neuron, ...) must agree with the input; a model of
another type_map is fine-tuned instead (``--finetune``). Settings that do not change the weights'
meaning are not compared: seeds, ``set_davg_zero`` and ``rcond`` (statistics come from the
checkpoint), and keys that follow from others (``ntypes``, ``dim_descrpt``, ``dim_emb``).
``trainable`` is compared for ``--restart``, which resumes the optimizer of the same weights;
``--init-model`` takes the input's.
"""

from dptensor.errors import ModelFileError
from dptensor.model import Model
from dptensor.model.model import DERIVED_KEYS
from dptensor.train.finetune import config_differences

IGNORED = frozenset({"seed", "set_davg_zero", "rcond", *DERIVED_KEYS})


def _compared(old, new, where, ignored):
    keys = sorted((set(old) | set(new)) - ignored)
    return config_differences(old, new, where, "checkpoint", keys)


def _problems(pre, new, ignored, sel_written):
    """Every difference between the checkpoint's model and the input's, with its JSON path."""
    problems = []
    if list(pre.type_map) != list(new.type_map):
        problems.append(f"model.type_map: checkpoint {list(pre.type_map)!r}, input {list(new.type_map)!r}")
    for diff in _compared(pre.descriptor.config(), new.descriptor.config(), "model.descriptor", ignored):
        if diff.startswith("model.descriptor.sel:") and isinstance(sel_written, str):
            diff += (f" (resolved from {sel_written!r} on the training data; write the checkpoint's sel "
                     "in the input)")
        problems.append(diff)
    if pre.model_type != new.model_type:
        problems.append(f"model.fitting_net.type: checkpoint {pre.model_type!r}, input {new.model_type!r}")
    else:
        problems += _compared(pre.fitting.config(), new.fitting.config(), "model.fitting_net", ignored)
    return problems


def check_same_model(pre, model_config, path, option, sel_written=None):
    """``pre`` (the checkpoint's Model) after checking it against the input's ``model`` section
    (normalized, sel resolved; ``sel_written``: the sel as the input gave it, e.g. "auto");
    ModelFileError listing every difference with its JSON path."""
    new = Model.from_config(model_config)
    ignored = IGNORED | ({"trainable"} if option == "--init-model" else set())
    problems = _problems(pre, new, ignored, sel_written)
    if problems:
        hint = (f"Make the input's model section match the checkpoint's (`dpt show {path} type-map "
                "descriptor fitting-net` prints it)")
        if list(pre.type_map) != list(new.type_map):
            hint += "; --finetune starts from a model of another type_map"
        raise ModelFileError(f"{path}: {option} needs the model that the input describes, and they "
                             f"differ: {'; '.join(problems)}. {hint}")
    if option == "--init-model":
        pre.descriptor.trainable, pre.fitting.trainable = new.descriptor.trainable, new.fitting.trainable
    return pre
