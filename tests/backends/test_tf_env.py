"""Process settings of the TensorFlow backend: thread counts from the environment, quiet logs,
no TensorFlow import for listing backends, and TensorFlow and PyTorch working in one process."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                          timeout=300, check=True)


def test_threads_from_environment_and_quiet_start():
    code = ("import dptensor_tf.env as e, tensorflow as tf\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads(), tf.reduce_sum(tf.ones(3)).numpy())")
    res = _run(code, DPT_INTRA_OP_THREADS="1", DPT_INTER_OP_THREADS="2")
    assert res.stdout.split() == ["1", "2", "3.0"]
    assert "cpu_feature_guard" not in res.stderr  # TensorFlow's start-up notices are off


def test_bad_thread_counts_fall_back(monkeypatch, caplog):
    from dptensor.utils.threads import INTRA_ENV, thread_setting

    for value, want in (("many", None), ("-2", None), ("", None), (" 3 ", 3), ("0", 0)):
        monkeypatch.setenv(INTRA_ENV, value)
        assert thread_setting(INTRA_ENV, "TensorFlow") == want, value
    assert "DPT_INTRA_OP_THREADS='many'" in caplog.text and "TensorFlow's default" in caplog.text


def test_backend_listing_does_not_import_tensorflow():
    res = _run("import sys\nfrom dptensor.backend.registry import available_backends, get_backend\n"
               "assert 'tf' in available_backends()\n"
               "b = get_backend('tensorflow')\n"
               "print(b.name, b.frozen_suffix, b.ckpt_suffix, 'tensorflow' in sys.modules)")
    assert res.stdout.split() == ["tf", ".savedmodel", ".tfckpt", "False"]


@pytest.mark.parametrize("order", ["torch-first", "tf-first"])
def test_tensorflow_and_torch_in_one_process(order):
    pytest.importorskip("torch")
    imports = ["import torch", "import dptensor_tf.ops"]
    if order == "tf-first":
        imports.reverse()
    code = "\n".join(imports + [
        "import torch, tensorflow as tf",
        "a = torch.ones(64, 64, dtype=torch.float64) @ torch.ones(64, 64, dtype=torch.float64)",
        "b = tf.matmul(tf.ones((64, 64), tf.float64), tf.ones((64, 64), tf.float64))",
        "print(float(a.sum()), float(tf.reduce_sum(b)))"])
    assert _run(code).stdout.split() == ["262144.0", "262144.0"]


LEAN_CODE = """import importlib.util, sys
import dptensor_tf.env
from dptensor_tf.lean_import import OPTIONAL
present = [m for m in OPTIONAL if importlib.util.find_spec(m) is not None]
print(' '.join(m for m in present if m in sys.modules) or '-')
import h5py, scipy.sparse
print(dptensor_tf.env.tf.reduce_sum(dptensor_tf.env.tf.ones(3)).numpy(), 'h5py' in sys.modules)
"""


def test_tensorflow_imports_without_optional_packages():
    """Keras's optional imports (matplotlib, IPython, scipy, h5py) stay out while TensorFlow
    imports, import normally afterwards, and come back with DPT_TF_LEAN_IMPORT=0."""
    lean = _run(LEAN_CODE).stdout.split()
    assert lean == ["-", "3.0", "True"]
    plain = _run(LEAN_CODE, DPT_TF_LEAN_IMPORT="0").stdout.split()
    assert "h5py" in plain[:-2]  # TensorFlow's legacy Keras imports h5py, a TensorFlow dependency
