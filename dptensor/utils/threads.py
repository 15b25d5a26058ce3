"""Thread counts for the backends' frameworks, from the environment (read by each backend).

    DPT_INTRA_OP_THREADS   threads inside one op (matrix products, reductions)
    DPT_INTER_OP_THREADS   ops run concurrently

Unset or empty: the framework's own choice. 0 also means the framework's choice.
"""

import logging
import os

INTRA_ENV = "DPT_INTRA_OP_THREADS"
INTER_ENV = "DPT_INTER_OP_THREADS"

log = logging.getLogger("dptensor")


def thread_setting(name, framework):
    """The thread count (>= 0) in env ``name``; None when unset, empty or invalid (warned)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        log.warning("%s=%r is not a non-negative integer; using %s's default", name, raw, framework)
        return None
    return value
