"""Backend glue of the consistency suite: one small adapter per backend, nothing else.

Every test that asks for ``backend_runner`` runs once per backend that ``available_backends()``
lists (a backend whose framework is not installed is not listed). The runner has one signature
for all backends::

    run(model, coord, atype, nlist, shift, derivatives=True, hessian=False, mirror=None, widths=None)
        -> {key: np.ndarray}

with numpy inputs (nf frames; see ``dptensor.data.keys``) and numpy outputs under the keys of
``dptensor.data.keys`` (P_*). A new backend needs one adapter in ``ADAPTERS``; the tests do not
change.
"""

from importlib.metadata import entry_points

import numpy as np
import pytest

from dptensor.backend.registry import GROUP, available_backends


def _run_pt(model, coord, atype, nlist, shift, derivatives=True, hessian=False, mirror=None, widths=None):
    import torch

    from dptensor_pt.model import TorchModel

    module = TorchModel(model)
    args = [torch.from_numpy(np.ascontiguousarray(x)) for x in (coord, atype, nlist, shift)]
    mirror = None if mirror is None else torch.from_numpy(mirror)
    out = module(*args, derivatives=derivatives, hessian=hessian, mirror=mirror, widths=widths)
    return {k: v.detach().cpu().numpy() for k, v in out.items()}


def _run_tf(model, coord, atype, nlist, shift, derivatives=True, hessian=False, mirror=None, widths=None):
    from dptensor_tf.model import TFModel

    out = TFModel(model)(coord, atype, nlist, shift, derivatives=derivatives, hessian=hessian,
                         mirror=mirror, widths=widths)
    return {k: v.numpy() for k, v in out.items()}


ADAPTERS = {"pt": _run_pt, "tf": _run_tf}


def _backend_names():
    """(names to test, the registry's error or None). If ``available_backends()`` itself fails
    (an entry point whose module cannot be imported), the backends that do load are still
    tested here and ``test_registry_lists_backends`` reports the failure."""
    try:
        return available_backends(), None
    except Exception as exc:
        names = set()
        for ep in entry_points(group=GROUP):
            try:
                cls = ep.load()
            except Exception:
                continue
            if cls.is_available():
                names.add(cls.name)
        return sorted(names), exc


BACKENDS, REGISTRY_ERROR = _backend_names()


def pytest_generate_tests(metafunc):
    if "backend_name" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", BACKENDS, ids=[f"backend={n}" for n in BACKENDS])


@pytest.fixture
def backend_runner(backend_name):
    """The ``run`` function of one backend (see the module docstring)."""
    if backend_name not in ADAPTERS:
        pytest.fail(f"backend {backend_name!r} is registered and installed but the consistency "
                    f"suite has no adapter for it: add a run function to ADAPTERS in "
                    f"tests/consistency/conftest.py", pytrace=False)
    return ADAPTERS[backend_name]
