"""TensorFlow process settings, applied once before the first op runs.

    DPT_INTRA_OP_THREADS   threads inside one op (matmul, reductions)      default: TensorFlow's
    DPT_INTER_OP_THREADS   ops run concurrently                            default: TensorFlow's
    DPT_TF_XLA             1: compile training steps with XLA              default: 0

XLA makes a training step about 25-30% faster on CPU (water dipole example: 0.019 instead of
0.026 s/step) but compiles each batch layout (system) for several seconds first, which costs
more than it saves in short runs and with many differently sized systems; hence opt-in.

Every module of this backend imports TensorFlow through ``from dptensor_tf.env import tf`` so
these settings come first. They can only be set before TensorFlow's runtime starts; if the user's
own code already ran TF ops, the current settings stay and a warning says so.
"""

import logging
import os

# before TensorFlow is imported (also set by the package's __init__, which an editable install
# made before __init__.py existed treats as a namespace package and never runs)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dptensor.utils.threads import INTER_ENV, INTRA_ENV, thread_setting  # noqa: E402
from dptensor_tf.lean_import import import_tensorflow  # noqa: E402

tf = import_tensorflow()

log = logging.getLogger("dptensor.tf")

XLA_ENV = "DPT_TF_XLA"


def configure_threads():
    """Apply DPT_INTRA_OP_THREADS / DPT_INTER_OP_THREADS (0 means TensorFlow chooses)."""
    for name, setter in ((INTRA_ENV, tf.config.threading.set_intra_op_parallelism_threads),
                         (INTER_ENV, tf.config.threading.set_inter_op_parallelism_threads)):
        value = thread_setting(name, "TensorFlow")
        if value is None:
            continue
        try:
            setter(value)
        except RuntimeError:  # the runtime is already initialized
            log.warning("%s ignored: TensorFlow was already running when dptensor_tf was imported", name)


def use_xla():
    """True when DPT_TF_XLA asks for XLA-compiled training steps."""
    return os.environ.get(XLA_ENV, "").strip().lower() in ("1", "true", "yes", "on")


configure_threads()

__all__ = ["tf", "configure_threads", "use_xla", "INTRA_ENV", "INTER_ENV"]
