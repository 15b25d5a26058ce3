"""``dpt convert-backend IN OUT``: any model file to any other kind, picked by suffix."""


def add_parser(subparsers):
    p = subparsers.add_parser("convert-backend", help="convert a model file between backends",
                              description="Convert between checkpoints (.pt, .tfckpt), frozen models "
                              "(.pth, .savedmodel) and neutral .dpt files; the suffixes pick the kinds.")
    p.add_argument("input", help="model file to read")
    p.add_argument("output", help="model file to write")
    p.set_defaults(func=run)


def run(args):
    from dptensor.cli.model_files import read_model, write_model
    from dptensor.utils.atomic import check_output_path

    check_output_path(args.output)
    write_model(read_model(args.input), args.output)
    return 0
