"""The serialized form every component shares (STYLE.md, item 4): a plain dict with ``@class``,
``type``, ``@version``, the constructor's keyword arguments (``config()``) and the arrays under
``@variables`` (copied, so a serialized dict never aliases a live component)."""

from dptensor.model.pytree import copy_arrays

HEADER = ("@class", "type", "@version")


class Serializable:
    serial_class = ""  # the "@class" entry, e.g. "Descriptor"
    serial_version = 1

    def serial_type(self):
        """The "type" entry, e.g. "se_e2_a"."""
        return self.serial_class.lower()

    def serialize(self):
        return {"@class": self.serial_class, "type": self.serial_type(), "@version": self.serial_version,
                **self.config(), "@variables": copy_arrays(self.variables)}

    @classmethod
    def deserialize(cls, data):
        kwargs = {k: v for k, v in data.items() if k not in HEADER}
        variables = kwargs.pop("@variables")
        return cls(**kwargs, variables=variables)
