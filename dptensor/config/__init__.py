"""The input configuration (``input.json``): schema fragments, normalization, validation, docs.

``load_input(path)`` is what commands use: it returns the normalized, validated config or raises
one ``InputError`` naming the file and listing every problem.
"""

import json

from dptensor.config.doc import render_markdown
from dptensor.config.normalize import InputWarning, normalize, normalize_report, warn_ignored
from dptensor.config.schema import build_schema
from dptensor.config.validate import find_problems, validate
from dptensor.errors import InputError

_JSON_KINDS = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}

__all__ = ["load_input", "read_json", "normalize", "validate", "build_schema", "render_markdown",
           "InputWarning"]


def read_json(path):
    """The parsed JSON object in ``path``; InputError naming the file (and line) otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"(root): cannot read the file: {e.strerror}", source=str(path)) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"(root): invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                         source=str(path)) from None
    if not isinstance(raw, dict):
        line = text[:len(text) - len(text.lstrip())].count("\n") + 1
        raise InputError(f"(root): line {line}: the input must be a JSON object {{...}}, "
                         f"not {_JSON_KINDS.get(type(raw), 'a number')}", source=str(path))
    return raw


def load_input(path) -> dict:
    """Read, normalize and validate the ``input.json`` at ``path``.

    Problems found while normalizing (unknown keys, conflicting aliases) and while validating are
    raised together; ignored DeePMD-kit keys are reported with one ``InputWarning``.
    """
    cfg, report = normalize_report(read_json(path))
    problems = report.problems + [p for p in find_problems(cfg) if p not in report.problems]
    if problems:
        raise InputError(problems, source=str(path))
    warn_ignored(report)
    return cfg
