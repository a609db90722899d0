"""`globalvoice dub --glossary FILE`: terms kept or translated one fixed way, from CSV or JSON.

CSV: a header row naming the columns (`term` required; `translation`, `source_language`,
`target_language`, `case_sensitive` optional), one term per row; an empty translation keeps the
term as it is. JSON: a list of objects with the same fields. See domain.glossary for the rules.
"""

import csv
import io
import json
from pathlib import Path

from globalvoice.domain.errors import UserFacingError
from globalvoice.domain.glossary import GLOSSARY_FIELDS, GlossaryEntry, entry_from_record

__all__ = ["MAX_GLOSSARY_BYTES", "MAX_GLOSSARY_ENTRIES", "read_glossary"]

MAX_GLOSSARY_BYTES = 1_000_000
MAX_GLOSSARY_ENTRIES = 2_000


def _records(path: Path, text: str) -> list[object]:
    if path.suffix.lower() == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err.msg}, line {err.lineno})") from err
        if not isinstance(loaded, list):
            raise ValueError("the JSON must be a list of objects")
        return loaded
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "term" not in reader.fieldnames:
        raise ValueError(f"the CSV needs a header row naming its columns {GLOSSARY_FIELDS}")
    return [{k: v for k, v in row.items() if k is not None} for row in reader]


def read_glossary(path: Path) -> tuple[GlossaryEntry, ...]:
    """The entries in `path` (.json, else CSV); UserFacingError naming the file and the entry."""
    try:
        if path.stat().st_size > MAX_GLOSSARY_BYTES:
            raise UserFacingError(
                f"Glossary {path} is larger than {MAX_GLOSSARY_BYTES // 1000} kB; split it."
            )
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise UserFacingError(
            f"Cannot read the glossary {path}: {err}. Give a UTF-8 CSV or JSON file."
        ) from err
    try:
        records = _records(path, text)
    except ValueError as err:
        raise UserFacingError(f"Glossary {path}: {err}.") from err
    if len(records) > MAX_GLOSSARY_ENTRIES:
        raise UserFacingError(f"Glossary {path} has over {MAX_GLOSSARY_ENTRIES} entries.")
    entries = []
    for number, record in enumerate(records, start=1):
        try:
            if not isinstance(record, dict):
                raise ValueError("an entry must be an object with a 'term'")
            entries.append(entry_from_record(record))
        except ValueError as err:
            raise UserFacingError(f"Glossary {path}, entry {number}: {err}.") from err
    return tuple(entries)
