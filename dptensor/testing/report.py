"""Text report of ``test_model`` results: one table per system, then the pooled totals."""

from dptensor.testing.quantities import QUANTITIES

NUMBER_FORMAT = "%.6e"
COLUMNS = ("quantity", "RMSE", "MAE", "unit", "frames")

# display title of every quantity name, whatever the model type
_TITLES = {q.name: q.title for qs in QUANTITIES.values() for q in qs}


def _number(x):
    return NUMBER_FORMAT % x


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_table(metrics, indent="  "):
    """{quantity name: metric} -> aligned table text (header line, one line per quantity)."""
    rows = [COLUMNS] + [(_TITLES.get(name, name), _number(m["rmse"]), _number(m["mae"]),
                         m["unit"] or "-", str(m["nframes"])) for name, m in metrics.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in (1, 2)]
        cells += [r[3].ljust(widths[3]), r[4].rjust(widths[4])]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def format_system(result):
    """One system's block: a title line, then its table or its warning."""
    head = (f"System {result['path']}: {_count(result['natoms'], 'atom')}, "
            f"{_count(result['nframes'], 'frame')} tested")
    if result["warning"]:
        return f"{head}\n  warning: {result['warning']}"
    return f"{head}\n{format_table(result['metrics'])}"


def format_totals(results):
    """The pooled totals over all systems (RMSE = sqrt of the mean square over all values)."""
    head = (f"Total over {_count(len(results['systems']), 'system')} "
            "(pooled over all values: RMSE = sqrt(sum of squares / count))")
    if not results["total"]:
        return f"{head}\n  no system has a label the {results['model_type']} model predicts"
    return f"{head}\n{format_table(results['total'])}"


def format_report(results):
    """The whole report: model line, each system's block, the totals."""
    blocks = [f"Model {results['model']} ({results['model_type']})"]
    blocks += [format_system(r) for r in results["systems"]]
    blocks.append(format_totals(results))
    return "\n\n".join(blocks) + "\n"
