"""Checkpoint files: naming, the ``checkpoint`` pointer, pruning, failed writes and resolution."""

import os
from pathlib import Path

import pytest

from dptensor.errors import ModelFileError
from dptensor.train.checkpoint import POINTER, CheckpointManager, resolve_checkpoint


def writer(text):
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return write


def pointer_of(folder):
    return Path(folder, POINTER).read_text()


def test_save_writes_step_file_and_pointer(tmp_path):
    manager = CheckpointManager(str(tmp_path), "model.ckpt", ".pt")
    path = manager.save(10, writer("ten"))
    assert path == os.path.join(str(tmp_path), "model.ckpt-10.pt")
    assert Path(path).read_text() == "ten"
    assert pointer_of(tmp_path) == "model.ckpt-10.pt\n"
    manager.save(20, writer("twenty"))
    assert pointer_of(tmp_path) == "model.ckpt-20.pt\n"
    assert sorted(os.listdir(tmp_path)) == [POINTER, "model.ckpt-10.pt", "model.ckpt-20.pt"]


def test_writer_may_recreate_the_temporary_file(tmp_path):
    """Writers such as torch.save or zipfile replace the (empty) temporary file."""
    def recreate(tmp):
        os.remove(tmp)
        with open(tmp, "wb") as fh:
            fh.write(b"x")
    manager = CheckpointManager(str(tmp_path), "m", ".tfckpt")
    assert Path(manager.save(3, recreate)).read_bytes() == b"x"


def test_prune_keeps_the_newest_by_step_number(tmp_path):
    (tmp_path / "other-1.pt").write_text("not ours")
    (tmp_path / "model.ckpt-5.tfckpt").write_text("other suffix")
    manager = CheckpointManager(str(tmp_path), "model.ckpt", ".pt", max_keep=2)
    for step in (1, 2, 3, 10):  # 10 sorts before 2 as text: pruning must compare numbers
        manager.save(step, writer(str(step)))
    assert [s for s, _ in manager.existing()] == [3, 10]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [POINTER, "model.ckpt-3.pt", "model.ckpt-10.pt", "other-1.pt", "model.ckpt-5.tfckpt"])
    assert pointer_of(tmp_path) == "model.ckpt-10.pt\n"


def test_max_keep_is_at_least_one(tmp_path):
    manager = CheckpointManager(str(tmp_path), "c", ".pt", max_keep=0)
    manager.save(1, writer("1"))
    manager.save(2, writer("2"))
    assert [s for s, _ in manager.existing()] == [2]


def test_failing_writer_leaves_no_file_and_keeps_pointer(tmp_path):
    manager = CheckpointManager(str(tmp_path), "model.ckpt", ".pt", max_keep=1)
    manager.save(4, writer("four"))
    before = sorted(os.listdir(tmp_path))

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        manager.save(8, broken)
    assert sorted(os.listdir(tmp_path)) == before  # no step-8 file, no temporary left, 4 not pruned
    assert pointer_of(tmp_path) == "model.ckpt-4.pt\n"
    assert (tmp_path / "model.ckpt-4.pt").read_text() == "four"


def test_resolve_checkpoint_from_directory_and_file(tmp_path):
    manager = CheckpointManager(str(tmp_path), "model.ckpt", ".pt")
    manager.save(1, writer("1"))
    latest = manager.save(2, writer("2"))
    assert resolve_checkpoint(str(tmp_path)) == latest
    first = os.path.join(str(tmp_path), "model.ckpt-1.pt")
    assert resolve_checkpoint(first) == first


def test_resolve_checkpoint_errors_name_the_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match=POINTER) as err:
        resolve_checkpoint(str(empty))
    assert str(empty) in str(err.value)
    assert err.value.exit_code == 2

    missing = str(tmp_path / "model.ckpt-99.pt")
    with pytest.raises(ModelFileError) as err:
        resolve_checkpoint(missing)
    assert missing in str(err.value)

    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / POINTER).write_text("model.ckpt-7.pt\n")  # the file it names was removed
    with pytest.raises(ModelFileError) as err:
        resolve_checkpoint(str(stale))
    assert os.path.join(str(stale), "model.ckpt-7.pt") in str(err.value)


def test_deepmd_style_prefix_names_the_latest(tmp_path):
    from dptensor.train.checkpoint import CheckpointManager, resolve_checkpoint

    manager = CheckpointManager(str(tmp_path), "model.ckpt", ".pt", max_keep=3)
    for step in (2, 4):
        manager.save(step, lambda p: open(p, "w").close())
    latest = str(tmp_path / "model.ckpt-4.pt")
    assert resolve_checkpoint(str(tmp_path / "model.ckpt")) == latest
    assert resolve_checkpoint(str(tmp_path / "model.ckpt.pt")) == latest
