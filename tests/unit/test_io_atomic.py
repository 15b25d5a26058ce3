"""dptensor.utils.atomic: files appear complete or not at all, and no temporary file is left."""

import os
import stat

import numpy as np
import pytest

from dptensor.errors import OutputError
from dptensor.utils.atomic import atomic_path, atomic_write_bytes, atomic_write_text, check_output_path


def test_write_bytes_creates_and_overwrites(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_write_text_is_utf8_without_newline_translation(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(str(target), "Å\nline 2\n")
    assert target.read_bytes() == "Å\nline 2\n".encode("utf-8")


def test_atomic_path_is_in_same_folder_and_keeps_extension(tmp_path):
    target = tmp_path / "weights.npy"
    array = np.arange(6.0).reshape(2, 3)
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert tmp.endswith(".npy") and tmp != str(target)
        np.save(tmp, array)  # np.save would append ".npy" to any other name
        assert not target.exists()
    np.testing.assert_array_equal(np.load(target), array)
    assert os.listdir(tmp_path) == ["weights.npy"]


def test_failure_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "model.dpt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(b"half")
            raise RuntimeError("crash while writing")
    assert os.listdir(tmp_path) == []


def test_failure_keeps_existing_file(tmp_path):
    target = tmp_path / "model.dpt"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(b"new but incomplete")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.dpt"]


def test_missing_folder_raises_and_creates_nothing(tmp_path):
    target = tmp_path / "no" / "such" / "out.bin"
    with pytest.raises(OutputError, match="out.bin: cannot write here"):
        atomic_write_bytes(target, b"x")
    with pytest.raises(OutputError, match="folder .* does not exist"):
        check_output_path(target)
    assert os.listdir(tmp_path) == []


def test_folder_in_the_way_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "out.bin").mkdir()
    with pytest.raises(OutputError, match="out.bin: cannot write here"):
        atomic_write_bytes(tmp_path / "out.bin", b"x")
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_like_plain_open(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    fresh = tmp_path / "fresh"
    atomic_write_bytes(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)

    kept = tmp_path / "kept"
    kept.write_bytes(b"")
    os.chmod(kept, 0o640)
    atomic_write_bytes(kept, b"y")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
