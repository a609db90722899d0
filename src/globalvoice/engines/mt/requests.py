"""The rich translation request: context, a length budget, a glossary; answers are candidates.

`Translator.translate(texts, source=, target=)` stays the one call every engine answers. Next to
it, an engine may implement `CandidateTranslator`:

    translate_candidates(requests: Sequence[TranslationRequest], *, n_best: int = 1)
        -> list[list[Candidate]]

- One list per request, in request order. Each list holds 1..n_best candidates with distinct
  texts, best first: candidates that pass the glossary post-check before those that do not, then
  by the engine's own `score` (higher is better; scores compare only within one request's list
  from one engine). Engines without n-best return one candidate.
- `context_before`/`context_after` are neighbouring sentences in the source language, given for
  meaning only: they are never translated into the answer. Engines that cannot use context
  (sentence-level NMT) ignore them.
- `max_chars` is the length budget of the translation in characters, `min_chars` the shortest
  wanted (isometric translation: a line much shorter than its source leaves the speaker's time
  silent). The LLM engine asks for them; NMT engines with a search widen it when no candidate
  lands within them; the caller picks the candidate that does (`fits`).
- `glossary` holds the entries for this request's language pair (see domain.glossary). Engines
  that take instructions (LLM) put them in the prompt; the others get them enforced by
  `engines.mt.glossary.GlossaryEnforcer`. Either way `Candidate.missing_terms` reports the terms
  the post-check did not find.
- A line that failed is not an exception: its list holds one candidate with `error` set, empty
  `text` and a score of -inf, so one bad line never loses the others. A whole call still raises
  for what no line can survive: ConfigError (wrong model, bad key), RetryableError (endpoint down).
- Plain `Translator`s join in through `SingleCandidate`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from globalvoice.domain.glossary import GlossaryEntry
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.protocol import Translator

__all__ = [
    "Candidate",
    "CandidateTranslator",
    "MtCapabilities",
    "SingleCandidate",
    "TranslationRequest",
    "best_and_shorter",
    "failed_candidate",
    "fits",
    "group_by_pair",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationRequest:
    """One sentence (or line) to translate, with what helps translate it well."""

    text: str
    source: str
    target: str
    context_before: tuple[str, ...] = ()
    context_after: tuple[str, ...] = ()
    max_chars: int | None = None
    min_chars: int | None = None
    glossary: tuple[GlossaryEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.max_chars is not None and self.max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {self.max_chars}")
        if self.min_chars is not None and not 0 <= self.min_chars <= (
            self.max_chars or self.min_chars
        ):
            raise ValueError(
                f"min_chars must be between 0 and max_chars ({self.max_chars}), "
                f"got {self.min_chars}"
            )

    def wants_length(self, chars: int) -> bool:
        """True when a translation of `chars` characters is within the request's bounds."""
        return (self.max_chars is None or chars <= self.max_chars) and (
            self.min_chars is None or chars >= self.min_chars
        )

    @property
    def pair(self) -> LanguagePair:
        return (self.source, self.target)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One translation of a request. `engine` is the producing engine's fingerprint."""

    text: str
    score: float
    engine: str
    missing_terms: tuple[GlossaryEntry, ...] = ()
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def failed_candidate(engine: str, error: str) -> Candidate:
    """The single candidate of a line the engine could not translate."""
    return Candidate(text="", score=-math.inf, engine=engine, error=error)


def best_and_shorter(ranked: Sequence[Candidate], n_best: int) -> list[Candidate]:
    """The first `n_best` of `ranked` (best first), then up to n_best // 2 of the rest that are
    shorter than all of those: an engine's condensed translations (engines.mt.paraphrase) score
    below its n best but are what a line too long for its time needs."""
    n = max(n_best, 1)
    best = list(ranked[:n])
    lengths = [len(c.text) for c in best if not c.failed]
    if not lengths:
        return best
    shortest = min(lengths)
    return best + [c for c in ranked[n:] if not c.failed and len(c.text) < shortest][: n // 2]


def fits(candidate: Candidate, request: TranslationRequest) -> bool:
    """True when the candidate succeeded and its length is within the request's bounds."""
    return not candidate.failed and request.wants_length(len(candidate.text))


@dataclass(frozen=True, slots=True, kw_only=True)
class MtCapabilities:
    """What an engine does with the optional parts of a request (so callers can plan)."""

    n_best: bool = False
    context: bool = False
    length_budget: bool = False
    glossary: bool = False  # True when the engine enforces or instructs glossary terms itself


@runtime_checkable
class CandidateTranslator(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    @property
    def capabilities(self) -> MtCapabilities: ...

    def pairs(self) -> frozenset[LanguagePair]:
        """The (source, target) pairs this engine translates, as ISO 639-1 codes."""
        ...

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        """One non-empty list per request, same order, best first (see the module docstring).

        Raises UnsupportedLanguage for a pair outside `pairs()`, ConfigError when the engine is
        misconfigured, RetryableError when it is unreachable.
        """
        ...


@dataclass(frozen=True, slots=True)
class SingleCandidate:
    """Any `Translator` as a `CandidateTranslator`: one candidate per request, score 0."""

    translator: Translator
    capabilities: MtCapabilities = field(default_factory=MtCapabilities)

    @property
    def info(self) -> EngineInfo:
        return self.translator.info

    def pairs(self) -> frozenset[LanguagePair]:
        return self.translator.pairs()

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        del n_best  # a plain translator has one answer
        out: list[list[Candidate]] = [[] for _ in requests]
        engine = self.translator.info.fingerprint
        for (source, target), indexes in group_by_pair(requests).items():
            texts = self.translator.translate(
                [requests[i].text for i in indexes], source=source, target=target
            )
            for i, text in zip(indexes, texts, strict=True):
                out[i] = [Candidate(text=text, score=0.0, engine=engine)]
        return out


def group_by_pair(requests: Sequence[TranslationRequest]) -> dict[LanguagePair, list[int]]:
    """Request indexes grouped by language pair, in first-seen order."""
    groups: dict[LanguagePair, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.pair, []).append(index)
    return groups
