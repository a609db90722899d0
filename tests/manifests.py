"""Manifests as tests read them: checked against the model and the repository's JSON Schema,
then as the file's JSON data."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from globalvoice.dubbing.manifest import SCHEMA_PATH, Manifest

REPO = Path(__file__).resolve().parent.parent


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


def checked(text: str | bytes) -> dict[str, Any]:
    """The manifest's data, after the model and the committed JSON Schema both accepted it."""
    Manifest.from_json(text)
    data: dict[str, Any] = json.loads(text)
    _validator().validate(data)
    return data


def manifest_data(manifest: Manifest) -> dict[str, Any]:
    """The manifest as manifest.json holds it."""
    return checked(manifest.to_json())


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """`out_dir/manifest.json`, checked."""
    return checked((out_dir / "manifest.json").read_text())
