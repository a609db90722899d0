"""The voice bank: candidate voices reading the same reference sentences, each take with its
voice statistics and its WORLD analysis, read once and shared by every speaker of a dub.

A shipped voice's take depends only on the TTS engine, so it is kept per process and, given a
durable store, across dubs; a blend is made for one speaker and kept with the dub's artifacts.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pydantic import TypeAdapter

from globalvoice.domain.audio import Pcm
from globalvoice.domain.voices import VoiceBlend
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pcm import resample
from globalvoice.media.voice_dsp import VoiceStats, WorldAnalysis, analyse, voice_stats
from globalvoice.pipeline.analyse.ingest import SPEECH_RATE_HZ
from globalvoice.pipeline.keys import voice_reference_key
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "PACE_TEXTS",
    "REFERENCE_LANGUAGE",
    "REFERENCE_TEXTS",
    "SCORING_MS",
    "VoiceBank",
]

# How much of a take the search scores: the first sentence, enough for a stable d-vector
# (bench_voices: the same similarity gain as the whole take at half the scoring time).
SCORING_MS = 6000
REFERENCE_TEXTS = (
    "The quick brown fox jumps over the lazy dog, and then it runs back into the quiet forest.",
    "Please remember to save your work before you close the application.",
)
REFERENCE_LANGUAGE = "en"
# A voice's pace: how long it takes to say one sentence in each language it speaks (predicted,
# not synthesized). Every extra second must be squeezed into the speaker's slots: Kokoro's
# jf_gongitsune needs 25 % longer than jf_alpha in Spanish, and lines pushed to the tempo cap
# lose words.
PACE_TEXTS = {
    "en": "Our team spent three months testing the new engine in the mountains.",
    "es": "Nuestro equipo pasó tres meses probando el nuevo motor en las montañas.",
    "fr": "Notre équipe a passé trois mois à tester le nouveau moteur dans les montagnes.",
    "it": "La nostra squadra ha passato tre mesi a provare il nuovo motore in montagna.",
    "pt": "A nossa equipe passou três meses testando o novo motor nas montanhas.",
}


# Reference takes by derivation key, shared by every VoiceBank of the process: they depend only
# on the TTS engine and the voice, so a worker (or a test session) reads them once even when its
# artifact cache is fresh or disabled. Shipped voices only: a blend belongs to one speaker.
_SHARED_TAKES: dict[str, "_Take"] = {}
_SHARED_TAKES_MAX = 64
_STATS = TypeAdapter(VoiceStats)


@dataclass(frozen=True, slots=True)
class _Take:
    pcm: Pcm  # the reference sentences in the voice, at the TTS's rate
    stats: VoiceStats
    scoring: WorldAnalysis | None  # its first SCORING_MS, analysed at the embedder's 16 kHz


class VoiceBank:
    """Reference takes of candidate voices, read once and shared by every speaker.

    `cache`: the dub's artifact cache; `store`: a durable one for the shipped voices' takes,
    which depend only on the TTS engine (derived model data, kept even when the artifact cache
    is off)."""

    def __init__(
        self,
        tts: Synthesizer,
        cache: ArtifactCache | None = None,
        store: ArtifactCache | None = None,
    ) -> None:
        self.tts = tts
        self._cache, self._store = cache, store
        self._takes: dict[str, _Take] = {}
        self._paces: dict[tuple[str, tuple[str, ...]], int] = {}

    def pace(self, blend: VoiceBlend, languages: Sequence[str] = ()) -> int:
        """Predicted ms to say `PACE_TEXTS` in `languages` (default: every language the TTS
        speaks that has a pace text)."""
        spoken = [lang for lang in (languages or self.tts.languages()) if lang in PACE_TEXTS]
        if not spoken:
            spoken = [lang for lang in self.tts.languages() if lang in PACE_TEXTS]
        key = (blend.spec, tuple(spoken))
        if key not in self._paces:
            self._paces[key] = sum(
                self.tts.estimate_ms(PACE_TEXTS[lang], voice=blend.spec, language=lang)
                for lang in spoken
            )
        return max(1, self._paces[key])

    def take(self, blend: VoiceBlend) -> tuple[Pcm, VoiceStats]:
        found = self._take(blend)
        return found.pcm, found.stats

    def scoring_analysis(self, blend: VoiceBlend) -> WorldAnalysis | None:
        """The WORLD analysis of the take's first `SCORING_MS` at 16 kHz: the search
        re-synthesizes it under each match it scores (the embedder hears 16 kHz, so nothing
        above 8 kHz is lost to the score)."""
        return self._take(blend).scoring

    def prepare(self, blends: Sequence[VoiceBlend]) -> None:
        """Read the takes of `blends` not read yet, `tts.parallel_lines` at once (their WORLD
        analyses dominate once the takes are stored)."""
        missing = list(dict.fromkeys(b.spec for b in blends if b.spec not in self._takes))
        workers = max(1, min(self.tts.parallel_lines, len(missing)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voice-bank") as pool:
            self._takes.update(zip(missing, pool.map(self._read, missing), strict=True))

    def _take(self, blend: VoiceBlend) -> _Take:
        spec = blend.spec
        if spec not in self._takes:
            self._takes[spec] = self._read(spec)
        return self._takes[spec]

    def stored(self) -> int:
        """How many shipped voices' takes the durable store holds (none without a store)."""
        if self._store is None:
            return 0
        return sum(self._store.get_pcm(self._key(name)) is not None for name in self.tts.voices())

    def _key(self, spec: str) -> str:
        return voice_reference_key(
            spec, self.tts.info.fingerprint, REFERENCE_TEXTS, REFERENCE_LANGUAGE
        )

    def _read(self, spec: str) -> _Take:
        key = self._key(spec)
        shared = _SHARED_TAKES.get(key)
        if shared is not None:
            return shared
        shipped = spec in self.tts.voices()
        places = (self._store, self._cache) if shipped else (self._cache,)  # a blend: the dub's
        caches = [c for c in places if c is not None]
        pcm, stats, missed = None, None, []
        for cache in caches:
            pcm = cache.get_pcm(key)
            if pcm is not None:
                stats = cache.get_model(key, _STATS)
                break
            missed.append(cache)
        if pcm is None:
            workers = max(1, min(self.tts.parallel_lines, len(REFERENCE_TEXTS)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voice-bank") as pool:
                parts = list(
                    pool.map(
                        lambda text: self.tts.synthesize(
                            text, voice=spec, language=REFERENCE_LANGUAGE
                        ),
                        REFERENCE_TEXTS,
                    )
                )
            samples = np.concatenate([p.samples for p in parts]).astype(np.float32)
            pcm = Pcm(samples=samples, rate_hz=parts[0].rate_hz)
        stats = stats or voice_stats(pcm)
        for cache in missed:
            cache.put_pcm(key, pcm)
            cache.put_model(key, stats, _STATS)
        read = _Take(pcm, stats, analyse(_at_16k(pcm.slice_ms(0, SCORING_MS))))
        if shipped and len(_SHARED_TAKES) < _SHARED_TAKES_MAX:
            _SHARED_TAKES[key] = read
        return read


def _at_16k(pcm: Pcm) -> Pcm:
    return pcm if pcm.rate_hz == SPEECH_RATE_HZ else resample(pcm, SPEECH_RATE_HZ)
