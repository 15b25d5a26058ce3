"""``dpt compress``: a model whose embedding nets are tables (``dptensor.model.compress``), for
faster inference; the options are DeePMD-kit's ``dp compress``'s."""

from dptensor.model.compress import DEFAULTS


def add_parser(subparsers):
    p = subparsers.add_parser(
        "compress", help="tabulate the embedding nets of a model for faster inference",
        description="Replace each embedding net of a model by piecewise quintic polynomials over "
        "the range of its input that the training data reach, continued for closer neighbors "
        "(-e). The smallest neighbor distance comes from --min-nbor-dist, else from the training "
        "systems of -t INPUT, else from the model. The suffixes of -i and -o pick the file kinds "
        "(.pth, .savedmodel, .dpt, checkpoints). A compressed model evaluates only: it cannot be "
        "trained further.")
    p.add_argument("-i", "--input", required=True, help="model file to compress")
    p.add_argument("-o", "--output", required=True, help="compressed model file to write")
    p.add_argument("-s", "--step", type=float, default=DEFAULTS["step"],
                   help="interval width of the table in the normalized input (default: %(default)s)")
    p.add_argument("-e", "--extrapolate", type=float, default=DEFAULTS["extrapolate"],
                   help="the table spans this many times the training data's range "
                   "(default: %(default)s)")
    p.add_argument("-f", "--frequency", type=int, default=DEFAULTS["frequency"],
                   help="intervals beyond the training data's range are this many times wider "
                   "(default: %(default)s)")
    p.add_argument("-t", "--training-script", metavar="INPUT",
                   help="input.json whose training systems give the smallest neighbor distance")
    p.add_argument("--min-nbor-dist", type=float, metavar="ANGSTROM",
                   help="the smallest neighbor distance, given directly")
    p.set_defaults(func=run)


def min_nbor_dist(args, model):
    """The smallest neighbor distance for the table range, and where it came from."""
    if args.min_nbor_dist is not None:
        return args.min_nbor_dist, "--min-nbor-dist"
    if args.training_script:
        return _from_input(args.training_script, model), f"the training systems of {args.training_script}"
    if model.meta.get("min_nbor_dist"):
        return float(model.meta["min_nbor_dist"]), "the model"
    from dptensor.errors import DptError

    raise DptError(f"{args.input}: the model does not record the smallest neighbor distance of its "
                   "training data; give -t INPUT (the training input.json) or --min-nbor-dist")


def _from_input(path, model):
    import os

    from dptensor.config import load_input
    from dptensor.data.neighbor import neighbor_stat
    from dptensor.data.system import load_system
    from dptensor.train.setup import section_paths

    config = load_input(path)
    section = config["training"]["training_data"]
    base_dir = os.path.dirname(os.path.abspath(path))
    systems = [load_system(p, model.type_map, fmt=section.get("fmt")) for p in section_paths(section, base_dir)]
    return neighbor_stat(systems, model.rcut, model.type_map)[1]


def _check_paths(source, output):
    """Before the seconds of compressing: the output is not the input (which stays the model
    that can be trained further), and its suffix names a kind of model file."""
    import os

    from dptensor.errors import DptError

    if os.path.exists(source) and os.path.exists(output) and os.path.samefile(source, output):
        raise DptError(f"{output}: the output would overwrite the input model; give another name")
    if not str(output).endswith(".dpt"):
        from dptensor.backend import backend_for_file

        backend_for_file(output)  # names the suffix no backend owns


def run(args):
    import logging

    from dptensor.cli.model_files import read_model, write_model
    from dptensor.errors import DptError
    from dptensor.model.compress import compress_model, table_bytes
    from dptensor.utils.atomic import check_output_path

    log = logging.getLogger("dptensor.compress")
    check_output_path(args.output)
    _check_paths(args.input, args.output)
    model = read_model(args.input)
    dist, source = min_nbor_dist(args, model)
    if not dist > 0:
        raise DptError(f"smallest neighbor distance {dist} (from {source}): must be positive")
    log.info("smallest neighbor distance %.6f Angstrom (from %s)", dist, source)
    try:
        error = compress_model(model, dist, args.step, args.extrapolate, args.frequency)
    except ValueError as exc:
        raise DptError(str(exc)) from None
    log.info("tabulated %d embedding nets (%.1f MB); largest table error relative to the net: %.2e",
             model.descriptor.n_nets, table_bytes(model) / 1e6, error)
    write_model(model, args.output)
    log.info("wrote %s", args.output)
    return 0
