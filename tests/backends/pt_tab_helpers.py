"""Fixtures shared by the tests of the PyTorch table kernels (tab_eval, tab_contract): the
kernel built (or the reason it cannot be), and tables of real embedding nets."""

import shutil

import pytest
import torch

from dptensor.model.network import Network
from dptensor.model.tabulate import build_table, make_grid
from dptensor.utils import native_build
from dptensor_pt import native


@pytest.fixture(scope="module")
def kernel():
    if shutil.which(native_build.compiler()) is None:
        pytest.skip(f"no C++ compiler ({native_build.compiler()}) to build the kernel with")
    if not native.enabled():
        pytest.skip(f"{native.NATIVE_ENV}=0 turns the kernel off")
    assert native.load(), "the PyTorch kernel did not build (see the log)"


def net_table(neuron, grid):
    net = Network(1, neuron, None, "tanh", False, "float64", seed=1)
    return build_table(net, net.variables, grid)


@pytest.fixture(scope="module")
def table():
    """(coef 1400 x 6 x 100 float64, grid): the table of a real embedding net."""
    grid = make_grid(-1.0, 9.0, 0.01, 5, 10)
    return net_table([25, 50, 100], grid), grid


@pytest.fixture(scope="module")
def small_table():
    """A 40-interval table of a 4-8 net on [-1, 2], extrapolated to 5."""
    grid = make_grid(-1.0, 2.0, 0.1, 2, 3)
    return torch.tensor(net_table([4, 8], grid)), grid
