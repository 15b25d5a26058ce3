"""The neutral model file (``.dpt``): read, write, check versions and upgrade old models."""

from dptensor.io.dpt_file import is_dpt_file, load_dpt, read_dpt_header, save_dpt
from dptensor.io.versions import upgrade

__all__ = ["save_dpt", "load_dpt", "read_dpt_header", "is_dpt_file", "upgrade"]
