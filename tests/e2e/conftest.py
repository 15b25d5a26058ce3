"""Fixtures of the end-to-end tests."""

import shutil

import pytest

from cli_helpers import FIXTURES


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A run folder holding copies of the fixture systems under data/."""
    shutil.copytree(FIXTURES, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path
