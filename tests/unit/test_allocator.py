"""``tune_malloc``: glibc's mallopt takes the settings; ``DPT_MALLOC_TUNE=0`` or another C
library leaves malloc alone."""

import platform

import pytest

from dptensor.utils import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_takes_the_settings():
    assert allocator.tune_malloc() is True


def test_switch_off(monkeypatch):
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    assert allocator.tune_malloc() is False


def test_other_c_library(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.tune_malloc() is False
