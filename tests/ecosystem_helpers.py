"""Helpers of the ecosystem tests (ASE calculator, dpdata driver, plots, ``dpt show``).

Tiny untrained float64 models (``model_fixtures``) saved as ``.dpt`` and evaluated through the
PyTorch backend, one torch thread (tiny tensors on a shared machine: extra threads only contend).
"""

import os
import struct

import pytest
from model_fixtures import make_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# model type -> make_model keywords: a dipole and polar model whose tensors sit on O only
KINDS = {"ener": {}, "dipole": {"fitting": {"sel_type": [0]}},
         "polar": {"fitting": {"sel_type": [0], "fit_diag": False}}}


@pytest.fixture(scope="module")
def one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def save_model(folder, kind="ener"):
    """A tiny model of ``kind`` written as ``<folder>/<kind>.dpt``; returns the path."""
    from dptensor.io import save_dpt

    path = os.path.join(str(folder), f"{kind}.dpt")
    save_dpt(path, make_model(kind, **KINDS[kind]).serialize())
    return path


def png_size(path):
    """(width, height) of a PNG file; AssertionError unless it is a complete, decodable PNG."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"
    width, height = struct.unpack(">II", head[16:24])
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decodes every pixel: fails on a truncated or corrupt file
        assert img.size == (width, height)
    return width, height
