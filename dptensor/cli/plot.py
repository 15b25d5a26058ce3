"""``dpt plot``: the learning curves of ``lcurve.out`` as an image (log scale, a panel per
quantity)."""

import os


def add_parser(subparsers):
    """Register the ``plot`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "plot", help="draw the learning curves of lcurve.out into an image",
        description="Draw lcurve.out (of dptensor or DeePMD-kit): one panel per quantity with "
        "the training and validation RMSE against the step on a log scale, and the learning "
        "rate. Rows appended by a restart replace the earlier run's rows from that step on.")
    p.add_argument("lcurve", nargs="?", default="lcurve.out",
                   help="the learning-curve file (default: lcurve.out)")
    p.add_argument("-o", "--output", metavar="IMAGE",
                   help="image file, .png, .pdf or .svg (default: the lcurve name with .png)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from dptensor.plot import plot_lcurve  # lazy: matplotlib loads only when drawing

    output = args.output or os.path.splitext(args.lcurve)[0] + ".png"
    plot_lcurve(args.lcurve, output)
    print(f"learning curves written to {output}")
    return 0
