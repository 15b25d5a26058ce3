"""Find backends by name or file suffix through the ``dptensor.backends`` entry points."""

import os
from functools import lru_cache
from importlib.metadata import entry_points

from dptensor.errors import DptError

GROUP = "dptensor.backends"
DEFAULT = "pt"


@lru_cache(maxsize=None)
def _entry_points():
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _load(name):
    """The backend class of an entry point; None when its package cannot be imported."""
    try:
        return _entry_points()[name].load()
    except ImportError:
        return None


def resolve_name(name=None):
    """Canonical backend name for `name`, $DPT_BACKEND, or the default."""
    name = (name or os.environ.get("DPT_BACKEND") or DEFAULT).lower()
    eps = _entry_points()
    if name not in eps or _load(name) is None:
        known = ", ".join(sorted(eps)) or "none (is dptensor installed?)"
        raise DptError(f"unknown backend '{name}'; known backends: {known}")
    return _load(name).name


def get_backend(name=None, require=True):
    """The backend instance for a name or alias; raises with the extra to install if missing."""
    cls = _load(resolve_name(name))
    if require:
        cls.require()
    return cls()


def available_backends():
    """Canonical names of registered backends whose framework is installed."""
    seen = {}
    for name in _entry_points():
        cls = _load(name)
        if cls is not None:
            seen.setdefault(cls.name, cls)
    return sorted(n for n, cls in seen.items() if cls.is_available())


def backend_for_file(path, require=True):
    """The backend that owns a model file, chosen by its suffix."""
    path = str(path)
    for name in _entry_points():
        cls = _load(name)
        if cls is not None and any(path.endswith(s) for s in cls.suffixes):
            if require:
                cls.require()
            return cls()
    raise DptError(f"{path}: no backend owns this file suffix")
