"""Training progress: a live line in a terminal, plain log lines elsewhere, and an ETA in both.

The loop runs with a fake session (no framework): what is tested is the display, not training.
"""

import io
import logging

import numpy as np
import pytest

from dptensor.train import progress as progress_mod
from dptensor.train.lcurve import LCurve
from dptensor.train.loop import TrainingLoop
from dptensor.train.progress import (
    CLEAR_LINE,
    Progress,
    format_duration,
    live_wanted,
    short_losses,
)


class TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("env, tty, want", [
    (None, True, True), (None, False, False), ("0", True, False), ("1", False, True),
    ("off", True, False)])
def test_live_line_only_in_a_terminal(monkeypatch, env, tty, want):
    monkeypatch.delenv(progress_mod.ENV_SWITCH, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    if env is not None:
        monkeypatch.setenv(progress_mod.ENV_SWITCH, env)
    assert live_wanted(TTY() if tty else io.StringIO()) is want


def test_dumb_terminal_gets_no_live_line(monkeypatch):
    monkeypatch.delenv(progress_mod.ENV_SWITCH, raising=False)
    monkeypatch.setenv("TERM", "dumb")
    assert not live_wanted(TTY())


def test_format_duration():
    assert format_duration(None) == "--:--"
    assert format_duration(float("inf")) == "--:--"
    assert format_duration(59.4) == "0:59"
    assert format_duration(3725) == "1:02:05"


def test_short_losses():
    values = {"rmse_val": 1.25, "rmse_trn": 1.5, "rmse_e_val": 0.5, "rmse_e_trn": 0.25,
              "rmse_f_trn": float("nan")}
    assert short_losses(values) == "rmse 1.5e+00 (val 1.2e+00)  e 2.5e-01"


def test_eta_from_the_mean_step_time(monkeypatch):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(clock))
    prog = Progress(start=10, total=110, stream=io.StringIO(), live=False)  # t0 = 100
    # after iteration 19: 10 updates in 10 s, 90 to go
    assert prog.eta(19) == pytest.approx(90.0)


def test_live_line_and_log_records_share_the_terminal():
    stream = TTY()
    logger = logging.getLogger("dptensor.test_progress")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with Progress(0, 10, stream=stream, live=True, logger=logger.name) as prog:
            prog.set_row(1e-3, {"rmse_trn": 2.0, "rmse_e_trn": 0.5})
            prog.update(0)
            logger.warning("a log record")
            prog.update(10, lr=1e-5)
        assert not handler.filters  # the filter goes with the live line
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    first = text.index("step 0/10")
    # the live line is erased before the record is written, then drawn again below it
    assert text.index(CLEAR_LINE + "a log record") > first
    last = text.rindex(CLEAR_LINE)
    line = text[last + len(CLEAR_LINE):]
    assert line.startswith("step 10/10  [" + "#" * progress_mod.BAR_WIDTH + "]  100%")
    assert "lr 1.0e-05" in line and "rmse 2.0e+00  e 5.0e-01" in line and "ETA 0:00" in line
    assert text.endswith("\n")


class FakeSession:
    """Losses that halve every update."""

    def __init__(self):
        self.mse = 1.0

    def train_step(self, batch, lr):
        out = {"e": self.mse, "f": 4 * self.mse}
        self.mse /= 2
        return out

    def evaluate(self, batch, lr):
        return {"e": self.mse, "f": 4 * self.mse}


class FakeLoss:
    def prepare(self, batch):
        return batch

    def total_from_parts(self, parts, lr):
        return float(np.sqrt(sum(parts.values())))


class FakeData:
    systems = ()  # no system to prime the loss terms from

    def next_batch(self):
        return {}


def run_loop(tmp_path, steps=4):
    lcurve = LCurve(str(tmp_path / "lcurve.out"), ["e", "f"], has_validation=False)
    loop = TrainingLoop(FakeSession(), FakeLoss(), lambda step: 1e-3, FakeData(), None, lcurve,
                        checkpoints=None, numb_steps=steps, disp_freq=2, save_freq=100)
    loop.save = lambda step: None
    loop.run()
    return (tmp_path / "lcurve.out").read_text()


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_training_in_a_file_logs_plain_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(progress_mod.ENV_SWITCH, "0")
    # a handler of its own: `dpt` stops dptensor records from propagating to pytest's
    logger, records = logging.getLogger("dptensor.train"), Records()
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(records)
    try:
        lcurve = run_loop(tmp_path)
    finally:
        logger.removeHandler(records)
    rows = [m for m in records.messages if m.startswith("step ")]
    assert [r.split(":")[0] for r in rows] == ["step 0", "step 2", "step 4"]
    assert all("ETA " in r and "s/step" in r for r in rows)
    assert CLEAR_LINE not in capsys.readouterr().err
    assert len(lcurve.splitlines()) == 4  # header and the rows of steps 0, 2, 4


def test_training_in_a_terminal_draws_the_live_line(tmp_path, monkeypatch):
    stream = TTY()
    monkeypatch.setattr(progress_mod.sys, "stderr", stream)
    monkeypatch.setenv(progress_mod.ENV_SWITCH, "1")
    run_loop(tmp_path, steps=4)
    text = stream.getvalue()
    last = text[text.rindex(CLEAR_LINE) + len(CLEAR_LINE):]
    assert last.startswith("step 4/4  [") and "100%" in last and "ETA 0:00" in last
    assert "  e " in last and "  f " in last and "lr 1.0e-03" in last
