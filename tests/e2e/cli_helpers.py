"""End-to-end helpers: tiny inputs on the fixture systems, and running ``dpt`` in-process."""

import json
import os

from dptensor.cli.main import main

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "data")

TINY_DESCRIPTOR = {"type": "se_e2_a", "sel": [8, 16], "rcut": 3.0, "rcut_smth": 2.5, "neuron": [4, 8],
                   "axis_neuron": 2, "type_one_side": True, "seed": 1}


def tiny_input(fitting, loss, train, valid=None, steps=4, type_map=("O", "H"), descriptor=None):
    """An input.json dict for a few steps on fixture systems (paths relative to the run folder)."""
    cfg = {
        "model": {"type_map": list(type_map), "descriptor": dict(descriptor or TINY_DESCRIPTOR),
                  "fitting_net": {"neuron": [8, 8], "seed": 1, **fitting}},
        "learning_rate": {"type": "exp", "start_lr": 0.001, "stop_lr": 1e-5, "decay_steps": 2},
        "loss": loss,
        "training": {"training_data": {"systems": list(train), "batch_size": 1},
                     "numb_steps": steps, "seed": 7, "disp_freq": 2, "save_freq": 2},
    }
    if valid:
        cfg["training"]["validation_data"] = {"systems": list(valid), "batch_size": 1, "numb_btch": 1}
    return cfg


def write_input(path, cfg):
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    return str(path)


def dpt(*args):
    """Run the CLI in-process; returns the exit status."""
    return main([str(a) for a in args])


def read_lcurve(path):
    with open(path) as fh:
        header = fh.readline().lstrip("#").split()
        rows = [[float(x) for x in line.split()] for line in fh if line.strip()]
    return header, rows
