"""Language tags. The pipeline speaks ISO 639-1 codes ("en", "pt"); engines map to their own."""

__all__ = ["LANGUAGE_NAMES", "LanguagePair", "language_name", "normalize_language"]

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "fr": "French",
    "it": "Italian",
    "ca": "Catalan",
    "de": "German",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
    "ru": "Russian",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "ar": "Arabic",
    "hi": "Hindi",
}

LanguagePair = tuple[str, str]


def normalize_language(tag: str) -> str:
    """Reduce a BCP-47 tag ("pt-BR", "EN_us") to its lower-case primary subtag ("pt", "en")."""
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    if not primary.isalpha() or not 2 <= len(primary) <= 3:
        raise ValueError(f"not a language tag: {tag!r}")
    return primary


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)
