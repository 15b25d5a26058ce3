"""``dpt``: entry point. Subcommand modules are imported here, but each imports its heavy
dependencies (numpy model code, frameworks) only inside ``run``, so ``dpt --help`` is instant."""

import argparse
import logging
import sys
import warnings

from dptensor import __version__
from dptensor.cli import compress, convert, doc_train_input, freeze, neighbor_stat, plot, show, test, train
from dptensor.errors import DptError

SUBCOMMANDS = (train, freeze, compress, test, convert, neighbor_stat, doc_train_input, plot, show)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="dpt", description="dptensor: train, freeze and test Deep Potential models "
        "(energy, dipole, polarizability) on DeePMD-format data.")
    parser.add_argument("--version", action="version", version=f"dptensor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug-level log messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings about the user's input read as log lines, not as source locations."""
    logging.getLogger("dptensor").warning("%s", message)


def setup_logging(verbose=False):
    """Log lines ``dpt LEVEL message`` on stderr for the run; returns a function that restores the
    previous logging and warning settings (so in-process callers, tests among them, are unaffected)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("dpt %(levelname)s %(message)s"))
    root = logging.getLogger("dptensor")
    saved = (root.handlers[:], root.level, root.propagate, warnings.showwarning)
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    from dptensor.config.normalize import InputWarning

    original = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, InputWarning):
            return _show_warning(message, category, *args, **kwargs)
        return original(message, category, *args, **kwargs)

    warnings.showwarning = show

    def restore():
        root.handlers[:], root.level, root.propagate, warnings.showwarning = saved

    return restore


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    restore_logging = setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except DptError as exc:
        print(f"dpt {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"dpt {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        restore_logging()


def console_main():
    sys.exit(main())


if __name__ == "__main__":
    console_main()
