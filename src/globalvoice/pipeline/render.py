"""Render one target language: translate, synthesize and fit every line, reusing cached work."""

from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.render import FitOutcome, FittedTake, Take
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.pipeline.cast import SpeakerVoice
from globalvoice.pipeline.fit import FitPolicy, available_ms, fit_take
from globalvoice.pipeline.keys import fit_key, synth_key, translation_key
from globalvoice.pipeline.translate import translate_lines
from globalvoice.storage.cache import ArtifactCache

__all__ = ["LineRender", "render_language", "translate_cached"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LineRender:
    translated: TranslatedLine
    take: FittedTake | None  # None when the line keeps its original audio


def translate_cached(
    lines: Sequence[Line],
    target: str,
    *,
    translator: Translator,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[TranslatedLine, ...]:
    engine = translator.info.fingerprint
    found: dict[str, TranslatedLine] = {}
    missing: list[Line] = []
    for line in lines:
        cached = cache.get_json(translation_key(line.text, line.language, target, engine))
        if cached is None:
            missing.append(line)
        else:
            found[line.id] = TranslatedLine(line=line, language=target, **cached)
    for item in translate_lines(missing, target, translator=translator, progress=progress):
        found[item.line.id] = item
        if item.is_dubbed:
            cache.put_json(
                translation_key(item.line.text, item.line.language, target, engine),
                {"text": item.text, "engine": item.engine, "is_dubbed": True, "note": item.note},
            )
    progress(StageProgress(stage="translate", done=len(lines), total=len(lines), language=target))
    return tuple(found[line.id] for line in lines)


def _natural_take(
    item: TranslatedLine, voice: str, *, tts: Synthesizer, cache: ArtifactCache
) -> tuple[Take, str]:
    key = synth_key(item.text, item.language, voice, tts.info.fingerprint, 1000)
    audio = cache.get_pcm(key)
    if audio is None:
        audio = tts.synthesize(item.text, voice=voice, language=item.language)
        cache.put_pcm(key, audio)
    return Take(line_id=item.line.id, audio=audio, speed_permille=1000, voice=voice), key


def _fitted(
    item: TranslatedLine,
    natural: Take,
    natural_key: str,
    slot_ms: int,
    *,
    tts: Synthesizer,
    policy: FitPolicy,
    cache: ArtifactCache,
) -> FittedTake:
    key = fit_key(natural_key, slot_ms, policy.max_tempo_permille, "rubberband-ffmpeg")
    meta, audio = cache.get_json(key), cache.get_pcm(key)
    if meta is not None and audio is not None:
        return FittedTake(
            line_id=item.line.id,
            audio=audio,
            start_ms=item.line.start_ms,
            slot_ms=slot_ms,
            natural_ms=meta["natural_ms"],
            tempo=meta["tempo"],
            tts_speed_permille=meta["tts_speed_permille"],
            outcome=FitOutcome(meta["outcome"]),
        )
    take = fit_take(
        natural, item.line, item.text, item.language, slot_ms=slot_ms, tts=tts, policy=policy
    )
    cache.put_pcm(key, take.audio)
    cache.put_json(
        key,
        {
            "natural_ms": take.natural_ms,
            "tempo": take.tempo,
            "tts_speed_permille": take.tts_speed_permille,
            "outcome": take.outcome.value,
        },
    )
    return take


def render_language(
    translated: Sequence[TranslatedLine],
    *,
    voices: dict[str, SpeakerVoice],
    tts: Synthesizer,
    policy: FitPolicy,
    media_end_ms: int,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[LineRender, ...]:
    """Synthesize and fit each dubbed line at its source line's absolute start (no drift)."""
    renders = []
    starts = [item.line.start_ms for item in translated]
    for index, item in enumerate(translated):
        if not item.is_dubbed or not item.text.strip():
            renders.append(LineRender(translated=item, take=None))
            continue
        next_start = starts[index + 1] if index + 1 < len(starts) else None
        slot_ms = available_ms(item.line, next_start, media_end_ms, policy)
        natural, natural_key = _natural_take(
            item, voices[item.line.speaker_id].voice, tts=tts, cache=cache
        )
        take = _fitted(item, natural, natural_key, slot_ms, tts=tts, policy=policy, cache=cache)
        renders.append(LineRender(translated=item, take=take))
        progress(
            StageProgress(
                stage="synthesize", done=index + 1, total=len(translated), language=item.language
            )
        )
    language = translated[0].language if translated else None
    progress(
        StageProgress(
            stage="synthesize", done=len(translated), total=len(translated), language=language
        )
    )
    return tuple(renders)
