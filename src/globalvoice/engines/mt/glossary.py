"""Glossary enforcement for engines that take no instructions (Bergamot, Apertium, CTranslate2).

Each glossary term found in a line is replaced by a placeholder the engine copies through
untouched, the line is translated, and each placeholder is replaced by the term's rendering (the
target term, or the source term as written when it is kept). The engine's own translation of the
unprotected line is tried alongside and preferred when it already passes the post-check, since a
placeholder hides the term's gender and number from the engine ("o dublagem"). Every candidate is
post-checked: terms that did not make it are listed in `Candidate.missing_terms`.

The placeholder is an upper-case letter code plus a number ("ZXQ1"). On 30 NTREX sentences with
two placeholders each, it survived every line through Bergamot en<->pt, Apertium en<->es, es<->pt,
es->fr, es->it and the pivoted en->es/en->fr; bracketed numbers ("[1]") did too, bare numbers were
duplicated by Bergamot pt->en, and XML-like tags ("<x1/>") were mangled by Bergamot.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from globalvoice.domain.glossary import GlossaryEntry, find_terms, missing_terms
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.requests import (
    Candidate,
    CandidateTranslator,
    MtCapabilities,
    TranslationRequest,
    best_and_shorter,
)

__all__ = ["GlossaryEnforcer", "Protected", "protect", "restore"]

_PREFIXES = ("ZXQ", "QXZ", "XQZ", "ZQX")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)[\"'«¿¡(\s]*$")


@dataclass(frozen=True, slots=True)
class Protected:
    """A line with its glossary terms replaced by placeholders, and how to put them back."""

    text: str
    prefix: str
    renderings: tuple[str, ...]  # placeholder n (1-based) -> what replaces it
    capitalised: tuple[bool, ...]  # placeholder n stood for a capitalised source word


def protect(text: str, entries: Sequence[GlossaryEntry]) -> Protected:
    """Replace every glossary term in `text` by a numbered placeholder."""
    prefix = next((p for p in _PREFIXES if p.casefold() not in text.casefold()), _PREFIXES[0])
    parts: list[str] = []
    renderings: list[str] = []
    capitalised: list[bool] = []
    last = 0
    for start, end, entry in find_terms(text, entries):
        surface = text[start:end]
        renderings.append(surface if entry.keeps else entry.rendering)
        capitalised.append(surface[:1].isupper())
        parts += [text[last:start], f"{prefix}{len(renderings)}"]
        last = end
    parts.append(text[last:])
    return Protected("".join(parts), prefix, tuple(renderings), tuple(capitalised))


def restore(translation: str, protected: Protected) -> str:
    """Put the terms back. A placeholder at a sentence start takes a capital letter when the
    source word had one; placeholders the engine invented are left as they are."""

    def substitute(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        if not 0 <= index < len(protected.renderings):
            return match.group(0)
        rendering = protected.renderings[index]
        before = match.string[: match.start()]
        if protected.capitalised[index] and _SENTENCE_START.search(before):
            rendering = rendering[:1].upper() + rendering[1:]
        return rendering

    pattern = re.compile(rf"(?<![^\W\d_]){protected.prefix}(\d+)(?!\d)", re.IGNORECASE)
    return pattern.sub(substitute, translation)


class GlossaryEnforcer:
    """Wraps a `CandidateTranslator` that takes no instructions and enforces each request's
    glossary. A line with glossary terms is translated twice in the same batch, as it is and with
    placeholders: the engine's own wording keeps articles and agreement right ("a dublagem"), so
    its candidates come first when they pass the post-check; the placeholder candidates follow.
    Lists are ordered glossary-compliant first, then by score, and cut to `n_best` (and the
    shorter ones after them: `requests.best_and_shorter`)."""

    def __init__(self, inner: CandidateTranslator) -> None:
        self._inner = inner

    @property
    def info(self) -> EngineInfo:
        return self._inner.info

    @property
    def capabilities(self) -> MtCapabilities:
        return replace(self._inner.capabilities, glossary=True)

    def pairs(self) -> frozenset[LanguagePair]:
        return self._inner.pairs()

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        guards = [protect(r.text, r.glossary) for r in requests]
        plain = [replace(r, glossary=()) for r in requests]
        extra = [i for i, guard in enumerate(guards) if guard.renderings]
        protected = [replace(plain[i], text=guards[i].text) for i in extra]
        results = self._inner.translate_candidates([*plain, *protected], n_best=n_best)
        out = [
            [_checked(c, request) for c in candidates]
            for request, candidates in zip(requests, results[: len(requests)], strict=True)
        ]
        for i, candidates in zip(extra, results[len(requests) :], strict=True):
            out[i] += [_checked(_restored(c, guards[i]), requests[i]) for c in candidates]
        return [_ranked(candidates, n_best) for candidates in out]


def _restored(candidate: Candidate, guard: Protected) -> Candidate:
    return (
        candidate if candidate.failed else replace(candidate, text=restore(candidate.text, guard))
    )


def _checked(candidate: Candidate, request: TranslationRequest) -> Candidate:
    if candidate.failed:
        return candidate
    return replace(
        candidate, missing_terms=missing_terms(request.text, candidate.text, request.glossary)
    )


def _ranked(candidates: list[Candidate], n_best: int) -> list[Candidate]:
    """Distinct texts, compliant first, then by score; a failed candidate only if nothing else."""
    good = [c for c in candidates if not c.failed]
    if not good:
        return candidates[:1]
    best: dict[str, Candidate] = {}
    for candidate in sorted(good, key=lambda c: (bool(c.missing_terms), -c.score)):
        best.setdefault(candidate.text, candidate)
    return best_and_shorter(list(best.values()), n_best)
