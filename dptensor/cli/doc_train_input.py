"""``dpt doc-train-input``: print the reference of every input.json key, or its JSON schema."""

import json
import sys


def add_parser(subparsers):
    """Register the ``doc-train-input`` subcommand on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "doc-train-input",
        help="print the reference of the training input (input.json)",
        description="Print the reference of every input.json key as Markdown (the source of "
                    "doc/input.md), or with --json-schema the JSON schema of a normalized input.",
    )
    parser.add_argument("--json-schema", action="store_true",
                        help="print the JSON schema (Draft 2020-12) instead of Markdown")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from dptensor.config import build_schema, render_markdown  # lazy: keeps `dpt --help` fast

    if args.json_schema:
        text = json.dumps(build_schema(), indent=2) + "\n"
    else:
        text = render_markdown()
    sys.stdout.write(text)
    return 0
