"""Voice profiles: for each speaker, the TTS voice that sounds most like them, and the DSP
matching that brings it closer to their pitch and timbre. Built once per speaker per video and
used for every line of that speaker, so the voice never drifts between lines.

The choice is measured, not guessed: every candidate voice reads the same reference sentences,
its take is matched toward the speaker (`media.voice_dsp`), and the speaker embedder scores it
against the speaker's own reference audio. Candidates are the shipped voices, then convex blends
of the best of them (`SearchPolicy`): a small, deterministic search with a fixed budget of
syntheses per speaker. A shipped voice's reference takes do not depend on the speaker and are
kept by the voice bank (`pipeline.voices.bank`), so only the blends cost synthesis for each new
speaker; each take's WORLD analysis is made once and re-synthesized under every match scored.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from globalvoice.domain.audio import Pcm
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization
from globalvoice.domain.voices import DspMatch, VoiceBlend, VoiceProfile
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.pcm import levelled, resample, rms
from globalvoice.media.voice_dsp import (
    VoiceStats,
    apply_match,
    fit_match,
    resynthesize,
    voice_stats,
)
from globalvoice.pipeline.analyse.ingest import SPEECH_RATE_HZ
from globalvoice.pipeline.keys import profile_key
from globalvoice.pipeline.voices.bank import VoiceBank
from globalvoice.pipeline.voices.references import ReferencePolicy, reference_spans
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "ProfileTools",
    "SearchPolicy",
    "VoiceBank",
    "build_profile",
    "build_profiles",
    "embed_voice",
    "speaker_embedding",
]

_EMBED_RMS_DBFS = -20.0
_PROFILE = TypeAdapter(VoiceProfile)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPolicy:
    """The search for a speaker's voice, every step scored by the speaker embedder.

    1. Each shipped voice, matched with its formant-based warp and with none.
    2. The `top` best voices: the other `warps`.
    3. `blends`: 50/50 mixes of pairs among the `top` voices (one synthesis of the reference
       sentences each, the only per-speaker synthesis), at their parents' warps.

    A candidate's score is its cosine to the speaker less `pace_weight` times the share of time
    it needs beyond the fastest shipped voice to say `PACE_TEXTS` in the dub's target languages
    (a slow voice pushes every line toward the tempo cap: with a Portuguese target, a voice 20 %
    slower in Portuguese costs 0.30). Weight 1.5, measured (bench_voices, five LibriSpeech
    readers en->es): similarity gain over the fixed voice 0.125 (0.131 at weight 0.5), dubbed
    WER 10.9 % (baseline 13.4 %); at 0.5 the LJSpeech minute dubbed to pt got a slower blend and
    two lines flagged over the 1.3x cap, at 1.5 none.
    """

    top: int = 2
    warps: tuple[float, ...] = (0.9, 1.0, 1.1, 1.2)
    blends: int = 1
    pace_weight: float = 1.5
    references: ReferencePolicy = field(default_factory=ReferencePolicy)


@dataclass(frozen=True, slots=True)
class _Scored:
    blend: VoiceBlend
    warp: float
    similarity: float
    score: float  # similarity less the pace penalty


def _levelled_16k(pcm: Pcm, voiced: Pcm | None = None) -> Pcm:
    """`pcm` at 16 kHz, scaled so that `voiced` (default: all of it) is at -20 dBFS RMS."""
    audio = pcm if pcm.rate_hz == SPEECH_RATE_HZ else resample(pcm, SPEECH_RATE_HZ)
    level = rms([(voiced if voiced is not None else pcm).samples])
    scaled = levelled(audio.samples, level=level, target_dbfs=_EMBED_RMS_DBFS)
    return Pcm(samples=scaled, rate_hz=SPEECH_RATE_HZ)


def speaker_embedding(
    audio: Pcm, spans: Sequence[tuple[int, int]], embedder: SpeakerEmbedder
) -> npt.NDArray[np.float32]:
    """One unit vector for the speaker heard in `spans`: the duration-weighted mean of the
    spans' embeddings, the speech first brought to -20 dBFS RMS (as diarization does)."""
    vectors = embedder.embed_spans(_levelled_16k(audio, _joined(audio, spans)), list(spans))
    weights = np.array([end - start for start, end in spans], dtype=np.float64)
    mean = (vectors * weights[:, None]).sum(axis=0)
    unit: npt.NDArray[np.float32] = (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
    return unit


def embed_voice(pcm: Pcm, embedder: SpeakerEmbedder) -> npt.NDArray[np.float32]:
    """One embedding of all of `pcm` (any rate), levelled to -20 dBFS first."""
    audio = _levelled_16k(pcm)
    vector: npt.NDArray[np.float32] = embedder.embed_spans(audio, [(0, audio.duration_ms)])[0]
    return vector


def _joined(audio: Pcm, spans: Sequence[tuple[int, int]]) -> Pcm:
    parts = [audio.slice_ms(start, end).samples for start, end in spans]
    return Pcm(samples=np.concatenate(parts).astype(np.float32), rate_hz=audio.rate_hz)


class _Search:
    def __init__(
        self,
        target: npt.NDArray[np.float32],
        stats: VoiceStats,
        bank: VoiceBank,
        embedder: SpeakerEmbedder,
        pace_weight: float,
        languages: Sequence[str] = (),
    ) -> None:
        self.target, self.stats, self.bank, self.embedder = target, stats, bank, embedder
        self.scored: dict[tuple[str, float], _Scored] = {}
        self.pace_weight, self.languages = pace_weight, tuple(languages)
        self.fastest = min(bank.pace(VoiceBlend.single(n), languages) for n in bank.tts.voices())

    def score(self, candidates: Sequence[tuple[VoiceBlend, float | None]]) -> None:
        """Score each (voice, warp) not scored yet; `tts.parallel_lines` at once (the WORLD
        re-synthesis and the embedder release the GIL). Takes and paces are read first, in
        this thread: the bank is not shared across threads."""
        todo: dict[tuple[str, float], tuple[VoiceBlend, DspMatch]] = {}
        self.bank.prepare([blend for blend, _ in candidates])
        for blend, warp in candidates:
            _, stats = self.bank.take(blend)
            self.bank.pace(blend, self.languages)
            match = fit_match(self.stats, stats, warp=warp)
            key = (blend.spec, match.formant_warp)
            if key not in self.scored:
                todo[key] = (blend, match)
        jobs = list(todo.items())
        workers = max(1, min(self.bank.tts.parallel_lines, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voice-search") as pool:
            similarities = list(pool.map(lambda job: self._similarity(*job[1]), jobs))
        for (key, (blend, match)), similarity in zip(jobs, similarities, strict=True):
            slower = max(0.0, self.bank.pace(blend, self.languages) / self.fastest - 1)
            score = similarity - self.pace_weight * slower
            self.scored[key] = _Scored(blend, match.formant_warp, similarity, score)

    def _similarity(self, blend: VoiceBlend, match: DspMatch) -> float:
        analysis = self.bank.scoring_analysis(blend)
        if analysis is None:
            take, _ = self.bank.take(blend)
            return float(self.target @ embed_voice(apply_match(take, match), self.embedder))
        return float(self.target @ embed_voice(resynthesize(analysis, match), self.embedder))

    def best(self, blend: VoiceBlend | None = None) -> _Scored:
        pool = [s for s in self.scored.values() if blend is None or s.blend == blend]
        return max(pool, key=lambda s: (s.score, s.blend.spec, -s.warp))


def _search(search: _Search, policy: SearchPolicy) -> _Scored:
    shipped = [VoiceBlend.single(name) for name in search.bank.tts.voices()]
    search.score([(blend, warp) for blend in shipped for warp in (None, 1.0)])
    ranked = sorted(shipped, key=lambda b: -search.best(b).score)[: policy.top]
    search.score([(blend, warp) for blend in ranked for warp in policy.warps])
    pairs = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :]][: policy.blends]
    for a, b in pairs:
        mixed = VoiceBlend.of({a.spec: 0.5, b.spec: 0.5})
        search.score([(mixed, None), *((mixed, search.best(p).warp) for p in (a, b))])
    return search.best()


def build_profile(
    audio: Pcm,
    spans: Sequence[tuple[int, int]],
    *,
    speaker_id: str,
    bank: VoiceBank,
    embedder: SpeakerEmbedder,
    policy: SearchPolicy = SearchPolicy(),
    languages: Sequence[str] = (),
) -> VoiceProfile:
    """The profile of the speaker heard in `spans` of `audio` (16 kHz, source timeline), for
    a dub into `languages` (the voice's pace is weighed there; default: every language)."""
    if not spans:
        raise ValueError(f"no reference speech for {speaker_id}")
    embedding = speaker_embedding(audio, spans, embedder)
    stats = voice_stats(_joined(audio, spans))
    search = _Search(embedding, stats, bank, embedder, policy.pace_weight, languages)
    best = _search(search, policy)
    _, voice = bank.take(best.blend)
    return VoiceProfile(
        speaker_id=speaker_id,
        reference_spans_ms=tuple((int(a), int(b)) for a, b in spans),
        embedding=tuple(round(float(x), 6) for x in embedding),
        voice=best.blend,
        dsp=fit_match(search.stats, voice, warp=best.warp),
        similarity=round(best.similarity, 4),
        embedder=embedder.info.fingerprint,
        tts=bank.tts.info.fingerprint,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileTools:
    """What building profiles uses: the TTS whose voices are searched, the speaker embedder
    that scores them, the dub's cache, and `store`, where the shipped voices' reference takes
    are kept across dubs (None: in `cache`)."""

    tts: Synthesizer
    embedder: SpeakerEmbedder
    cache: ArtifactCache
    store: ArtifactCache | None = None


def build_profiles(
    audio: Pcm,
    lines: Sequence[Line],
    diarization: Diarization | None,
    *,
    input_digest: str,
    tools: ProfileTools,
    policy: SearchPolicy = SearchPolicy(),
    progress: ProgressSink = NO_PROGRESS,
    languages: Sequence[str] = (),
) -> dict[str, VoiceProfile]:
    """One profile per speaker with lines, cached by content (source, spans, engines, target
    languages)."""
    tts, embedder, cache = tools.tts, tools.embedder, tools.cache
    speakers = list(dict.fromkeys(line.speaker_id for line in lines))
    bank = VoiceBank(tts, cache, tools.store)
    profiles: dict[str, VoiceProfile] = {}
    for done, speaker in enumerate(speakers):
        spans = reference_spans(
            audio, speaker, lines=lines, diarization=diarization, policy=policy.references
        )
        if not spans:
            continue
        engines = (tts.info.fingerprint, embedder.info.fingerprint)
        key = profile_key(input_digest, speaker, spans, engines, repr(policy), languages)
        cached = cache.get_model(key, _PROFILE)
        if cached is not None:
            profiles[speaker] = cached
        else:
            profiles[speaker] = build_profile(
                audio,
                spans,
                speaker_id=speaker,
                bank=bank,
                embedder=embedder,
                policy=policy,
                languages=languages,
            )
            cache.put_model(key, profiles[speaker], _PROFILE)
        progress(StageProgress(stage="voices", done=done + 1, total=len(speakers)))
    return profiles
