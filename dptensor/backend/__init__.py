"""Backends: a small base class and a registry fed by the ``dptensor.backends`` entry-point group."""

from dptensor.backend.base import Backend
from dptensor.backend.registry import available_backends, backend_for_file, get_backend, resolve_name

__all__ = ["Backend", "available_backends", "backend_for_file", "get_backend", "resolve_name"]
