"""Helpers for quality checks: text normalisation and word error rate."""

import re
import unicodedata

import jiwer

__all__ = ["normalize_text", "wer"]


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text.lower()).replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.replace("'", "").split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize_text(reference), normalize_text(hypothesis)))
