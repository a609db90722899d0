"""Every artifact cache key: a stage's derivation key from what its output depends on.

Bump a stage's VERSION whenever its output, or the JSON shape its payload is cached in, changes:
an old entry is then never read again (`storage.cache` also reads a payload that no longer
validates as a miss, but a shape can change and still validate)."""

from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.domain.artifacts import derive_key
from globalvoice.engines.mt.requests import TranslationRequest

__all__ = [
    "FittedTakeKey",
    "LipsyncKey",
    "LipsyncKeyLine",
    "diarization_key",
    "fitted_take_key",
    "lipsync_key",
    "profile_key",
    "sentence_translation_key",
    "separation_key",
    "transcript_key",
    "voice_reference_key",
]

TRANSCRIBE_VERSION = 2
DIARIZE_VERSION = 1
SENTENCE_TRANSLATE_VERSION = 2  # 2: shorter paraphrased candidates kept after the n best
VOICE_BANK_VERSION = 1
PROFILE_VERSION = 2  # 2: the profile as its TypeAdapter writes it (voice: {"weights": pairs})
# A fitted take is a function of the line's text, voice, engine, duration, the silence it may
# borrow and the fitting chain, and of how it is made. Version 1 (synthesize and fit keys):
# synthesize at speed 1.0, again at the needed speed when too long, then stretch. Version 2:
# predict the duration, synthesize once at the chosen speed, stretch the remainder. Version 3:
# the explicit chain (FitPolicy.steps): TTS rate to the comfortable tempo, borrowed silence up to
# a limit, stretch to the cap, a shorter re-translation; the steps used are stored with the take.
# Version 4: a take the TTS made shorter than planned is slowed back to its plan when it would
# otherwise pass the comfortable tempo. Version 5: a re-translation is also wanted when a line
# fits only past the comfortable tempo; it picks the best-scored comfortable candidate first;
# sentences over several lines are re-translated whole (sentence_retranslations). Version 6: the
# 'pauses' step (the take's own long pauses shortened before any time-stretch). Version 7: that
# step also takes out what would read a sped-up take's words past the comfortable tempo.
SYNTHESIZE_FIT_VERSION = 7
SEPARATE_VERSION = 1
LIPSYNC_VERSION = 1


def separation_key(input_digest: str, engine: str, spans_ms: Sequence[tuple[int, int]]) -> str:
    """The dialogue and background stems: the engine's split inside the dialogue spans."""
    return derive_key(
        "separate",
        SEPARATE_VERSION,
        input=input_digest,
        engine=engine,
        spans=[list(span) for span in spans_ms],
    )


def transcript_key(input_digest: str, stt: str, language: str | None, multilingual: bool) -> str:
    return derive_key(
        "transcribe",
        TRANSCRIBE_VERSION,
        input=input_digest,
        engine=stt,
        language=language or "auto",
        multilingual=multilingual,
    )


def diarization_key(input_digest: str, vad: str, embedder: str, speakers: int | None) -> str:
    return derive_key(
        "diarize",
        DIARIZE_VERSION,
        input=input_digest,
        vad=vad,
        engine=embedder,
        speakers=speakers if speakers is not None else "auto",
    )


def sentence_translation_key(request: TranslationRequest, engine: str, n_best: int) -> str:
    """A sentence's candidate translations, with the context and glossary it was asked with."""
    return derive_key(
        "translate_sentence",
        SENTENCE_TRANSLATE_VERSION,
        text=request.text,
        source=request.source,
        target=request.target,
        before=list(request.context_before),
        after=list(request.context_after),
        glossary=[repr(e) for e in request.glossary],
        engine=engine,
        n_best=n_best,
    )


def voice_reference_key(voice: str, tts: str, texts: Sequence[str], language: str) -> str:
    """A voice's reading of the voice bank's reference `texts` (`voice`: a blend's spec)."""
    return derive_key(
        "voice_reference",
        VOICE_BANK_VERSION,
        texts=list(texts),
        language=language,
        voice=voice,
        engine=tts,
    )


