"""``dpt test``: errors of a model on labeled data systems, with optional detail files."""


def _frames(text):
    """-n: a non-negative integer (0 means all frames, as in DeePMD-kit)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of frames >= 0, got {text!r}")
    return value


def add_parser(subparsers):
    """Register the ``test`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "test", help="test a model on labeled data (RMSE and MAE per system and in total)",
        description="Evaluate a model on DeePMD data systems and print the RMSE and MAE of every "
        "label the data has (energy, force, virial, Hessian; dipole or polarizability), per "
        "system and pooled over all systems. With -d, write data and predictions side by side "
        "to PREFIX.*.out files that collect all systems of the run.")
    p.add_argument("-m", "--model", required=True,
                   help="model file: frozen (.pth, .savedmodel), checkpoint (.pt, .ckpt) or .dpt")
    p.add_argument("-s", "--system", action="append", default=[], metavar="SYSTEM",
                   help="a system folder, a folder holding systems (searched recursively) or an "
                   "HDF5 file; repeat for more")
    p.add_argument("-f", "--datafile", metavar="LIST",
                   help="text file with one system path per line")
    p.add_argument("-n", "--numb-test", type=_frames, default=0, metavar="N",
                   help="test the first N frames of each system (default 0: all frames)")
    p.add_argument("-d", "--detail-file", metavar="PREFIX",
                   help="write PREFIX.e.out, PREFIX.f.out ... (data and prediction columns)")
    p.add_argument("-a", "--atomic", action="store_true",
                   help="with -d, also write the atomic detail files (atomic tensors, atom "
                   "energies) of systems that have those labels")
    p.add_argument("--fmt", metavar="FORMAT",
                   help="read the systems with dpdata in this format (e.g. vasp/outcar)")
    p.add_argument("--plot", metavar="IMAGE",
                   help="also draw predicted against reference values, one panel per quantity "
                   "with its RMSE, to this .png (or .pdf, .svg) file")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Test, print the report to stdout; DataError when no system has a label to compare."""
    from dptensor.errors import DataError
    from dptensor.infer import DeepModel  # lazy: keeps `dpt --help` fast
    from dptensor.testing import format_system, format_totals, system_paths, test_model

    if args.plot:
        from dptensor.plot.figure import check_output

        check_output(args.plot)  # before the run, not after it
    paths = system_paths(args.system, args.datafile, args.fmt)
    model = DeepModel(args.model)
    n = len(paths)
    print(f"Model {args.model} ({model.model_type}), {n} system{'s' if n != 1 else ''}\n",
          flush=True)
    results = test_model(model, paths, numb_test=args.numb_test,
                         detail_prefix=args.detail_file, atomic=args.atomic, fmt=args.fmt,
                         on_system=lambda r: print(format_system(r) + "\n", flush=True),
                         keep_values=bool(args.plot))
    print(format_totals(results))
    if not results["total"]:
        raise DataError(f"none of the {len(paths)} systems has a label the "
                        f"{model.model_type} model predicts")
    if args.plot:
        _plot(results, model, args.plot)
    return 0


def _plot(results, model, output):
    from dptensor.plot import parity_panels, plot_parity
    from dptensor.testing import quantities_for

    panels = parity_panels(results, quantities_for(model.model_type, getattr(model, "output_def", None)))
    plot_parity(panels, output, title=f"{results['model']} ({results['model_type']})")
    print(f"\nparity plot written to {output}")
