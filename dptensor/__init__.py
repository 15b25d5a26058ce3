"""dptensor: Deep Potential models (energy, dipole, polarizability) on DeePMD-format data.

The core package is numpy-only; PyTorch and TensorFlow live in the backend packages
``dptensor_pt`` and ``dptensor_tf``, found through the ``dptensor.backends`` entry-point group.
"""

__version__ = "0.1.0"
