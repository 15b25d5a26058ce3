"""The input reference and the JSON schema render from the fragments; doc/input.md is in step."""

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import jsonschema
import pytest

from dptensor.cli import doc_train_input
from dptensor.config import build_schema, normalize, render_markdown
from dptensor.config.doc import REGENERATE
from dptensor.config.fragment import is_variant_family

DOC = Path(__file__).parents[2] / "doc" / "input.md"
REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference-inputs"


def components(node, parts=()):
    """(path, fragment) of every object fragment, variants included."""
    if is_variant_family(node):
        for branch in node["allOf"]:
            yield from components(branch["then"], parts)
        return
    yield parts, node
    for name, prop in node["properties"].items():
        if "properties" in prop:
            yield from components(prop, parts + (name,))


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="dpt")
    doc_train_input.add_parser(parser.add_subparsers())
    args = parser.parse_args(["doc-train-input", *argv])
    out = io.StringIO()
    with redirect_stdout(out):
        assert args.func(args) == 0
    return out.getvalue()


def test_doc_input_md_is_in_step_with_the_schema():
    assert DOC.exists(), f"doc/input.md is missing; run `{REGENERATE}`"
    assert DOC.read_text() == render_markdown(), \
        f"doc/input.md is out of date with dptensor/config; regenerate it with `{REGENERATE}`"


def test_schema_is_valid_draft_2020_12_and_validates_normalized_references():
    schema = build_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in REFERENCE.glob("*.json"):
        assert not list(validator.iter_errors(normalize(json.loads(path.read_text()))))


def test_every_key_has_type_description_and_default_or_required():
    for parts, frag in components(build_schema()):
        required = set(frag.get("required", ()))
        for name, prop in frag["properties"].items():
            where = ".".join(parts + (name,))
            assert prop.get("description", "").strip(), where
            assert "type" in prop or "anyOf" in prop or "enum" in prop or "const" in prop, where
            assert ("default" in prop) + (name in required) + ("x-optional" in prop) == 1, where


def test_markdown_lists_every_key_and_alias():
    text = render_markdown()
    for parts, frag in components(build_schema()):
        for name, prop in frag["properties"].items():
            assert f"| `{name}` |" in text
            for alias in prop.get("x-aliases", ()):
                assert f"`{alias}`" in text
    for heading in ("## `model.descriptor` with `type` = `se_e2_a`",
                    "## `model.fitting_net` with `type` = `polar`", "## `loss` with `type` = `tensor`",
                    "## `learning_rate` with `type` = `exp`", "## `training.validation_data`"):
        assert heading in text


@pytest.mark.parametrize("argv, check", [
    ((), lambda out: out == render_markdown()),
    (("--json-schema",), lambda out: json.loads(out) == build_schema()),
])
def test_cli_prints_markdown_or_json_schema(argv, check):
    assert check(run_cli(*argv))


def test_cli_parser_sets_run_as_func():
    parser = argparse.ArgumentParser()
    doc_train_input.add_parser(parser.add_subparsers())
    assert parser.parse_args(["doc-train-input"]).func is doc_train_input.run
