"""``dpt train``: from a normalized input to checkpoints and lcurve.out, on any backend."""

import copy
import json
import logging
import os

from dptensor.errors import InputError, ModelFileError
from dptensor.train.checkpoint import CheckpointManager, resolve_checkpoint
from dptensor.train.lcurve import LCurve
from dptensor.train.loop import TrainingLoop
from dptensor.train.resume import check_same_model
from dptensor.train.setup import prepare, resolve_sel
from dptensor.utils.atomic import atomic_write_text, make_output_dir

log = logging.getLogger("dptensor.train")


def write_out_json(config, output_dir):
    atomic_write_text(os.path.join(output_dir, "out.json"), json.dumps(config, indent=2) + "\n")


def _starting_point(backend, config, base_dir, init_model, restart, finetune):
    """(model or None, checkpoint dict or None, start step, compute stats?)."""
    if restart or init_model:
        path = restart or init_model
        ckpt = backend.read_checkpoint(path)
        _refuse_compressed(ckpt["model"], path)
        sel_written = config["model"]["descriptor"]["sel"]
        resolve_sel(config, base_dir)
        model = check_same_model(ckpt["model"], config["model"], path,
                                 "--restart" if restart else "--init-model", sel_written)
        if restart:
            if config["training"]["numb_steps"] < ckpt["step"]:
                raise InputError(f"training.numb_steps: {config['training']['numb_steps']} is below the "
                                 f"step of {path} ({ckpt['step']}); a restart trains on up to numb_steps")
            log.info("restarting from %s at step %d", path, ckpt["step"])
            return model, ckpt, ckpt["step"], False
        log.info("initializing weights and statistics from %s", path)
        return model, None, 0, False
    if finetune:
        from dptensor.cli.model_files import read_model
        from dptensor.train.finetune import finetune_model

        resolve_sel(config, base_dir)
        pretrained = read_model(finetune)
        _refuse_compressed(pretrained, finetune)
        return finetune_model(pretrained, config, finetune), None, 0, False
    return None, None, 0, True


def finetune_statistics(model, batches):
    """Descriptor statistics for the types new to a fine-tuned model; output statistics
    (energy bias, polar shift) anew for the new data."""
    new_types = model.meta.pop("finetune_new_types", [])
    if new_types:
        from dptensor.model.descriptor import DescrptSeA

        probe = DescrptSeA.deserialize(copy.deepcopy(model.descriptor.serialize()))
        probe.compute_stats(batches)
        for key in ("davg", "dstd"):
            model.descriptor.variables[key][new_types] = probe.variables[key][new_types]
    model.fitting.compute_stats(batches)


def _refuse_compressed(model, path):
    """A compressed model's embedding is a table (``dpt compress``), which training cannot update."""
    if model is not None and model.descriptor.compress is not None:
        raise ModelFileError(f"{path}: the model is compressed (dpt compress), and a compressed model "
                         "cannot be trained; start from the model before compression")


def train(backend, config, output_dir=".", base_dir=".", init_model=None, restart=None, finetune=None):
    """Train; returns the final reference Model. ``config`` is normalized and validated."""
    config = copy.deepcopy(config)
    restart, init_model = (resolve_checkpoint(p) if p else None for p in (restart, init_model))
    model, ckpt, start, fresh_stats = _starting_point(backend, config, base_dir, init_model, restart,
                                                               finetune)
    setup = prepare(config, base_dir=base_dir, model=model, compute_stats=fresh_stats)
    if finetune:
        finetune_statistics(setup.model, setup.train_data.stat_batches(config["model"]["data_stat_nbatch"]))
    setup.model.meta.update({"hessian": bool(setup.loss.needs_hessian),
                             "config": {k: config[k] for k in ("model", "loss", "learning_rate")}})
    log.info("training data:\n%s", setup.train_data.summary())
    if setup.valid_data is not None:
        log.info("validation data:\n%s", setup.valid_data.summary())
    make_output_dir(output_dir)
    write_out_json(config, output_dir)
    training = config["training"]
    session = backend.create_session(setup.model, setup.loss, config, checkpoint=ckpt)
    lcurve = LCurve(os.path.join(output_dir, training["disp_file"]), setup.loss.columns,
                    setup.valid_data is not None, append=bool(restart))
    manager = CheckpointManager(output_dir, training["save_ckpt"], backend.ckpt_suffix,
                                training["max_ckpt_keep"])
    valid = training.get("validation_data") or {}
    loop = TrainingLoop(session, setup.loss, setup.lr, setup.train_data, setup.valid_data, lcurve, manager,
                        training["numb_steps"], training["disp_freq"], training["save_freq"],
                        numb_btch=valid.get("numb_btch", 1), start_step=start,
                        resumed_from=restart)
    loop.run()
    return session.reference_model()
