"""The manifest's JSON Schema in the repository is the one the code's model makes."""

import json
from pathlib import Path

from globalvoice.dubbing.manifest import MANIFEST_SCHEMA, SCHEMA_PATH, manifest_json_schema

REPO = Path(__file__).resolve().parent.parent


def test_the_committed_schema_is_the_models() -> None:
    committed = json.loads((REPO / SCHEMA_PATH).read_text())
    assert committed == manifest_json_schema(), (
        "schemas/manifest.schema.json is stale: run "
        ".venv/bin/python -m globalvoice.dubbing.manifest to write it again"
    )
    assert committed["$id"] == MANIFEST_SCHEMA
    assert committed["properties"]["schema"]["const"] == MANIFEST_SCHEMA


def test_the_readme_names_the_version_the_code_writes() -> None:
    assert f"`{MANIFEST_SCHEMA}`" in (REPO / "README.md").read_text()
