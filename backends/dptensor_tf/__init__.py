"""TensorFlow backend of dptensor: runs the reference math on TF tensors, adds tape derivatives
(forces, virial, Hessian), the trainer and SavedModel freezing.

Importing this package does not import TensorFlow (``dpt --help`` stays fast); it only sets
``TF_CPP_MIN_LOG_LEVEL`` (unless the user did) so that TensorFlow's C++ start-up notices stay
quiet once a submodule imports it. Thread counts are applied by ``dptensor_tf.env``."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
