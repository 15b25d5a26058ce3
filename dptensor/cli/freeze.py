"""``dpt freeze``: a deployable model from a training checkpoint."""

from dptensor.cli.backend_args import add_backend_arguments


def add_parser(subparsers):
    p = subparsers.add_parser("freeze", help="make a deployable model from a checkpoint",
                              description="Freeze a checkpoint into a model file for deployment. "
                              "The output's suffix picks the kind: .pth (TorchScript), .savedmodel "
                              "(TensorFlow), .dpt (neutral).")
    p.add_argument("-c", "--checkpoint", default=".",
                   help="a checkpoint file, or a directory with a 'checkpoint' file (default: .)")
    p.add_argument("-o", "--output", help="output file (default: frozen_model + the suffix of the backend "
                   "given, else of the one that wrote the checkpoint)")
    add_backend_arguments(p)
    h = p.add_mutually_exclusive_group()
    h.add_argument("--hessian", dest="hessian", action="store_true", default=None,
                   help="mark the model as a Hessian model (has_hessian; default: if it was trained "
                   "on Hessians). Every frozen energy model computes Hessians on request")
    h.add_argument("--no-hessian", dest="hessian", action="store_false",
                   help="leave the Hessian out of the file (smaller, frozen in about half the time)")
    p.set_defaults(func=run)


def run(args):
    import logging
    import os

    from dptensor.backend import backend_for_file, get_backend
    from dptensor.cli.model_files import write_model
    from dptensor.train.checkpoint import resolve_checkpoint
    from dptensor.utils.atomic import check_output_path

    ckpt = resolve_checkpoint(args.checkpoint)
    source = backend_for_file(ckpt)
    output = args.output
    if output is None:  # the backend asked for, else the one that wrote the checkpoint
        explicit = args.backend or os.environ.get("DPT_BACKEND")
        output = "frozen_model" + (get_backend(explicit) if explicit else source).frozen_suffix
    check_output_path(output)  # before the seconds of loading and freezing
    model = source.load_model(ckpt)
    write_model(model, output, hessian=args.hessian)
    logging.getLogger("dptensor").info("froze %s into %s", ckpt, output)
    return 0
