"""Thread counts of the PyTorch backend from the environment, as for TensorFlow."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

CODE = """
import torch
from dptensor.backend.registry import get_backend
from model_fixtures import make_model
before = torch.get_num_threads(), torch.get_num_interop_threads()
get_backend("pt").model_evaluator(make_model("ener"))
print(*before, torch.get_num_threads(), torch.get_num_interop_threads())
"""


def _threads_after_evaluator(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("DPT_INTRA_OP_THREADS", "DPT_INTER_OP_THREADS")}
    full.update({"OMP_NUM_THREADS": "2", **env})
    full["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(__file__)), full.get("PYTHONPATH", "")])
    res = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=full, timeout=300,
                         check=True)
    return [int(x) for x in res.stdout.split()]


def test_threads_from_environment():
    assert _threads_after_evaluator(DPT_INTRA_OP_THREADS="1", DPT_INTER_OP_THREADS="3")[2:] == [1, 3]


@pytest.mark.parametrize("env", [{}, {"DPT_INTRA_OP_THREADS": "0", "DPT_INTER_OP_THREADS": "0"}])
def test_unset_or_zero_keeps_pytorchs_choice(env):
    before_intra, before_inter, intra, inter = _threads_after_evaluator(**env)
    assert (intra, inter) == (before_intra, before_inter)
