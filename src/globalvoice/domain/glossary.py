"""Glossaries: terms and names that must be kept, or translated one fixed way.

A tenant keeps a glossary for all its dubs and a dub may add its own; `merge_glossaries` applies
the rule that a dub entry overrides a tenant entry for the same term and language pair. Matching
is on whole words (a term never matches inside a longer word) and ignores case unless the entry
says otherwise. `missing_terms` is the post-check every engine's output goes through.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "GLOSSARY_FIELDS",
    "GlossaryEntry",
    "applicable_entries",
    "entry_from_record",
    "entry_record",
    "find_terms",
    "merge_glossaries",
    "missing_terms",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class GlossaryEntry:
    """One term. `target=None` keeps the source term as it is (names, brands).

    `source_language`/`target_language` restrict the entry to a language pair (ISO 639-1 codes);
    None matches any language. `case_sensitive=False` matches "Dubbing" and "dubbing" alike.
    """

    source: str
    target: str | None = None
    case_sensitive: bool = False
    source_language: str | None = None
    target_language: str | None = None

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ValueError("a glossary term cannot be empty")
        if self.target is not None and not self.target.strip():
            raise ValueError(f"glossary term {self.source!r}: the target cannot be empty")

    @property
    def keeps(self) -> bool:
        return self.target is None

    @property
    def rendering(self) -> str:
        """What the translation must contain: the target term, or the source term when kept."""
        return self.source if self.target is None else self.target

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """Entries with the same key are the same rule; the dub's replaces the tenant's."""
        term = self.source if self.case_sensitive else self.source.casefold()
        return (term, self.source_language, self.target_language)

    def applies_to(self, source: str, target: str) -> bool:
        return self.source_language in (None, source) and self.target_language in (None, target)


GLOSSARY_FIELDS = ("term", "translation", "source_language", "target_language", "case_sensitive")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0", ""}


def _language(value: object, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2,3}", value.strip().lower()):
        raise ValueError(f"{name} must be a language code such as 'en' or 'pt', not {value!r}")
    return value.strip().lower()


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value is None:
        return False
    raise ValueError(f"case_sensitive must be true or false, not {value!r}")


def entry_from_record(record: Mapping[str, object]) -> GlossaryEntry:
    """An entry from its record form (a JSON object or a CSV row): `term` (required),
    `translation` (absent, null or empty: keep the term as it is), `source_language`,
    `target_language` (optional codes) and `case_sensitive` (default false). ValueError says
    what is wrong."""
    unknown = sorted(set(record) - set(GLOSSARY_FIELDS))
    if unknown:
        raise ValueError(f"unknown glossary field(s) {unknown}; the fields are {GLOSSARY_FIELDS}")
    term = record.get("term")
    if not isinstance(term, str) or not term.strip():
        raise ValueError("every glossary entry needs a non-empty 'term'")
    translation = record.get("translation")
    if translation is not None and not isinstance(translation, str):
        raise ValueError(f"glossary term {term!r}: 'translation' must be text")
    return GlossaryEntry(
        source=term.strip(),
        target=translation.strip() if translation and translation.strip() else None,
        case_sensitive=_flag(record.get("case_sensitive")),
        source_language=_language(record.get("source_language"), "source_language"),
        target_language=_language(record.get("target_language"), "target_language"),
    )


def entry_record(entry: GlossaryEntry) -> dict[str, str | bool | None]:
    """The record form `entry_from_record` reads."""
    return {
        "term": entry.source,
        "translation": entry.target,
        "source_language": entry.source_language,
        "target_language": entry.target_language,
        "case_sensitive": entry.case_sensitive,
    }


def merge_glossaries(
    tenant: Iterable[GlossaryEntry], dub: Iterable[GlossaryEntry]
) -> tuple[GlossaryEntry, ...]:
    """Tenant entries first, each replaced in place by a dub entry with the same key; new dub
    entries follow in their own order."""
    merged = {entry.key: entry for entry in tenant}
    for entry in dub:
        merged[entry.key] = entry
    return tuple(merged.values())


def applicable_entries(
    entries: Iterable[GlossaryEntry], source: str, target: str
) -> tuple[GlossaryEntry, ...]:
    """The entries for one language pair. A pair-specific entry beats a generic one for the same
    term, and longer terms come first so "GlobalVoice Studio" wins over "GlobalVoice"."""
    chosen: dict[str, GlossaryEntry] = {}
    for entry in entries:
        if not entry.applies_to(source, target):
            continue
        term = entry.source if entry.case_sensitive else entry.source.casefold()
        old = chosen.get(term)
        if old is None or _specificity(entry) >= _specificity(old):
            chosen[term] = entry
    return tuple(sorted(chosen.values(), key=lambda e: -len(e.source)))


def _specificity(entry: GlossaryEntry) -> int:
    return (entry.source_language is not None) + (entry.target_language is not None)


def _pattern(term: str, *, case_sensitive: bool) -> re.Pattern[str]:
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", flags)


def find_terms(text: str, entries: Sequence[GlossaryEntry]) -> list[tuple[int, int, GlossaryEntry]]:
    """Non-overlapping (start, end, entry) spans of whole-word matches, earliest first; where two
    terms overlap, the entry listed first wins (`applicable_entries` lists longer terms first)."""
    spans: list[tuple[int, int, GlossaryEntry]] = []
    for entry in entries:
        for match in _pattern(entry.source, case_sensitive=entry.case_sensitive).finditer(text):
            start, end = match.span()
            if all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, entry))
    return sorted(spans, key=lambda span: span[0])


def missing_terms(
    source_text: str, translation: str, entries: Sequence[GlossaryEntry]
) -> tuple[GlossaryEntry, ...]:
    """Entries found in `source_text` whose rendering is absent from `translation`.

    A translated term is looked for without case unless the entry is case-sensitive (a term may
    start a sentence in the target); a kept term follows the entry's own case rule.
    """
    found = {id(entry): entry for _, _, entry in find_terms(source_text, entries)}
    return tuple(
        entry
        for entry in found.values()
        if not _pattern(entry.rendering, case_sensitive=entry.case_sensitive).search(translation)
    )
