"""Helpers for quality checks: text normalisation and word error rate."""

import re
import unicodedata

import jiwer
from num2words import num2words

__all__ = ["normalize_text", "spell_numbers", "wer"]

_NUMBER = re.compile(r"\b(\d+)(st|nd|rd|th)?\b")


def spell_numbers(text: str, language: str) -> str:
    """Digits as words, the way a reader says them: "15th" -> "fifteenth", "1455" ->
    "fourteen fifty-five" (four-digit numbers from 1100 to 1999 read as years), "42" ->
    "forty-two". Whisper writes either form, so a WER that compares them must spell both."""

    def spoken(match: re.Match[str]) -> str:
        value, suffix = int(match.group(1)), match.group(2)
        if suffix:
            return str(num2words(value, lang=language, to="ordinal"))
        if 1100 <= value <= 1999:
            return str(num2words(value, lang=language, to="year"))
        return str(num2words(value, lang=language))

    return _NUMBER.sub(spoken, text)


def normalize_text(text: str, language: str | None = None) -> str:
    """Lower case, no punctuation or hyphens; with `language`, numbers spelled out in it."""
    if language is not None:
        text = spell_numbers(text, language)
    text = unicodedata.normalize("NFC", text.lower()).replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.replace("'", "").split())


def wer(reference: str, hypothesis: str, language: str | None = None) -> float:
    """Word error rate after `normalize_text` (numbers spelled out when `language` is given)."""
    return float(
        jiwer.wer(normalize_text(reference, language), normalize_text(hypothesis, language))
    )
