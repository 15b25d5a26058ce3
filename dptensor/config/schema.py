"""The whole input schema, assembled from the component fragments."""

import copy

from dptensor.config.fragment import component, key
from dptensor.config.learning_rate import LEARNING_RATE
from dptensor.config.loss import LOSS
from dptensor.config.model import MODEL
from dptensor.config.training import TRAINING

DIALECT = "https://json-schema.org/draft/2020-12/schema"

OPTIMIZER = component(
    "Optimizer: Adam with beta1 = 0.9, beta2 = 0.999, eps = 1e-8 and no weight decay (the same "
    "update in every backend).",
    {"type": key({"type": "string", "enum": ["Adam"]}, "Adam", "Kind of optimizer.")},
    default={"type": "Adam"},
    unsupported_unless={"adam_beta1": 0.9, "adam_beta2": 0.999, "weight_decay": 0.0},
)

ROOT = component(
    "Input of `dpt train` (DeePMD-kit 3.2 input.json compatible).",
    {"model": MODEL, "learning_rate": LEARNING_RATE, "loss": LOSS, "training": TRAINING,
     "optimizer": OPTIMIZER},
    ignored=["validating"],
)


def build_schema() -> dict:
    """The JSON schema (Draft 2020-12) of a normalized input; a fresh copy the caller may change."""
    schema = {"$schema": DIALECT, "title": "dptensor input", **copy.deepcopy(ROOT)}
    return schema
