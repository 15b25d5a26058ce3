"""Versions of serialized model dicts, and the chain of small functions that upgrades old ones.

Every component dict (a ``serialize()`` result) carries ``@class`` and ``@version``. When the
serialized layout of a class changes:

1. bump its entry in ``CURRENT_VERSIONS``;
2. register one function that turns the previous version into the new one::

       @register_upgrade("Descriptor", 1)
       def _descriptor_1_to_2(d):
           d["env_protection"] = 0.0  # added in @version 2; 0 reproduces the old behaviour
           return d

``upgrade`` then brings any older dict forward one step at a time. A step receives a private
copy of the component (containers copied, arrays shared: replace arrays, do not edit them in
place), sees its children as they were written, and need not set ``@version``; ``upgrade`` does.
"""

from dptensor import __version__
from dptensor.errors import ModelFileError

# layout of the .dpt archive itself (model.json header, array references); see dpt_file.py
FORMAT_VERSION = 1

# @class -> the @version this dptensor writes and reads. The single source of truth: one line
# per @class. A @class not listed here is passed through unchecked.
CURRENT_VERSIONS = {
    "Model": 1,
    "Descriptor": 2,  # 2: a compressed descriptor's "compress" and tables (dpt compress)
    "Fitting": 1,
    "Network": 1,
}

# (@class, from_version) -> function(dict at from_version) -> dict at from_version + 1
UPGRADES = {}


def register_upgrade(cls_name, from_version):
    """Decorator registering ``func(d) -> d`` as the upgrade of ``cls_name`` from ``from_version``."""
    def decorate(func):
        key = (cls_name, from_version)
        if key in UPGRADES:
            raise ValueError(f"an upgrade of {cls_name} from @version {from_version} is already registered")
        UPGRADES[key] = func
        return func
    return decorate


def _upgrade_hint(writer_version):
    if writer_version:
        return f"upgrade dptensor to {writer_version} or later"
    return "upgrade dptensor"


def check_format_version(format_version, writer_version=None):
    """Raise ``ModelFileError`` unless this dptensor reads archives of ``format_version``.

    ``writer_version`` is the dptensor version that wrote the file (from its header), if known.
    """
    if type(format_version) is not int or format_version < 1:
        raise ModelFileError(f"invalid format_version {format_version!r} in the file header")
    if format_version > FORMAT_VERSION:
        raise ModelFileError(
            f"file format_version {format_version} was written by a newer dptensor (dptensor "
            f"{__version__} reads up to {FORMAT_VERSION}); {_upgrade_hint(writer_version)}")


def upgrade(model_dict, writer_version=None):
    """Return ``model_dict`` with every versioned component upgraded to ``CURRENT_VERSIONS``.

    Walks nested dicts and lists; a dict with ``@class`` is a component. Components are upgraded
    before their children, so each step sees the layout of its own version. The input is not
    modified. Raises ``ModelFileError`` (naming the component's path) for a version newer than
    this dptensor reads, or an old one with no registered upgrade.
    """
    return _upgrade_tree(model_dict, "", writer_version)


def _upgrade_tree(node, path, writer_version):
    if isinstance(node, dict):
        if "@class" in node:
            node = _upgrade_component(node, path, writer_version)
        return {key: _upgrade_tree(value, f"{path}.{key}" if path else key, writer_version)
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_upgrade_tree(value, f"{path}[{i}]", writer_version)
                          for i, value in enumerate(node))
    return node


def _upgrade_component(node, path, writer_version):
    cls_name = node["@class"]
    where = f"{path}: " if path else ""
    if not isinstance(cls_name, str):
        raise ModelFileError(f"{where}@class must be a string, got {cls_name!r}")
    current = CURRENT_VERSIONS.get(cls_name)
    if current is None:
        return node
    version = node.get("@version")
    if type(version) is not int:
        raise ModelFileError(f"{where}{cls_name} has no integer @version (got {version!r})")
    if version > current:
        raise ModelFileError(
            f"{where}{cls_name} @version {version} was written by a newer dptensor (dptensor "
            f"{__version__} reads up to @version {current}); {_upgrade_hint(writer_version)}")
    while version < current:
        step = UPGRADES.get((cls_name, version))
        if step is None:
            raise ModelFileError(
                f"{where}{cls_name} @version {version} is too old: dptensor {__version__} has no "
                f"upgrade from it (reads @version {current})")
        node = step(_copy_containers(node))
        version += 1
        node["@version"] = version
    return node


def _copy_containers(node):
    """Copy dicts and lists recursively; arrays and scalars are shared."""
    if isinstance(node, dict):
        return {key: _copy_containers(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_copy_containers(value) for value in node)
    return node


@register_upgrade("Descriptor", 1)
def _descriptor_1_to_2(d):
    """@version 2 added the tables of ``dpt compress``; a @version 1 descriptor has none."""
    return d
