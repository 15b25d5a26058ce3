"""Everything training needs before step 0, independent of the backend: data, model, statistics,
loss and learning rate, from a normalized input."""

import logging
from dataclasses import dataclass

from dptensor.data import keys
from dptensor.data.batch import DataSystemSet
from dptensor.data.neighbor import resolve_auto_sel
from dptensor.data.shapes import tensor_labels_of
from dptensor.data.system import find_systems, load_system, resolve_path
from dptensor.errors import DataError
from dptensor.model import Model
from dptensor.model.output_def import tensor_output
from dptensor.train.loss import make_loss
from dptensor.train.lr import ExpDecayLR

log = logging.getLogger("dptensor.train")


@dataclass
class TrainingSetup:
    config: dict
    model: Model
    loss: object
    lr: ExpDecayLR
    train_data: DataSystemSet
    valid_data: DataSystemSet | None


def _sel_type(config):
    fit = config["model"]["fitting_net"]
    return fit.get("sel_type")


def _center_types(config):
    """The atom types a tensor model evaluates (its sel_type); None for energy models, whose
    forces need every atom's environment."""
    return None if config["model"]["fitting_net"].get("type", "ener") == "ener" else _sel_type(config)


def _tensor_labels(config):
    """The data labels of a ``tensor`` fitting (<label>.npy, atomic_<label>.npy), else ()."""
    fit = config["model"]["fitting_net"]
    if fit.get("type") != "tensor":
        return ()
    return tensor_labels_of(tensor_output(fit["label"], fit["rank"]))


def section_paths(section, base_dir):
    """The systems of a data section: DeePMD folders/HDF5 are searched (``find_systems``); with a
    dpdata ``fmt`` every entry is one file or folder of that format, used as it is."""
    if not section.get("fmt"):
        return find_systems(section["systems"], base_dir=base_dir)
    entries = section["systems"]
    entries = [entries] if isinstance(entries, str) else list(entries)
    return [resolve_path(e, base_dir) for e in entries]


def load_data_section(section, config, base_dir, seed):
    """A DataSystemSet for ``training_data`` or ``validation_data``."""
    type_map = config["model"]["type_map"]
    desc = config["model"]["descriptor"]
    paths = section_paths(section, base_dir)
    systems = [load_system(p, type_map, sel_type=_sel_type(config), fmt=section.get("fmt"),
                           tensor_labels=_tensor_labels(config)) for p in paths]
    return DataSystemSet(systems, section["batch_size"], desc["rcut"], desc["sel"], seed=seed,
                         auto_prob=section.get("auto_prob", "prob_sys_size"),
                         sys_probs=section.get("sys_probs"), center_types=_center_types(config))


def resolve_sel(config, base_dir):
    """Replace ``sel: "auto[:factor]"`` by per-type counts from the training systems (in place)."""
    desc = config["model"]["descriptor"]
    if isinstance(desc["sel"], str):
        section = config["training"]["training_data"]
        type_map = config["model"]["type_map"]
        systems = [load_system(p, type_map, fmt=section["fmt"]) if section.get("fmt") else p
                   for p in section_paths(section, base_dir)]
        desc["sel"] = resolve_auto_sel(desc["sel"], systems, desc["rcut"], type_map)
        log.info("sel resolved from the training data: %s", desc["sel"])


def check_labels(loss, data, name):
    """Every active loss term must be taught by at least one system; say which are not."""
    have = data.label_kinds()
    wanted = loss.label_keys()
    missing = [k for k in wanted if k not in have]
    if missing and len(missing) == len(wanted):
        raise DataError(f"{name}: no system has any label the loss needs ({', '.join(wanted)}); "
                        f"labels found: {', '.join(sorted(have)) or 'none'}")
    for k in missing:
        log.warning("%s: no system has '%s'; its loss term contributes nothing", name, k)


def prepare(config, base_dir=".", model=None, compute_stats=True):
    """Build the TrainingSetup; ``model`` (e.g. from --init-model) replaces a fresh one."""
    training = config["training"]
    seed = training.get("seed")
    resolve_sel(config, base_dir)
    train_data = load_data_section(training["training_data"], config, base_dir, seed)
    valid = training.get("validation_data")
    valid_data = load_data_section(valid, config, base_dir, seed) if valid else None
    if model is None:
        model = Model.from_config(config["model"])
    loss = make_loss(config["loss"], config["learning_rate"], model)
    check_labels(loss, train_data, "training_data")
    if compute_stats:
        nbatch = config["model"].get("data_stat_nbatch", 10)
        model.compute_stats(train_data.stat_batches(nbatch))
    lr = ExpDecayLR.from_config(config["learning_rate"], training["numb_steps"])
    return TrainingSetup(config, model, loss, lr, train_data, valid_data)


__all__ = ["TrainingSetup", "prepare", "keys"]
