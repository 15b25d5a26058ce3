"""Write files atomically: readers see the old file or the complete new one, never a half-written one.

Everything is written to a temporary file in the target's folder (same file system, so the final
``os.replace`` is an atomic rename) and renamed onto the target only when writing succeeded. On
any exception the temporary file is removed and an existing target is left untouched.
"""

import contextlib
import os
import stat
import tempfile

from dptensor.errors import OutputError


def _read_umask():
    # os.umask can only be read by setting it; do it once, at import, before threads exist.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync(path):
    """Flush ``path`` to disk so a crash after the rename cannot leave an empty file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems and platforms cannot fsync a read-only descriptor
        pass
    finally:
        os.close(fd)


def _final_mode(path):
    """Permissions of the new file: those of the file it replaces, else the usual 0666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_UMASK


def check_output_path(path):
    """Raise OutputError unless ``path``'s folder exists and is writable. Commands call it before long work
    (loading, freezing, training) so that a mistyped output fails at once."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        why = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise OutputError(f"{path}: cannot write here: the folder {folder} {why}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write here: no permission to write in {folder}")


def check_output_dir(path):
    """Raise OutputError if ``path`` exists and is not a folder (see ``make_output_dir``)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{path}: cannot write output here: it is a file, not a folder")


def make_output_dir(path):
    """Create the output folder ``path`` (with its parents); OutputError if that is not possible."""
    check_output_dir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the output folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write output here: no permission")


def output_error(target, exc):
    """The OutputError for an OSError met while writing ``target``."""
    return OutputError(f"{target}: cannot write here ({exc.strerror or exc})")


def temporary_path(folder, prefix, suffix, target, directory=False):
    """A new empty file (or folder) in ``folder``; OutputError naming ``target`` if it fails."""
    try:
        if directory:
            return tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as exc:
        raise output_error(target, exc) from None
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the target's extension (``.model.tmp-k3j9.npy`` for ``model.npy``),
    because writers such as ``np.save`` or h5py choose their behaviour by extension. The file
    exists (empty) when the block starts; the block may overwrite or re-create it. Example::

        with atomic_path("out.npy") as tmp:
            np.save(tmp, array)
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    root, ext = os.path.splitext(name)
    tmp = temporary_path(folder, f".{root}.tmp-", ext, path)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions a plain open() would
        os.chmod(tmp, _final_mode(path))
        _fsync(tmp)
        try:
            os.replace(tmp, path)
        except OSError as exc:  # e.g. a folder of that name is in the way
            raise output_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (no newline translation: ``\\n`` stays ``\\n``)."""
    atomic_write_bytes(path, text.encode(encoding))
