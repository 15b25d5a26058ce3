"""``dpt test``: a model's errors against the labels of data systems, and detail files.

    results = test_model(DeepModel("model.pth"), ["data/sys1", "data/sys2"], detail_prefix="out")
    print(format_report(results))
"""

from dptensor.testing.quantities import QUANTITIES, Quantity, quantities_for
from dptensor.testing.report import format_report, format_system, format_totals
from dptensor.testing.runner import test_model, test_system
from dptensor.testing.systems import read_system_list, system_paths

__all__ = [
           "QUANTITIES",
           "Quantity",
           "format_report",
           "format_system",
           "format_totals",
           "quantities_for",
           "read_system_list",
           "system_paths",
           "test_model",
           "test_system",
]
