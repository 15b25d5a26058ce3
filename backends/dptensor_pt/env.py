"""PyTorch process settings from the environment, applied when the backend first trains or
evaluates (see ``dptensor.utils.threads``):

    DPT_INTRA_OP_THREADS  -> torch.set_num_threads
    DPT_INTER_OP_THREADS  -> torch.set_num_interop_threads (only before PyTorch's inter-op pool
                             has started; else a warning says the setting is ignored)
"""

import logging

import torch

from dptensor.utils.threads import INTER_ENV, INTRA_ENV, thread_setting

log = logging.getLogger("dptensor.pt")
_configured = False


def configure_threads():
    """Apply the two settings once per process (0 or unset: PyTorch's own choice)."""
    global _configured
    if _configured:
        return
    _configured = True
    intra = thread_setting(INTRA_ENV, "PyTorch")
    if intra:
        torch.set_num_threads(intra)
    inter = thread_setting(INTER_ENV, "PyTorch")
    if inter:
        try:
            torch.set_num_interop_threads(inter)
        except RuntimeError:  # the inter-op pool is already running
            log.warning("%s ignored: PyTorch's inter-op threads had already started", INTER_ENV)
