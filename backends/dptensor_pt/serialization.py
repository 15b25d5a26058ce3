"""Reference models <-> the dict stored in PyTorch files (arrays as tensors, so that
``torch.load(weights_only=True)`` reads them)."""

import numpy as np
import torch

from dptensor.errors import ModelFileError
from dptensor.model import Model
from dptensor.model.pytree import map_leaves


def model_to_torch_dict(model: Model):
    return map_leaves(lambda x: torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x,
                      model.serialize())


def model_from_torch_dict(data):
    return Model.deserialize(map_leaves(lambda x: x.numpy() if isinstance(x, torch.Tensor) else x, data))


def load_checkpoint(path):
    """The dict of a dptensor PyTorch checkpoint; one clear error for anything else."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such checkpoint file") from None
    except Exception as exc:  # torch raises many kinds for a file that is not its own
        raise ModelFileError(f"{path}: not a dptensor PyTorch checkpoint ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != "dptensor-pt-checkpoint":
        raise ModelFileError(f"{path}: not a dptensor PyTorch checkpoint")
    return data