def profile_key(
    input_digest: str,
    speaker_id: str,
    spans: Sequence[tuple[int, int]],
    engines: tuple[str, str],
    policy: str,
    languages: Sequence[str] = (),
) -> str:
    """A speaker's voice profile. `engines`: the TTS's and the embedder's fingerprints;
    `policy`: the search policy's repr."""
    tts, embedder = engines
    return derive_key(
        "voice_profile",
        PROFILE_VERSION,
        input=input_digest,
        speaker=speaker_id,
        spans=[list(span) for span in spans],
        tts=tts,
        embedder=embedder,
        policy=policy,
        languages=sorted(languages),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedTakeKey:
    """What a line's fitted take depends on (see `fitted_take_key`)."""

    text: str
    language: str
    voice: str
    tts: str
    line_ms: int
    borrowable_ms: int
    policy: str
    profile: str | None = None
    candidate: int | None = None
    alternatives: Sequence[tuple[int, str]] = ()
    retranslated: int | None = None


def fitted_take_key(parts: FittedTakeKey) -> str:
    """The cache key of a line's fitted take (audio + fit metadata). `borrowable_ms`: the
    silence after the line the chain may take; `policy`: FitPolicy.fingerprint; `profile`: the
    voice profile's fingerprint when the take is matched to its speaker (None: a plain voice);
    `candidate` and `alternatives`: the chosen candidate's index and the candidates a
    re-translation may pick from, or the sentence's re-translation `text` already is (each
    changes the take or its record)."""
    matched = {} if parts.profile is None else {"profile": parts.profile}
    sentence = {} if parts.retranslated is None else {"retranslated": parts.retranslated}
    chosen = {} if parts.candidate is None else {"candidate": parts.candidate}
    others = {"alternatives": [[k, t] for k, t in parts.alternatives]} if parts.alternatives else {}
    return derive_key(
        "synthesize_fit",
        SYNTHESIZE_FIT_VERSION,
        text=parts.text,
        language=parts.language,
        voice=parts.voice,
        engine=parts.tts,
        line_ms=parts.line_ms,
        borrowable_ms=parts.borrowable_ms,
        policy=parts.policy,
        stretch="rubberband-ffmpeg",
        **matched,
        **chosen,
        **others,
        **sentence,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncKeyLine:
    """A dubbed line as the lipsync stage sees it: its spans (ms) and its phonemes as
    (phoneme, start_ms, end_ms), times rounded to whole ms."""

    line_id: str
    source_ms: tuple[int, int]
    dub_ms: tuple[int, int]
    phonemes: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LipsyncKey:
    """What a target's redrawn picture depends on (see `lipsync_key`)."""

    input_digest: str
    engine: str  # the mouth engine's fingerprint
    face: str  # the face landmarker's fingerprint
    dub_speech: str  # the dubbed speech track's SHA-256
    source_dialogue: str  # the SHA-256 of what the speaking face is found by
    lines: Sequence[LipsyncKeyLine]
    policy: str  # the face policy's repr
    block_frames: int  # how many frames a stored block holds


def lipsync_key(parts: LipsyncKey) -> str:
    """The key of a target's redrawn video and its report; its blocks are stored under
    `<key>-block-<index>`, so a run that stopped part-way resumes after the last stored one."""
    return derive_key(
        "lipsync",
        LIPSYNC_VERSION,
        input=parts.input_digest,
        engine=parts.engine,
        face=parts.face,
        speech=parts.dub_speech,
        dialogue=parts.source_dialogue,
        lines=[
            [
                line.line_id,
                list(line.source_ms),
                list(line.dub_ms),
                [list(p) for p in line.phonemes],
            ]
            for line in parts.lines
        ],
        policy=parts.policy,
        block_frames=parts.block_frames,
    )
