"""Figures for people: learning curves (``dpt plot``) and parity plots (``dpt test --plot``).

matplotlib is imported only inside the drawing functions, so importing this package is cheap.
"""

from dptensor.plot.lcurve import plot_lcurve, read_lcurve
from dptensor.plot.parity import ParityPanel, parity_panels, plot_parity

__all__ = ["ParityPanel", "parity_panels", "plot_lcurve", "plot_parity", "read_lcurve"]
