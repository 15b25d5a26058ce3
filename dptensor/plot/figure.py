"""A grid of panels drawn without pyplot (no GUI backend, no global state), saved atomically."""

import math
import os

from dptensor.errors import DptError
from dptensor.utils.atomic import atomic_path

PANEL_SIZE = (4.2, 3.4)  # inches per panel: readable at 150 dpi on a laptop screen
DPI = 150
MAX_COLUMNS = 3
SUPPORTED = (".png", ".pdf", ".svg")


def panel_grid(npanels, panel_size=PANEL_SIZE):
    """(figure, list of npanels axes) laid out in at most MAX_COLUMNS columns, each panel
    ``panel_size`` inches; extra cells of the grid are removed."""
    from matplotlib.figure import Figure

    # 4 panels read better as 2 x 2 than as 3 + 1
    ncols = 2 if npanels in (2, 4) else min(MAX_COLUMNS, max(npanels, 1))
    nrows = math.ceil(max(npanels, 1) / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), dpi=DPI,
                 layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[npanels:]:
        ax.remove()
    return fig, axes[:npanels]


def check_output(path):
    """The output's suffix chooses the file type; refuse one matplotlib would guess at."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in SUPPORTED:
        raise DptError(f"{path}: give an image file name ending in {', '.join(SUPPORTED)}")
    folder = os.path.dirname(os.path.abspath(str(path)))
    if not os.path.isdir(folder):
        raise DptError(f"{path}: the folder {folder} does not exist")


def save_figure(fig, path):
    """Write ``fig`` to ``path`` atomically (the temporary file keeps the suffix, which
    matplotlib reads as the format)."""
    with atomic_path(str(path)) as tmp:
        fig.savefig(tmp)
    return str(path)


def plain_ticks(ax, nbins=5):
    """Tick labels as plain numbers (``-29944.5``, ``0.0625``, ``1e-06``): matplotlib's default
    moves a shared offset such as ``-2.994e4`` to the axis end, where it collides with titles."""
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=nbins))
        axis.set_major_formatter(FormatStrFormatter("%.6g"))
