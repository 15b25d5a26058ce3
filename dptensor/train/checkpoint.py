"""Checkpoint files: ``<save_ckpt>-<step><suffix>`` plus a ``checkpoint`` file naming the latest.

Every file is written atomically; at most ``max_keep`` step files are kept (oldest removed)."""

import os
import re

from dptensor.errors import ModelFileError
from dptensor.utils.atomic import atomic_path, atomic_write_text

POINTER = "checkpoint"


class CheckpointManager:
    def __init__(self, directory, prefix, suffix, max_keep=5):
        self.directory, self.prefix, self.suffix = directory, prefix, suffix
        self.max_keep = max(int(max_keep), 1)

    def path(self, step):
        return os.path.join(self.directory, f"{self.prefix}-{step}{self.suffix}")

    def save(self, step, write):
        """Call ``write(tmp_path)`` to produce the file for ``step``; then point to it and prune."""
        target = self.path(step)
        with atomic_path(target) as tmp:
            write(tmp)
        atomic_write_text(os.path.join(self.directory, POINTER), os.path.basename(target) + "\n")
        self._prune()
        return target

    def existing(self):
        pat = re.compile(re.escape(self.prefix) + r"-(\d+)" + re.escape(self.suffix) + "$")
        found = []
        for name in os.listdir(self.directory):
            m = pat.match(name)
            if m:
                found.append((int(m.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def _prune(self):
        for _, path in self.existing()[:-self.max_keep]:
            os.remove(path)


def resolve_checkpoint(path):
    """A checkpoint file from a file path or a directory holding a ``checkpoint`` pointer."""
    if os.path.isdir(path):
        pointer = os.path.join(path, POINTER)
        if not os.path.exists(pointer):
            raise ModelFileError(f"{path}: no '{POINTER}' file in this directory; is it a training directory?")
        with open(pointer) as fh:
            name = fh.read().strip()
        path = os.path.join(path, name)
    if not os.path.exists(path):
        latest = _latest_by_prefix(path)
        if latest is None:
            raise ModelFileError(f"{path}: no such checkpoint file")
        path = latest
    return path


def _latest_by_prefix(path):
    """DeePMD-kit users pass the prefix (``model.ckpt``) or its latest link (``model.ckpt.pt``):
    the checkpoint that the folder's pointer names, when it starts with that prefix."""
    folder, name = os.path.split(path)
    pointer = os.path.join(folder or ".", POINTER)
    if not os.path.exists(pointer):
        return None
    with open(pointer) as fh:
        latest = fh.read().strip()
    stem = name.rsplit(".", 1)[0] if name.endswith((".pt", ".tfckpt")) else name
    if latest.startswith(stem + "-") and os.path.exists(os.path.join(folder or ".", latest)):
        return os.path.join(folder, latest)
    return None
