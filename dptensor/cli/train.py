"""``dpt train INPUT``: train a model (or check input and data with --dry-run)."""

import os

from dptensor.cli.backend_args import add_backend_arguments


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a model from an input.json",
                              description="Train a model. Paths of data systems are taken relative to "
                              "the current directory, else to the input file's directory.")
    p.add_argument("input", help="the input.json (DeePMD-kit's format)")
    add_backend_arguments(p)
    start = p.add_mutually_exclusive_group()
    start.add_argument("--init-model", metavar="CKPT", help="start from this checkpoint's weights, at step 0")
    start.add_argument("--restart", metavar="CKPT", help="continue this checkpoint's run (step, optimizer, lr)")
    start.add_argument("--finetune", metavar="MODEL", help="fine-tune a pretrained model on this input's data")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the input and the data, build the model, and stop (writes nothing)")
    p.add_argument("-o", "--output-dir", default=".", help="where lcurve.out, out.json and checkpoints go")
    p.set_defaults(func=run)


def run(args):
    from dptensor.config import load_input

    config = load_input(args.input)
    base_dir = os.path.dirname(os.path.abspath(args.input))
    if args.dry_run:
        from dptensor.train.dry_run import dry_run

        print(dry_run(config, base_dir))
        return 0
    from dptensor.backend import get_backend
    from dptensor.train.run import train
    from dptensor.utils.atomic import check_output_dir

    backend = get_backend(args.backend)
    check_output_dir(args.output_dir)  # created once the input, data and model are known to be good
    train(backend, config, output_dir=args.output_dir, base_dir=base_dir, init_model=args.init_model,
          restart=args.restart, finetune=args.finetune)
    return 0
