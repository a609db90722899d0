"""The LLM translation prompt and the strict shape of its answer.

The request goes as JSON in the user message: each line with an id, its neighbouring sentences
and its length budget, plus the glossary. The answer must be
`{"translations": [{"id": "1", "translations": ["best", "alternative", ...]}, ...]}`: asked for
with a JSON schema where the server supports it, and validated with pydantic either way.
"""

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from globalvoice.domain.glossary import GlossaryEntry
from globalvoice.domain.language import language_name
from globalvoice.engines.mt.llm_http import MalformedAnswer
from globalvoice.engines.mt.requests import TranslationRequest

__all__ = ["build_messages", "parse_answer", "response_format"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)

_SYSTEM = """\
You translate the dialogue of a video for dubbing, from {source} into {target}.
Rules:
1. Translate each entry of "lines" on its own, faithfully and naturally, as people speak.
2. "context_before" and "context_after" are neighbouring sentences. Use them to understand the
   line; never translate them into the answer.
3. When a line has "max_chars", its translation must fit in that many characters, spaces
   included: choose shorter wording rather than dropping meaning. When it has "min_chars",
   the translation should be at least that long: a fuller wording, never added content.
4. Glossary: render every "term" exactly as its "translation"; a term whose translation is
   "(keep)" stays exactly as written.
5. Give up to {n_best} different translations per line in "translations", best first{shorter}.
6. Answer with JSON only, one entry per line id:
   {{"translations": [{{"id": "<line id>", "translations": ["<translation>"]}}]}}"""


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    translations: list[str]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    translations: list[_Item]


def response_format(kind: str) -> dict[str, Any] | None:
    """The `response_format` body for "json_schema", "json_object" or "none"."""
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        return None
    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "translations": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["id", "translations"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"translations": {"type": "array", "items": item}},
        "required": ["translations"],
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": "dub_translations", "strict": True, "schema": schema},
    }


def build_messages(
    lines: Sequence[tuple[str, TranslationRequest]], *, n_best: int
) -> list[dict[str, str]]:
    """System and user messages for lines of one language pair, each given as (id, request)."""
    first = lines[0][1]
    has_budget = any(request.max_chars is not None for _, request in lines)
    system = _SYSTEM.format(
        source=f"{language_name(first.source)} ({first.source})",
        target=f"{language_name(first.target)} ({first.target})",
        n_best=max(n_best, 1),
        shorter=", the later ones shorter" if n_best > 1 and has_budget else "",
    )
    glossary = _glossary([entry for _, request in lines for entry in request.glossary])
    payload: dict[str, Any] = {"lines": [_line(line_id, request) for line_id, request in lines]}
    if glossary:
        payload = {"glossary": glossary, **payload}
    user = json.dumps(payload, ensure_ascii=False, indent=1)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _line(line_id: str, request: TranslationRequest) -> dict[str, Any]:
    line: dict[str, Any] = {"id": line_id, "text": request.text}
    if request.context_before:
        line["context_before"] = list(request.context_before)
    if request.context_after:
        line["context_after"] = list(request.context_after)
    if request.max_chars is not None:
        line["max_chars"] = request.max_chars
    if request.min_chars is not None:
        line["min_chars"] = request.min_chars
    return line


def _glossary(entries: list[GlossaryEntry]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for entry in entries:
        seen.setdefault(
            entry.source, {"term": entry.source, "translation": entry.target or "(keep)"}
        )
    return list(seen.values())


def parse_answer(content: str, ids: Sequence[str], *, n_best: int) -> dict[str, list[str]]:
    """Valid translations by line id: up to n_best distinct non-empty texts each. Lines missing
    from the answer are absent from the result; an answer that is not the asked-for JSON raises
    MalformedAnswer."""
    fenced = _FENCE.match(content)
    try:
        answer = _Answer.model_validate_json(fenced.group(1) if fenced else content)
    except ValidationError as err:
        raise MalformedAnswer(f"the answer is not the asked-for JSON: {_first_error(err)}") from err
    wanted = set(ids)
    found: dict[str, list[str]] = {}
    for item in answer.translations:
        texts = list(dict.fromkeys(t.strip() for t in item.translations if t.strip()))
        if item.id in wanted and item.id not in found and texts:
            found[item.id] = texts[: max(n_best, 1)]
    return found


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
