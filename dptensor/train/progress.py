"""Training progress a person can follow.

In a terminal, a live line at the bottom of the screen, redrawn as steps complete::

    step 420/1000  [########............]   42%  lr 3.2e-04  rmse 1.2e-01 (val 1.3e-01)  ETA 1:23

The regular log lines (one per ``disp_freq`` steps, ending with the ETA) scroll above it. When the
output is not a terminal (a file, a pipe, CI), or ``DPT_PROGRESS=0``, there is no live line:
only the log lines. ``DPT_PROGRESS=1`` forces the live line.
"""

import logging
import math
import os
import shutil
import sys
import time

ENV_SWITCH = "DPT_PROGRESS"
REDRAW_SECONDS = 0.1  # at most ten redraws a second: fast steps must not be slowed by drawing
BAR_WIDTH = 20
CLEAR_LINE = "\r\x1b[K"  # back to column 0, erase to the end of the line (ANSI)


def live_wanted(stream):
    """A live line on ``stream``: forced by DPT_PROGRESS=1/0, else when it is a terminal."""
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("1", "true", "yes", "on"):
        return True
    if switch in ("0", "false", "no", "off"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def format_duration(seconds):
    """Seconds -> ``h:mm:ss`` (``m:ss`` under an hour); ``--:--`` when not yet known."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = round(max(seconds, 0.0))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short_losses(values):
    """lcurve row values {rmse_trn: x, rmse_e_val: y, ...} -> ``rmse 1.2e-01 (val 1.3e-01)
    e 3.4e-03 ...``: the training RMSE of each quantity, the validation one of the total."""
    parts = []
    for name, value in values.items():
        if not name.endswith("_trn") or not math.isfinite(value):
            continue
        stem = name[: -len("_trn")]
        text = f"{stem.removeprefix('rmse_')} {value:.1e}"
        val = values.get(stem + "_val")
        if stem == "rmse" and val is not None and math.isfinite(val):
            text += f" (val {val:.1e})"
        parts.append(text)
    return "  ".join(parts)


def handlers_on(stream, logger):
    """The handlers that write ``logger``'s records (its own and its ancestors' while records
    propagate) to ``stream``."""
    found = []
    while logger is not None:
        found += [h for h in logger.handlers if getattr(h, "stream", None) is stream]
        logger = logger.parent if logger.propagate else None
    return found


class _ClearLive(logging.Filter):
    """Erases the live line before a log record is written under it (the record then scrolls up
    and the next update draws the line again below it)."""

    def __init__(self, progress):
        super().__init__()
        self.progress = progress

    def filter(self, record):
        self.progress.clear()
        return True


class Progress:
    """Progress of steps ``start .. total`` (the loop's iteration ``s`` makes update ``s + 1``).

    Use as a context manager; call ``update(step)`` after every iteration and ``set_row`` with the
    values of each lcurve row. ``eta(step)`` is the estimated time left after iteration ``step``.
    """

    def __init__(self, start, total, stream=None, live=None, logger="dptensor.train"):
        self.start, self.total = int(start), int(total)
        self.stream = stream if stream is not None else sys.stderr
        self.live = live_wanted(self.stream) if live is None else bool(live)
        self._logger = logging.getLogger(logger)
        self._filter = _ClearLive(self)
        self._handlers = []
        self._t0 = time.perf_counter()
        self._last_draw = -math.inf
        self._drawn = False
        self._lr, self._losses = None, ""

    def __enter__(self):
        self._t0 = time.perf_counter()
        if self.live:
            self._handlers = handlers_on(self.stream, self._logger)
            for h in self._handlers:
                h.addFilter(self._filter)
        return self

    def __exit__(self, *exc):
        for h in self._handlers:
            h.removeFilter(self._filter)
        self._handlers = []
        if self.live and self._drawn:
            self.stream.write("\n")  # keep the last line on screen
            self.stream.flush()
        return False

    def eta(self, step):
        """Seconds left after iteration ``step``: remaining updates times the mean wall time
        per iteration so far (validation and saving included); None before the first one."""
        done = step - self.start + 1
        if done <= 0:
            return None
        per_step = (time.perf_counter() - self._t0) / done
        return max(self.total - step - 1, 0) * per_step

    def set_row(self, lr, values):
        """The latest lcurve row (learning rate and {column: RMSE}) for the live line."""
        self._lr, self._losses = lr, short_losses(values)

    def update(self, step, lr=None):
        """After iteration ``step`` (at learning rate ``lr``): redraw the live line (throttled;
        the last step is always drawn)."""
        if lr is not None:
            self._lr = lr
        if not self.live:
            return
        now = time.perf_counter()
        if self._drawn and now - self._last_draw < REDRAW_SECONDS and step < self.total:
            return
        self._last_draw = now
        width = shutil.get_terminal_size((100, 24)).columns
        self.stream.write(CLEAR_LINE + self.line(step)[: max(width - 1, 10)])
        self.stream.flush()
        self._drawn = True

    def clear(self):
        if self.live and self._drawn:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._drawn = False

    def line(self, step):
        """The text of the live line after iteration ``step``."""
        span = max(self.total - self.start, 1)
        frac = min(max((step - self.start) / span, 0.0), 1.0)
        filled = round(frac * BAR_WIDTH)
        parts = [f"step {step}/{self.total}", f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]",
                 f"{100 * frac:3.0f}%"]
        if self._lr is not None:
            parts.append(f"lr {self._lr:.1e}")
        if self._losses:
            parts.append(self._losses)
        parts.append(f"ETA {format_duration(self.eta(step))}")
        return "  ".join(parts)


__all__ = ["Progress", "format_duration", "live_wanted", "short_losses"]
