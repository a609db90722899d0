"""Configuration of the production translation engines (chosen with GV_MT__KIND).

Neither has a default licence: the operator states the licence of the model or the terms of the
service they configure (`licence`), and `globalvoice languages` and `doctor` show it. Nothing
non-commercial is ever configured by default; the default engine stays `mt.embedded`.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from globalvoice.domain.language import LANGUAGE_NAMES

__all__ = ["CTranslate2MtConfig", "LlmMtConfig", "is_non_commercial"]

_NON_COMMERCIAL_MARKS = ("non-commercial", "noncommercial", "non commercial", "-nc", " nc ")


def is_non_commercial(licence: str) -> bool:
    """True when a licence text says non-commercial (CC BY-NC, "research only", ...)."""
    text = f" {licence.casefold().replace('_', '-')} "
    return any(mark in text for mark in (*_NON_COMMERCIAL_MARKS, "research only"))


class CTranslate2MtConfig(BaseModel):
    """A CTranslate2 model directory: NLLB-200 / M2M-100 (style "nllb": language tokens such as
    eng_Latn on both sides) or Opus-MT / Marian (style "marian": one direction per model, or a
    multi-target model whose target token such as >>spa<< is prepended to the source)."""

    kind: Literal["mt.ctranslate2"] = "mt.ctranslate2"
    model_dir: Path = Field(description="the converted model (model.bin, config.json, vocabulary)")
    licence: str = Field(description='the model\'s licence, e.g. "CC BY-NC 4.0 (NLLB-200)"')
    model_id: str | None = Field(default=None, description="shown name; None = the dir's name")
    style: Literal["nllb", "marian"] = "nllb"
    language_tokens: dict[str, str] = Field(
        default_factory=dict,
        description='ISO 639-1 -> model token: {"en": "eng_Latn"} (nllb), {"es": ">>spa<<"}',
    )
    pairs: list[str] = Field(
        default_factory=list,
        description='directions like "en-de"; empty = every pair of language_tokens (nllb)',
    )
    source_spm: str | None = Field(
        default=None, description="SentencePiece model in model_dir; None = a known file name"
    )
    target_spm: str | None = Field(default=None, description="None = target.spm or source_spm")
    beam_size: int = Field(default=4, ge=1, le=64)
    length_penalty: float = 1.0
    max_decoding_length: int = Field(default=256, ge=1, description="tokens per translation")
    batch_size: int = Field(default=16, ge=1, description="sentences per decoding batch")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=0, ge=0, description="0 = CTranslate2's default")

    @field_validator("pairs")
    @classmethod
    def _pairs_look_right(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            parts = pair.split("-")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"a pair is written source-target, like en-de: {pair!r}")
        return pairs


class LlmMtConfig(BaseModel):
    """An LLM behind an OpenAI-compatible chat completions endpoint (vLLM, Ollama, a hosted API)."""

    kind: Literal["mt.llm"] = "mt.llm"
    base_url: str = Field(description="up to /v1, e.g. http://127.0.0.1:11434/v1 (Ollama)")
    model: str
    licence: str = Field(description="the model's licence or the service's terms")
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable that holds the API key"
    )
    languages: list[str] = Field(
        default_factory=lambda: sorted(LANGUAGE_NAMES),
        description="languages the model is trusted with; every pair among them is offered",
    )
    structured_output: Literal["json_schema", "json_object", "none"] = Field(
        default="json_schema",
        description="response_format to ask for; a server that refuses it is asked the next way",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    timeout_s: float = Field(default=60.0, gt=0.0)
    max_retries: int = Field(default=4, ge=0, description="for timeouts, 429 and 5xx answers")
    max_format_retries: int = Field(default=2, ge=0, description="for malformed answers")
    backoff_s: float = Field(default=1.0, ge=0.0, description="first wait; doubles each time")
    max_backoff_s: float = Field(default=60.0, ge=0.0, description="cap, Retry-After included")
    batch_size: int = Field(default=20, ge=1, description="lines per request")
